import { Emitter } from './emitter.js';
import { RoomcastError } from './errors.js';
import {
  defaultStorage,
  loadPositions,
  type PositionStorage,
  type Positions,
  savePositions,
} from './storage.js';
import { StreamPosition } from './stream.js';
import { backoffDelay, realTimers, type Timers } from './timers.js';
import type {
  Ack,
  ClientState,
  HistoryOptions,
  HistoryPage,
  MessageFrame,
  MessageMeta,
  Outgoing,
  Pong,
  PresenceAnswer,
  PresenceEvent,
  PublishHandle,
  PublishOptions,
  RoomcastClientOptions,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';

// biome-ignore lint/suspicious/noExplicitAny: frames are read field by field
type Frame = Record<string, any>;

interface Request {
  frame: Frame;
  resolve(answer: Frame): void;
  reject(error: RoomcastError): void;
  /** Requests of the client itself (resume, gap fill, ping) are not queued again when their socket closes. */
  internal?: boolean;
  /** Times it went out; when it last went out, and when the last one that was lost with its socket did. */
  attempts?: number;
  sentAt?: number;
  lostSentAt?: number;
  /** It times out from when it was made, connected or not: every request but send, direct and emit. */
  due?: boolean;
  /** It waited for a connection (made while disconnected, or lost with one), so went out in a burst. */
  queued?: boolean;
  ws?: WebSocketLike;
  timer?: unknown;
}

const ANSWERS = new Set(['ack', 'pong', 'error', 'history', 'presence']);
const LOST = new Set(['TIMEOUT', 'CLOSED']);
/** What `resume` answers for a position past the stream's latest: the server's data was reset. */
const STALE = 'VALIDATION_ERROR';
/**
 * How long a send that went out again after a reconnect keeps retrying while the server says its
 * first attempt is still running (CONFLICT): a little over the server's 60 s before it takes over
 * an idempotency key whose first request died.
 */
const CONFLICT_RETRY_MS = 70_000;
/** The most rooms the server takes in one `resume` frame (more is a VALIDATION_ERROR). */
const RESUME_ROOMS = 50;
/** How many times a queued send, direct or emit goes out before a RATE_LIMITED answer fails it. */
const RATE_LIMITED_TRIES = 10;
/** The largest frame the contract takes (128 KiB); a larger one is refused before it goes out. */
const FRAME_MAX = 131_072;
/** API Gateway's frame quota: it closes the connection with 1009 on a larger client frame. */
const AWS_FRAME_MAX = 32_768;

/** A frame's size on the wire: its JSON in UTF-8 bytes. */
function sizeOf(frame: Frame): number {
  return new TextEncoder().encode(JSON.stringify(frame)).length;
}

function tooLarge(frame: Frame, limit: string): RoomcastError {
  return new RoomcastError(
    'PAYLOAD_TOO_LARGE',
    `the ${frame.action} frame is ${sizeOf(frame)} bytes: ${limit}`,
  );
}

/** The token's `sub`: its payload is base64url (unpadded) of UTF-8 JSON, so a user id like "józef" reads right. */
function subjectOf(token: string): string {
  try {
    const payload = (token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), '='));
    const json = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    return String(JSON.parse(json).sub ?? '');
  } catch {
    return '';
  }
}

function newKey(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** A room as seen by this client: membership, its stream position, handlers per event. */
export class Room {
  /** Whether this client wants to be a member (it re-joins after every reconnect). */
  joined = false;
  /** leave() was called: the room is not resumed and its messages are not delivered, until it is joined again. */
  leaving = false;
  /** @internal */
  readonly events = new Emitter();
  /** A join still waiting for its answer: a leave goes out only after it. */
  private joining: Promise<void> | undefined;

  /** @internal */
  constructor(
    private readonly client: RoomcastClient,
    readonly name: string,
    /** @internal */
    readonly stream: StreamPosition<MessageFrame>,
  ) {}

  /** Handlers per event; `presence` gets presence changes of `presence-` rooms. Returns a function that removes the handler. */
  on(event: 'presence', handler: (change: PresenceEvent) => void): () => void;
  on(event: string, handler: (data: unknown, meta: MessageMeta) => void): () => void;
  // biome-ignore lint/suspicious/noExplicitAny: overloads above give the types
  on(event: string, handler: (...args: any[]) => void): () => void {
    return this.events.on(event, handler);
  }

  /** Joins; when a position is known (seen before, or kept in storage) it resumes from it, so missed messages arrive first. */
  join(): Promise<void> {
    this.leaving = false;
    const joining = this.joinNow();
    this.joining = joining;
    const settled = () => {
      if (this.joining === joining) this.joining = undefined;
    };
    joining.then(settled, settled);
    return joining;
  }

  private async joinNow(): Promise<void> {
    const c = this.client;
    const position = this.stream.position;
    if (position !== undefined) {
      try {
        const ack = await c.request({ action: 'resume', rooms: { [this.name]: position } });
        const failed = ack.rooms?.[this.name]?.error;
        if (failed && failed !== STALE) throw new RoomcastError(failed, `cannot join room ${this.name}`);
        // A stale position (past the room's latest: the server's data was reset, as a restarted local
        // stack's is) is forgotten, also in storage, and the room is joined the plain way below.
        if (!c.resumed(ack).includes(this)) {
          this.joined = true;
          return;
        }
      } catch (error) {
        // A server without resume (contract section 6) is joined the plain way.
        if ((error as RoomcastError).code !== 'UNKNOWN_ACTION') throw error;
      }
    }
    // The room's latest seq before joining: anything after it is delivered live or filled from history.
    try {
      const page = (await c.request({ action: 'history', room: this.name, limit: 1 })) as HistoryPage;
      if (this.stream.position === undefined && typeof page.seq === 'number') this.stream.position = page.seq;
    } catch (error) {
      if (LOST.has((error as RoomcastError).code)) throw error;
    }
    await c.request({ action: 'join', room: this.name });
    this.joined = true;
  }

  /** Leaves; after a join still in flight (so the two cannot cross on the way, and the room stays left). */
  async leave(): Promise<void> {
    this.leaving = true;
    await this.joining?.catch(() => undefined);
    try {
      await this.client.request({ action: 'leave', room: this.name });
    } finally {
      this.joined = false;
    }
  }

  /** Sends to the other members. The handle's `key` names it in `client.on('outgoing')` (pending → sent | failed). */
  send(event: string, data: unknown, options?: PublishOptions): PublishHandle {
    return this.client.publish('send', { room: this.name, event, data }, options);
  }

  history(options: HistoryOptions = {}): Promise<HistoryPage> {
    return this.client.request({ action: 'history', room: this.name, ...options }) as Promise<HistoryPage>;
  }

  presence(): Promise<PresenceAnswer> {
    return this.client.request({ action: 'presence', room: this.name }) as Promise<PresenceAnswer>;
  }
}

/**
 * A roomcast connection that survives drops: it reconnects with backoff and a
 * fresh token, resumes rooms and the user stream, delivers stored messages once
 * and in order, pings when quiet, rolls over before API Gateway's 2-hour limit,
 * and queues requests while disconnected.
 */
export class RoomcastClient {
  private current: ClientState = 'idle';
  private readonly o: Required<Omit<RoomcastClientOptions, 'WebSocket' | 'storage'>>;
  private readonly WS: WebSocketConstructor;
  private readonly storage: PositionStorage;
  private readonly t: Timers;
  private readonly events = new Emitter();
  private readonly rooms = new Map<string, Room>();
  private readonly user = new StreamPosition<MessageFrame>();
  private readonly requests = new Map<string, Request>();
  private readonly sockets = new Set<WebSocketLike>();
  private readonly fills = new Map<Room | undefined, unknown>();
  /** Each dialled socket's deadline to open. */
  private readonly openings = new Map<WebSocketLike, unknown>();
  private readonly unstored = new Set<string>();
  private outbox: Request[] = [];
  private waiters: { resolve(): void; reject(error: RoomcastError): void }[] = [];
  /** The resumed socket in use; `dialing` becomes it after its resume, `next` replaces it (rollover). */
  private ws?: WebSocketLike;
  private dialing?: WebSocketLike;
  private next?: WebSocketLike;
  private stored?: string;
  /** Whether the storage refused to keep the positions once already (that is reported once). */
  private refused = false;
  /** This user's id (the token's `sub`). */
  private me = '';
  /** Per room, frames from this user held back while a send of it may be their echo (`retrying`), with the socket each came on. */
  private readonly echoes = new Map<Room, { frame: MessageFrame; ws?: WebSocketLike }[]>();
  /** The positions kept for this user when it was read: rooms not opened yet start from these. */
  private kept: Positions = { rooms: new Map() };
  private attempt = 0;
  /** When the last queued request refused as over the rate goes out again: the next one waits its turn after it. */
  private paced = 0;
  private ids = 0;
  private lastActive = 0;
  private retryTimer?: unknown;
  private pingTimer?: unknown;
  private rolloverTimer?: unknown;

  /** `'idle'` until `connect()`, then `'connecting'`, `'open'`, `'reconnecting'`, `'closed'`. */
  get state(): ClientState {
    return this.current;
  }

  constructor(options: RoomcastClientOptions) {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new TypeError('no global WebSocket: pass one, e.g. `WebSocket` from the ws package');
    this.WS = WS;
    this.storage = options.storage ?? defaultStorage();
    this.t = options.timers ?? realTimers;
    this.o = {
      requestTimeoutMs: 10_000,
      pingAfterMs: 300_000,
      rolloverAfterMs: 6_600_000,
      gapFillDelayMs: 1_000,
      backoffMinMs: 500,
      backoffMaxMs: 30_000,
      timers: this.t,
      random: Math.random,
      // An option given as undefined (e.g. from an optional config field) takes its default.
      ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
    } as RoomcastClient['o'];
  }

  on(event: 'state', handler: (state: ClientState) => void): () => void;
  on(event: 'direct', handler: (event: string, data: unknown, meta: MessageMeta) => void): () => void;
  on(event: 'outgoing', handler: (outgoing: Outgoing) => void): () => void;
  /** Errors that answer no request: a room the resume could not re-join, an error frame without id. */
  on(event: 'error', handler: (error: RoomcastError) => void): () => void;
  // biome-ignore lint/suspicious/noExplicitAny: overloads above give the types
  on(event: string, handler: (...args: any[]) => void): () => void {
    return this.events.on(event, handler);
  }

  /** Opens the connection; resolves once it is open (it keeps retrying with backoff until then). */
  connect(): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    const opened = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.state === 'idle' || this.state === 'closed') {
      this.setState('connecting');
      void this.dial(false);
    }
    return opened;
  }

  room(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      room = new Room(this, name, new StreamPosition(this.kept.rooms.get(name)));
      this.rooms.set(name, room);
    }
    return room;
  }

  direct(userId: string, event: string, data: unknown, options?: PublishOptions): PublishHandle {
    return this.publish('direct', { userId, event, data }, options);
  }

  emit(event: string, data: unknown, options?: Pick<PublishOptions, 'idempotencyKey'>): PublishHandle {
    return this.publish('emit', { event, data }, options);
  }

  /** Asks the server for a pong: its time, this connection's id and the user id. */
  ping(): Promise<Pong> {
    return this.request({ action: 'ping' }) as Promise<Pong>;
  }

  /** Closes for good: no reconnect; requests still waiting reject with CLOSED. */
  close(): void {
    this.setState('closed');
    for (const timer of [
      this.retryTimer,
      this.pingTimer,
      this.rolloverTimer,
      ...this.fills.values(),
      ...this.openings.values(),
    ]) {
      this.t.clearTimeout(timer);
    }
    this.fills.clear();
    this.echoes.clear();
    this.openings.clear();
    this.pingTimer = undefined;
    const sockets = [...this.sockets];
    this.sockets.clear();
    this.ws = this.dialing = this.next = undefined;
    for (const ws of sockets) ws.close(1000);
    const closed = new RoomcastError('CLOSED', 'the client was closed');
    for (const request of [...this.requests.values(), ...this.outbox]) {
      this.t.clearTimeout(request.timer);
      request.reject(closed);
    }
    this.requests.clear();
    this.outbox = [];
    for (const waiter of this.waiters.splice(0)) waiter.reject(closed);
  }

  /** @internal Sends now when open, else after the next resume. */
  request(frame: Frame): Promise<Frame> {
    return new Promise((resolve, reject) => {
      if (this.state === 'closed') return reject(new RoomcastError('CLOSED', 'the client was closed'));
      const request: Request = {
        frame: { ...frame, id: `c${++this.ids}` },
        resolve,
        reject,
      };
      if (sizeOf(request.frame) > FRAME_MAX)
        return reject(tooLarge(request.frame, 'frames over 128 KiB are refused'));
      if (frame.idempotencyKey === undefined) {
        request.due = true;
        this.expire(request);
      }
      const ws = this.ready();
      if (ws) this.transmit(request, ws);
      else this.outbox.push(request);
    });
  }

  /** @internal */
  publish(action: Outgoing['action'], fields: Frame, options: PublishOptions = {}): PublishHandle {
    const key = options.idempotencyKey ?? newKey();
    const outgoing = { key, action, ...fields, state: 'pending' } as Outgoing;
    const report = (change: Partial<Outgoing>) =>
      this.events.emit('outgoing', Object.assign(outgoing, change));
    report({});
    const frame: Frame = { action, ...fields, idempotencyKey: key };
    if (options.store === false) frame.store = false;
    const room = action === 'send' ? this.room(fields.room) : undefined;
    const promise = this.request(frame).then(
      (answer) => {
        const ack = answer as Ack;
        // Our own message is not sent back to us: its seq is seen, so no gap is filled with it.
        if (room && typeof ack.seq === 'number') this.take(room, ack.seq);
        if (room) this.release(room, ack.messageId);
        report({ state: 'sent', ack });
        return ack;
      },
      (error: RoomcastError) => {
        if (room) this.release(room);
        report({ state: 'failed', error });
        throw error;
      },
    );
    return Object.assign(promise, { key });
  }

  /**
   * @internal Applies a resume answer: rooms it could not re-join, streams it could not recover.
   * Returns the rooms whose kept position was past their latest (the server's data was reset):
   * their position is forgotten, and they are to be joined the plain way.
   */
  resumed(ack: Frame, ws = this.ws): Room[] {
    const stale: Room[] = [];
    for (const [name, result] of Object.entries((ack.rooms ?? {}) as Record<string, Frame>)) {
      const room = this.room(name);
      if (result.error === STALE) {
        room.stream.reset();
        stale.push(room);
      } else if (result.error) {
        room.joined = false;
        this.events.emit('error', new RoomcastError(result.error, `cannot resume room ${name}`));
      } else if (result.recovered === false) {
        void this.fill(room, ws);
      }
    }
    if (ack.user?.error === STALE) {
      // Everything the server keeps for this user is new to this client: from 0 again.
      this.user.reset();
      this.user.position = 0;
      void this.fill(undefined, ws);
    } else if (typeof ack.user?.seq === 'number') {
      // Replayed (or, not recovered, not): either way nothing up to the latest is still to come.
      this.giveUp(undefined, ack.user.seq);
    }
    if (stale.length > 0) this.save();
    return stale;
  }

  private setState(state: ClientState): void {
    if (this.current === state) return;
    this.current = state;
    this.events.emit('state', state);
  }

  private async dial(rollover: boolean): Promise<void> {
    let ws: WebSocketLike;
    try {
      const token = typeof this.o.token === 'function' ? await this.o.token() : this.o.token;
      if (this.state === 'closed') return;
      this.me = subjectOf(token);
      this.load(this.me);
      ws = new this.WS(
        `${this.o.url}${this.o.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`,
      );
    } catch {
      return rollover ? this.scheduleRollover(this.delay()) : this.retry();
    }
    this.sockets.add(ws);
    if (rollover) this.next = ws;
    else this.dialing = ws;
    this.openings.set(
      ws,
      this.t.setTimeout(() => this.lost(ws), this.o.requestTimeoutMs),
    );
    ws.onmessage = (event) => this.onFrame(ws, event.data);
    ws.onclose = (event) => this.lost(ws, (event as { code?: number } | undefined)?.code);
    ws.onerror = () => undefined;
    ws.onopen = () => {
      this.t.clearTimeout(this.openings.get(ws));
      this.openings.delete(ws);
      this.resume(ws).then(
        (members) => this.adopt(ws, members),
        () => this.lost(ws),
      );
    };
  }

  private delay(): number {
    return backoffDelay(this.attempt++, this.o.random, this.o.backoffMinMs, this.o.backoffMaxMs);
  }

  private retry(): void {
    if (this.state === 'closed') return;
    this.retryTimer = this.t.setTimeout(() => void this.dial(false), this.delay());
  }

  private scheduleRollover(ms: number): void {
    this.t.clearTimeout(this.rolloverTimer);
    // Closed while a rollover fetched its token (or opened): no next one.
    if (this.state === 'closed') return;
    this.rolloverTimer = this.t.setTimeout(() => void this.dial(true), ms);
  }

  /** Reads the positions kept for this user, once its id is known from the token. */
  private load(subject: string): void {
    if (this.stored !== undefined) return;
    this.stored = `roomcast:${subject}`;
    this.kept = loadPositions(this.storage, this.stored);
    this.user.position ??= this.kept.user;
    for (const room of this.rooms.values()) room.stream.position ??= this.kept.rooms.get(room.name);
  }

  /**
   * Keeps the positions: this session's, over those read at start for rooms it has not opened (yet).
   * It runs on every message, so it does not read the storage again.
   */
  private save(): void {
    if (this.stored === undefined) return;
    const rooms = new Map(this.kept.rooms);
    for (const room of this.rooms.values()) {
      if (room.stream.position !== undefined) rooms.set(room.name, room.stream.position);
      else rooms.delete(room.name);
    }
    if (savePositions(this.storage, this.stored, { user: this.user.position, rooms }) || this.refused) return;
    this.refused = true;
    this.events.emit(
      'error',
      new RoomcastError(
        'STORAGE',
        'the storage refused to keep stream positions (full or blocked); kept in memory only',
      ),
    );
  }

  /**
   * Re-joins rooms (by default every joined room) from their positions and (by default) resumes the
   * user stream, on a socket not yet in use. Returns the rooms it joined.
   */
  private async resume(
    ws: WebSocketLike,
    rooms = [...this.rooms.values()].filter((room) => room.joined && !room.leaving),
    user = true,
  ): Promise<Set<Room>> {
    const positions: [string, number][] = [];
    let plain: Room[] = [];
    for (const room of rooms) {
      if (room.stream.position === undefined) plain.push(room);
      else positions.push([room.name, room.stream.position]);
    }
    // The user stream always: from where it was, or (no position yet) from what the mailbox keeps,
    // so a direct stored while no connection was open is not lost. From 0 means seq 1 is the next
    // one: a live direct that overtakes the replay waits for it.
    this.user.position ??= 0;
    // At most RESUME_ROOMS rooms a frame, one frame after another; the first one carries the user stream.
    for (let i = 0; (i === 0 && user) || i < positions.length; i += RESUME_ROOMS) {
      const batch = positions.slice(i, i + RESUME_ROOMS);
      const frame: Frame =
        i === 0 && user ? { action: 'resume', user: this.user.position } : { action: 'resume' };
      // Object.fromEntries defines each room as an own property, whatever its name.
      if (batch.length > 0) frame.rooms = Object.fromEntries(batch);
      try {
        plain.push(...this.resumed(await this.call(ws, frame), ws));
      } catch (error) {
        const code = (error as RoomcastError).code;
        // A server without resume (section 6): join each room instead.
        if (code === 'UNKNOWN_ACTION') {
          plain = rooms;
          break;
        }
        // A frame the server refuses would be refused again on every reconnect: its rooms are
        // joined the plain way instead (their gaps filled from history), and the refusal reported.
        if (code !== 'VALIDATION_ERROR') throw error;
        this.events.emit('error', error);
        for (const [name] of batch) plain.push(this.room(name));
      }
    }
    await Promise.all(
      plain.map((room) =>
        this.call(ws, { action: 'join', room: room.name }).catch((error: RoomcastError) => {
          if (LOST.has(error.code)) throw error;
          room.joined = false;
          this.events.emit('error', error);
        }),
      ),
    );
    return new Set(rooms);
  }

  /**
   * A resumed socket becomes the one in use; the one it replaces closes, and what was still waiting
   * for an answer on it goes out again on this one. `members` are the rooms its resume joined.
   */
  private adopt(ws: WebSocketLike, members: Set<Room>): void {
    if (!this.sockets.has(ws)) return;
    const old = this.ws;
    this.ws = ws;
    this.dialing = this.next = undefined;
    this.attempt = 0;
    if (old && old !== ws) {
      old.close(1000, 'replaced');
      this.lost(old);
    }
    this.setState('open');
    // A state handler may have closed the client.
    if (this.state === 'closed') return;
    // A join that went out on the old socket before the replacement came, answered after its resume
    // began: this socket is not in that room yet.
    const joined = [...this.rooms.values()].filter((r) => r.joined && !r.leaving && !members.has(r));
    if (joined.length > 0) this.resume(ws, joined, false).catch(() => this.lost(ws));
    this.touch();
    this.scheduleRollover(this.o.rolloverAfterMs);
    this.flush();
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }

  /**
   * A socket closed (or stopped answering): its unanswered requests go out again on the next one,
   * but for those API Gateway closed it for (1009: a frame over its 32 KiB quota), which would
   * close the next one too.
   */
  private lost(ws: WebSocketLike, code?: number): void {
    if (!this.sockets.delete(ws)) return;
    this.t.clearTimeout(this.openings.get(ws));
    this.openings.delete(ws);
    ws.onclose = ws.onmessage = ws.onopen = null;
    ws.close();
    const requeue: Request[] = [];
    for (const [id, request] of this.requests) {
      if (request.ws !== ws) continue;
      this.requests.delete(id);
      if (!request.due) this.t.clearTimeout(request.timer);
      if (request.internal) request.reject(new RoomcastError('CLOSED', 'the connection closed'));
      else if (code === 1009 && sizeOf(request.frame) > AWS_FRAME_MAX) {
        this.t.clearTimeout(request.timer);
        request.reject(
          tooLarge(
            request.frame,
            'API Gateway refuses frames over 32 KiB (it closed the connection with 1009)',
          ),
        );
      } else {
        // That attempt may still be running on the server: a CONFLICT is waited out from when it went.
        request.lostSentAt = request.sentAt;
        requeue.push(request);
      }
    }
    this.outbox.unshift(...requeue);
    if (ws === this.next) {
      this.next = undefined;
      this.scheduleRollover(this.delay());
      // What waited for it goes out on the connection in use.
      this.flush();
    } else if (ws === this.ws || ws === this.dialing) {
      this.ws = this.dialing = undefined;
      this.t.clearTimeout(this.pingTimer);
      this.pingTimer = undefined;
      if (this.state === 'closed') return;
      if (this.state === 'open') this.setState('reconnecting');
      if (this.next) {
        // A replacement is already on its way: it becomes the connection.
        this.dialing = this.next;
        this.next = undefined;
      } else {
        this.t.clearTimeout(this.rolloverTimer);
        this.retry();
      }
    } else if (this.state === 'open') {
      this.flush();
    }
  }

  /**
   * The socket requests go out on now, if any. While a replacement is on its way (rollover) they
   * wait for it: its resume has already listed the rooms to re-join, so a join or leave sent on the
   * old socket meanwhile would never reach it.
   */
  private ready(): WebSocketLike | undefined {
    return this.state === 'open' && !this.next ? this.ws : undefined;
  }

  private flush(): void {
    const ws = this.ready();
    if (!ws) return;
    for (const request of this.outbox.splice(0)) {
      request.queued = true;
      this.transmit(request, ws);
    }
  }

  private transmit(request: Request, ws: WebSocketLike): void {
    request.ws = ws;
    request.attempts = (request.attempts ?? 0) + 1;
    request.sentAt = this.t.now();
    this.requests.set(request.frame.id, request);
    if (!request.due) this.expire(request);
    ws.send(JSON.stringify(request.frame));
  }

  /** Rejects the request with TIMEOUT after `requestTimeoutMs`, whether it went out or still waits. */
  private expire(request: Request): void {
    request.timer = this.t.setTimeout(() => {
      this.requests.delete(request.frame.id);
      this.outbox = this.outbox.filter((r) => r !== request);
      request.reject(
        new RoomcastError(
          'TIMEOUT',
          `no answer to ${request.frame.action} within ${this.o.requestTimeoutMs} ms`,
        ),
      );
    }, this.o.requestTimeoutMs);
  }

  /** A request of the client itself on one socket. */
  private call(ws: WebSocketLike, frame: Frame): Promise<Frame> {
    return new Promise((resolve, reject) =>
      this.transmit({ frame: { ...frame, id: `c${++this.ids}` }, resolve, reject, internal: true }, ws),
    );
  }

  /**
   * Pings once nothing has come in for `pingAfterMs`; no pong means the connection is gone. Only
   * incoming frames count: frames sent on a half-open connection go nowhere, and say nothing.
   */
  private touch(): void {
    this.lastActive = this.t.now();
    if (this.pingTimer === undefined) this.armPing(this.o.pingAfterMs);
  }

  private armPing(ms: number): void {
    this.pingTimer = this.t.setTimeout(() => {
      this.pingTimer = undefined;
      const ws = this.ws;
      if (!ws) return;
      const quiet = this.t.now() - this.lastActive;
      if (quiet < this.o.pingAfterMs) return this.armPing(this.o.pingAfterMs - quiet);
      this.call(ws, { action: 'ping' }).catch(() => this.lost(ws));
    }, ms);
  }

  private onFrame(ws: WebSocketLike, raw: unknown): void {
    if (!this.sockets.has(ws)) return;
    let frame: Frame;
    try {
      frame = JSON.parse(String(raw));
    } catch {
      return;
    }
    if (ws === this.ws) this.touch();
    const request = typeof frame.id === 'string' ? this.requests.get(frame.id) : undefined;
    if (request && ANSWERS.has(frame.type)) {
      this.requests.delete(frame.id);
      this.t.clearTimeout(request.timer);
      const wait = frame.type === 'error' ? this.retryAfter(request, frame) : undefined;
      if (wait !== undefined) this.retryLater(request, wait);
      else if (frame.type === 'error')
        request.reject(new RoomcastError(frame.code, frame.message, frame.retryAfterMs));
      else request.resolve(frame);
    } else if (frame.type === 'message') {
      const room = typeof frame.room === 'string' ? this.room(frame.room) : undefined;
      if (typeof frame.seq === 'number') this.take(room, frame.seq, frame as MessageFrame, ws);
      else if (!this.unstored.has(frame.messageId)) {
        // Not stored, so no seq: while two connections overlap (rollover) the same frame may come on both.
        this.unstored.add(frame.messageId);
        if (this.unstored.size > 256) this.unstored.delete(this.unstored.values().next().value as string);
        this.dispatch(frame as MessageFrame);
      }
    } else if (frame.type === 'presence' && typeof frame.room === 'string') {
      this.room(frame.room).events.emit('presence', frame);
    } else if (frame.type === 'room' && typeof frame.room === 'string') {
      const room = this.room(frame.room);
      room.joined = frame.event === 'joined';
      room.leaving &&= !room.joined;
      // Joined by a backend: learn where the room's stream is, so a reconnect resumes it from there.
      if (room.joined && room.stream.position === undefined) void this.learnPosition(room, ws);
    } else if (frame.type === 'error') {
      this.events.emit('error', new RoomcastError(frame.code, frame.message, frame.retryAfterMs));
    }
  }

  /** Takes a frame of a stream (`ws`: the socket it came on). */
  private take(room: Room | undefined, seq: number, frame?: MessageFrame, ws?: WebSocketLike): void {
    const held = room && this.echoes.get(room);
    if (
      room &&
      frame?.from === this.me &&
      seq > (room.stream.position ?? 0) &&
      // A copy of a frame held already (the same frame on the other connection, or in a page) waits with it.
      (this.retrying(room, ws) || held?.some((h) => h.frame.messageId === frame.messageId))
    ) {
      // Maybe the message of such a send: it is held back, with what comes after it, until the
      // send's ack tells (release).
      const list = held || [];
      if (!list.some((h) => h.frame.messageId === frame.messageId)) list.push({ frame, ws });
      this.echoes.set(room, list);
      return;
    }
    const stream = room ? room.stream : this.user;
    for (const message of stream.take(seq, frame)) this.dispatch(message);
    this.save();
    this.fillLater(room);
  }

  /**
   * Whether a frame from this user in the room that came on `ws` may be the echo of a send of this
   * client still waiting for its ack: one that went out on a connection since lost (a resume
   * replays what the server stored), or one that is out on another connection than `ws` (during a
   * rollover the server sends a room's message to the user's other connections, the replacement among them).
   */
  private retrying(room: Room, ws?: WebSocketLike): boolean {
    return [...this.requests.values(), ...this.outbox].some(
      (r) =>
        r.frame.action === 'send' &&
        r.frame.room === room.name &&
        (r.lostSentAt !== undefined || (r.ws !== undefined && r.ws !== ws)),
    );
  }

  /**
   * A send to the room has its answer: the frame held back with its `messageId` was our own message
   * and is dropped. Once no other send waits, the rest (this user's other tabs) is delivered; one a
   * gap fill moved past meanwhile is delivered late rather than lost.
   */
  private release(room: Room, messageId?: string): void {
    const held = this.echoes.get(room)?.filter((h) => h.frame.messageId !== messageId);
    if (!held) return;
    this.echoes.set(room, held);
    if (held.some((h) => this.retrying(room, h.ws))) return;
    this.echoes.delete(room);
    for (const { frame, ws } of held) {
      const seq = frame.seq ?? 0;
      if (seq > (room.stream.position ?? 0)) this.take(room, seq, frame, ws);
      else this.dispatch(frame);
    }
  }

  /** While frames wait behind a gap, fills it after `gapFillDelayMs` (unless it fills itself live). */
  private fillLater(room: Room | undefined): void {
    const stream = room ? room.stream : this.user;
    if (stream.waiting === undefined || this.fills.has(room)) return;
    this.fills.set(
      room,
      this.t.setTimeout(() => {
        this.fills.delete(room);
        if (stream.waiting !== undefined) void this.fill(room);
      }, this.o.gapFillDelayMs),
    );
  }

  /**
   * How long a send, direct or emit (it carries an idempotency key, so a retry never delivers twice)
   * waits before it goes out again, or undefined when the error fails it:
   * - one that went out again after its connection was lost may find its first attempt still
   *   running on the server (CONFLICT): it is retried with backoff until that one finishes (then
   *   the retry is answered with the first ack, replayed), for a little over a minute at most;
   * - one that waited for a connection went out in a burst with the others, and the server may
   *   refuse it as over the rate (RATE_LIMITED): it is retried after `retryAfterMs`, after the
   *   others refused before it, so they go out no faster than the server lets them.
   */
  private retryAfter(request: Request, frame: Frame): number | undefined {
    if (typeof request.frame.idempotencyKey !== 'string') return;
    const now = this.t.now();
    const attempts = request.attempts ?? 1;
    if (
      frame.code === 'CONFLICT' &&
      request.lostSentAt !== undefined &&
      now - request.lostSentAt < CONFLICT_RETRY_MS
    )
      return backoffDelay(attempts - 1, this.o.random, this.o.backoffMinMs, this.o.backoffMaxMs);
    if (frame.code === 'RATE_LIMITED' && request.queued && attempts < RATE_LIMITED_TRIES) {
      this.paced = Math.max(now, this.paced) + (frame.retryAfterMs ?? this.o.backoffMinMs);
      return this.paced - now;
    }
  }

  private retryLater(request: Request, delay: number): void {
    // Waiting, it stays a request (close() rejects it) on no socket (a lost socket does not requeue it).
    request.ws = undefined;
    this.requests.set(request.frame.id, request);
    request.timer = this.t.setTimeout(() => {
      if (!this.requests.delete(request.frame.id)) return;
      const ws = this.ready();
      if (ws) this.transmit(request, ws);
      else this.outbox.push(request);
    }, delay);
  }

  /** Where a room's stream is now (its latest seq), for a room this client did not join itself. */
  private async learnPosition(room: Room, ws: WebSocketLike): Promise<void> {
    try {
      const page = (await this.call(ws, { action: 'history', room: room.name, limit: 1 })) as HistoryPage;
      if (room.stream.position === undefined && typeof page.seq === 'number') {
        // The room's latest may have been published after the join and still be on its way.
        room.stream.learn(page.seq);
        this.save();
      }
    } catch {
      // Not known then: the room is joined the plain way after a reconnect.
    }
  }

  private dispatch(message: MessageFrame): void {
    const meta: MessageMeta = { messageId: message.messageId, ts: message.ts };
    if (message.room !== undefined) meta.room = message.room;
    if (message.from !== undefined) meta.from = message.from;
    if (message.seq !== undefined) meta.seq = message.seq;
    if (meta.room !== undefined) {
      const room = this.room(meta.room);
      if (!room.leaving) room.events.emit(message.event, message.data, meta);
    } else this.events.emit('direct', message.event, message.data, meta);
  }

  /** Fills a gap: a room's from `history`, the user stream's by resuming it; what is gone is skipped. */
  private async fill(room: Room | undefined, ws = this.ws): Promise<void> {
    if (!ws) return;
    try {
      if (!room) {
        this.resumed(await this.call(ws, { action: 'resume', user: this.user.position ?? 0 }), ws);
        return;
      }
      for (;;) {
        const since = room.stream.position ?? 0;
        const page = (await this.call(ws, {
          action: 'history',
          room: room.name,
          since,
          limit: 100,
        })) as HistoryPage;
        const first = page.messages[0];
        if (first?.seq !== undefined && first.seq > since + 1) this.skip(room, first.seq);
        for (const message of page.messages)
          if (message.seq !== undefined) this.take(room, message.seq, message, ws);
        if (!page.more || page.messages.length === 0) return this.giveUp(room, page.seq);
      }
    } catch {
      // The connection went away; the resume after the reconnect recovers the stream.
    }
  }

  /**
   * What the server had up to `latest` when it answered is all there is: every seq up to it that
   * did not come is gone, so the stream moves past it. Frames held beyond `latest` were published
   * after that answer, and what is missing before them may still be on its way: they wait (and
   * are filled again later). Without `latest`, everything held is delivered.
   */
  private giveUp(room: Room | undefined, latest?: number): void {
    const stream = room ? room.stream : this.user;
    const last = latest ?? Number.POSITIVE_INFINITY;
    for (let held = stream.waiting; held !== undefined && held <= last; held = stream.waiting) {
      this.skip(room, held);
    }
    if (latest === undefined) return;
    if ((stream.position ?? 0) < latest) this.skip(room, latest + 1);
    this.fillLater(room);
  }

  private skip(room: Room | undefined, seq: number): void {
    const stream = room ? room.stream : this.user;
    for (const message of stream.skipTo(seq)) this.dispatch(message);
    this.save();
  }
}
