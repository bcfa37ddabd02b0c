import type { Timers } from '../../client/src/index.js';
import type { WebSocketLike } from '../../client/src/types.js';

/** Timers on a virtual clock: `advance` runs what falls due, in order, in no real time. */
export class FakeTimers implements Timers {
  private time = 0;
  private nextId = 1;
  private readonly due = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.due.set(id, { at: this.time + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number);
  }

  /** The delays of the timers now pending, from now. */
  pending(): number[] {
    return [...this.due.values()].map((t) => t.at - this.time);
  }

  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      await flush();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.due)
        if (entry[1].at <= until && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.due.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
    }
    this.time = until;
    await flush();
  }
}

/** Lets promise callbacks (token(), resume answers) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

// biome-ignore lint/suspicious/noExplicitAny: frames are read field by field
type Frame = Record<string, any>;

/** A WebSocket the test drives: it records what the client sends and lets the test open, answer and close it. */
export class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  /** Whether a ping is answered with a pong at once. */
  static autoPong = true;
  /** Whether a fresh client's resume of its user stream is answered at once. */
  static autoResume = true;
  /** The user stream's latest seq that answer gives. */
  static mailboxLatest = 0;
  readonly sent: Frame[] = [];
  closed = false;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  static last(): FakeSocket {
    const socket = FakeSocket.all.at(-1);
    if (!socket) throw new Error('no socket was opened');
    return socket;
  }

  send(data: string): void {
    const frame = JSON.parse(data);
    this.sent.push(frame);
    if (frame.action === 'ping' && FakeSocket.autoPong) this.receive({ type: 'pong', id: frame.id, ts: 1 });
    // A fresh client's resume of its user stream alone (no position yet): a mailbox whose latest
    // seq is `mailboxLatest`, none of it kept.
    if (frame.action === 'resume' && frame.user === 0 && frame.rooms === undefined && FakeSocket.autoResume) {
      this.receive({
        type: 'ack',
        id: frame.id,
        ok: true,
        user: { seq: FakeSocket.mailboxLatest, recovered: true },
      });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.({ code: 1000 });
  }

  open(): void {
    this.onopen?.({});
  }

  receive(frame: Frame): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  /** The server closing the connection (1006: gone without a close frame; API Gateway's 1009: a frame too large). */
  drop(code = 1006): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.({ code });
  }

  /** The last frame sent with this action. */
  lastOf(action: string): Frame {
    const frame = this.sent.filter((f) => f.action === action).at(-1);
    if (!frame) throw new Error(`no ${action} frame sent; sent ${JSON.stringify(this.sent)}`);
    return frame;
  }

  /** Answers the last `history` request with a page of `room`'s messages `seqs` and its latest seq. */
  page(room: string, seqs: number[], latest: number, more = false): void {
    this.receive({
      type: 'history',
      id: this.lastOf('history').id,
      room,
      messages: seqs.map((seq) => message(room, seq)),
      seq: latest,
      more,
    });
  }

  /** Answers the last frame of this action with an ack carrying `fields`. */
  ack(action: string, fields: Frame = {}, type = 'ack'): void {
    this.receive({ type, id: this.lastOf(action).id, ok: true, ...fields });
  }
}

export function message(room: string | undefined, seq: number, data: unknown = seq): Frame {
  return {
    type: 'message',
    ...(room ? { room } : {}),
    event: 'chat',
    data,
    from: 'bob',
    messageId: `m${seq}`,
    seq,
    ts: seq,
  };
}
