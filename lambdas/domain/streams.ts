import { createHash } from 'node:crypto';
import { type ErrorCode, LIMITS, METRICS } from './constants.js';
import { ConflictError } from './errors.js';
import type { StreamPosition } from './frames.js';
import { mayJoin } from './permissions.js';
import type { Clock, MetricSink, StoredMessage, StreamId, StreamStore } from './ports.js';

/** Retention per kind of stream, in seconds; 0 turns storing off for that kind. */
export interface StreamSettings {
  historyTtlSeconds: number;
  mailboxTtlSeconds: number;
}

export const roomStream = (room: string): StreamId => ({ kind: 'room', name: room });
export const userStream = (userId: string): StreamId => ({ kind: 'user', name: userId });

/** How long a claimed idempotency key may stay unanswered before a repeat takes it over. */
const IDEMPOTENCY_STALE_MS = 60_000;

/** A message a keyed request stored (at `seq`) before it failed; its retry delivers this one again. */
export interface StoredAttempt {
  messageId: string;
  ts: number;
  seq: number;
}

/** What a request run under an idempotency key is told, and tells back. */
export interface KeyedRun {
  /** What an earlier run under this key stored before it failed: deliver it, store nothing. */
  earlier?: StoredAttempt;
  /** Called once the run's message is stored: from then on a failure keeps the key for a retry. */
  stored(attempt: StoredAttempt): void;
}

export interface ResumeRequest {
  /** Room name and the last seq the client has, in the order it listed them. */
  rooms?: [string, number][] | undefined;
  user?: number | undefined;
}

export interface ResumeOutcome {
  rooms?: Record<string, StreamPosition | { error: ErrorCode }>;
  user?: StreamPosition | { error: ErrorCode };
}

export interface ResumeCaller {
  userId: string;
  /** The token's `rooms` claim. */
  rooms: readonly string[];
  /** Joins this connection to a room; false when the connection is closing. */
  join(room: string): Promise<boolean>;
  /** Posts one frame (JSON text) to this connection; false once the connection is gone. */
  post(frame: string): Promise<boolean>;
}

interface Replay {
  position: StreamPosition;
  messages: StoredMessage[];
}

/**
 * Stored delivery: a stream per room and per user, each message at the next
 * seq, kept for its stream's retention. What happens on `resume`, on `history`
 * and on an idempotent repeat is decided here.
 */
export class Streams {
  constructor(
    private readonly deps: {
      streams: StreamStore;
      clock: Clock;
      metrics: MetricSink;
      settings: StreamSettings;
    },
  ) {}

  /** Whether messages of this kind of stream are stored at all. */
  stores(stream: StreamId): boolean {
    return this.ttlOf(stream) > 0;
  }

  /**
   * Stores a message at its stream's next seq (the frame is built once the seq is
   * known), then runs `deliver` while the stream's head moves forward: the message
   * is stored before any delivery, and the head write costs no extra wait.
   */
  async append<T>(
    stream: StreamId,
    frame: (seq: number) => string,
    deliver: () => Promise<T>,
  ): Promise<{ seq: number; delivered: T }> {
    const expiresAt = Math.floor(this.deps.clock.now() / 1000) + this.ttlOf(stream);
    const { seq, conflicts } = await this.deps.streams.append(stream, frame, expiresAt);
    this.deps.metrics.count(METRICS.stored);
    if (conflicts > 0) this.deps.metrics.count(METRICS.seqConflicts, conflicts);
    const [delivered] = await Promise.all([deliver(), this.advance(stream, seq)]);
    return { seq, delivered };
  }

  /**
   * Moves the stream's head to `seq`. The message is stored and being delivered, so a failed head
   * write does not fail the publish (a retry would store and deliver it again): the head only
   * saves the next append a conflict, which finds the seq taken and skips past it.
   */
  private async advance(stream: StreamId, seq: number): Promise<void> {
    try {
      await this.deps.streams.advance(stream, seq);
    } catch {
      this.deps.metrics.count(METRICS.headsBehind);
    }
  }

  /** Whether the stream still keeps the message at `seq` (its retention has not passed). */
  async keeps(stream: StreamId, seq: number): Promise<boolean> {
    const { messages } = await this.deps.streams.read(stream, { after: seq - 1, limit: 1 });
    return messages[0]?.seq === seq;
  }

  /** A page of a room's history, ascending; `seq` is the room's latest. */
  async history(
    room: string,
    query: { since?: number | undefined; before?: number | undefined; limit?: number | undefined },
  ): Promise<{ messages: unknown[]; seq: number; more: boolean }> {
    const stream = roomStream(room);
    const limit = query.limit ?? LIMITS.defaultHistoryLimit;
    const [latest, page] = await Promise.all([
      this.deps.streams.latest(stream),
      this.deps.streams.read(stream, {
        ...(query.since === undefined ? {} : { after: query.since }),
        ...(query.before === undefined ? {} : { before: query.before }),
        limit,
      }),
    ]);
    const last = page.messages.at(-1)?.seq ?? 0;
    // One answer is one WebSocket frame (128 KiB at most on API Gateway): a page of large messages is
    // cut to fit, keeping the end nearest to where the reader started, and `more` says the rest exists.
    const fitted = fitInFrame(page.messages, query.since === undefined ? 'newest' : 'oldest');
    return {
      messages: fitted.map((m) => JSON.parse(m.frame) as unknown),
      seq: Math.max(latest, last),
      more: page.more || fitted.length < page.messages.length,
    };
  }

  /**
   * `resume`: for each listed room, join first (the join rules apply; a refused
   * room is reported, the others go on), then read what was missed, so that
   * nothing published meanwhile is lost (it may arrive twice, same seq). Then the
   * user's stream. The missed messages are posted in seq order within each stream,
   * the streams side by side; the positions are returned for the ack.
   */
  async resume(request: ResumeRequest, caller: ResumeCaller): Promise<ResumeOutcome> {
    const roomEntries = request.rooms ?? [];
    const [roomReplays, userReplay] = await Promise.all([
      Promise.all(
        roomEntries.map(async ([room, after]) => {
          if (!mayJoin(room, caller.rooms)) return { error: 'FORBIDDEN' as const };
          return this.replayOf(roomStream(room), after, () => caller.join(room));
        }),
      ),
      request.user === undefined
        ? undefined
        : this.replayOf(userStream(caller.userId), request.user, async () => true),
    ]);
    const outcome: ResumeOutcome = {};
    const replays = [...roomReplays, ...(userReplay ? [userReplay] : [])];
    // The streams at once, each one's messages one after another (the gateway keeps the order of
    // posts to one connection, so each stream arrives in seq order). On AWS a post takes ~15 ms: 50
    // rooms of 200 one after another would take 150 s, past API Gateway's 29 s; at once, about 3 s.
    // A connection found gone stops every stream's replay: its posts would all answer 410.
    let gone = false;
    await Promise.all(
      replays.map(async (replay) => {
        if ('error' in replay) return;
        let posted = 0;
        for (const message of replay.messages) {
          if (gone) break;
          if (await caller.post(message.frame)) posted += 1;
          else gone = true;
        }
        this.deps.metrics.count(METRICS.replayed, posted);
      }),
    );
    if (request.rooms !== undefined) {
      outcome.rooms = Object.fromEntries(
        roomEntries.map(([room], i) => {
          const replay = roomReplays[i];
          return [
            room,
            !replay || 'error' in replay ? { error: replay?.error ?? 'INTERNAL' } : replay.position,
          ];
        }),
      );
    }
    if (userReplay) outcome.user = 'error' in userReplay ? { error: userReplay.error } : userReplay.position;
    return outcome;
  }

  /**
   * Runs a request once per idempotency key: a repeat with the same body gets the
   * first answer (`replayed`), another body or a repeat while the first still runs
   * gets CONFLICT. Without a key the request simply runs. A request that fails before
   * it stores anything gives its key up, so a retry runs it again; one that fails after
   * storing its message (the fan-out could not read the room, the queue refused) keeps
   * the key with what it stored, and a retry delivers that message (same seq and
   * messageId) instead of storing a second one.
   */
  async once<T>(
    key: string | undefined,
    body: unknown,
    run: (keyed: KeyedRun) => Promise<T>,
  ): Promise<{ answer: T; replayed: boolean }> {
    if (key === undefined) return { answer: await run({ stored: () => undefined }), replayed: false };
    const { streams, clock } = this.deps;
    const print = fingerprint(body);
    const expiresAt = Math.floor(clock.now() / 1000) + LIMITS.idempotencyTtlSeconds;
    const claim = await streams.claim(key, print, expiresAt, IDEMPOTENCY_STALE_MS);
    if (claim.state !== 'new' && claim.fingerprint !== print) {
      throw new ConflictError('this idempotency key was already used with a different body');
    }
    if (claim.state === 'pending') {
      throw new ConflictError('a request with this idempotency key is still running; retry shortly');
    }
    if (claim.state === 'done') return { answer: JSON.parse(claim.answer) as T, replayed: true };
    const { token } = claim;
    const earlier = claim.stored === undefined ? undefined : (JSON.parse(claim.stored) as StoredAttempt);
    let stored = earlier;
    // Written as the message is stored, alongside its delivery: a run that dies after it (a timeout,
    // a crash) leaves the record with it for the retry that takes the record over.
    let noted: Promise<unknown> = Promise.resolve();
    let answer: T;
    try {
      answer = await run({
        ...(earlier ? { earlier } : {}),
        stored: (attempt) => {
          stored = attempt;
          noted = streams.noteStored(key, token, JSON.stringify(attempt)).catch(() => undefined);
        },
      });
    } catch (error) {
      await noted;
      if (stored) await streams.park(key, token, JSON.stringify(stored));
      else await streams.release(key, token);
      throw error;
    }
    await noted;
    await streams.complete(key, token, JSON.stringify(answer));
    return { answer, replayed: false };
  }

  private async replayOf(
    stream: StreamId,
    after: number,
    join: () => Promise<boolean>,
  ): Promise<Replay | { error: ErrorCode }> {
    const { streams } = this.deps;
    const before = await streams.latest(stream);
    if (after > before) return { error: 'VALIDATION_ERROR' };
    if (!(await join())) return { error: 'NOT_FOUND' };
    // Read only after the join: whatever is published from now on is delivered live as well.
    const { messages } = await streams.read(stream, { after, limit: LIMITS.maxReplay + 1 });
    const latest = Math.max(before, messages.at(-1)?.seq ?? 0);
    return decideReplay(after, latest, messages);
  }

  private ttlOf(stream: StreamId): number {
    const { settings } = this.deps;
    return stream.kind === 'room' ? settings.historyTtlSeconds : settings.mailboxTtlSeconds;
  }
}

/**
 * Whether the messages read after `after` are the whole of what was missed: not
 * when more than 200 are missing, nor when some after `after` expired (0 means
 * "everything still kept", so a gap before the first kept message is fine then).
 */
export function decideReplay(after: number, latest: number, messages: StoredMessage[]): Replay {
  let recovered: boolean;
  if (after === 0) {
    recovered = messages.length <= LIMITS.maxReplay;
  } else {
    // Seqs are never reused and come one after another: every one of them must still be there, not
    // only the first (a message published later can expire before the one in front of it).
    const missing = latest - after;
    recovered =
      missing === 0 ||
      (missing <= LIMITS.maxReplay && messages[0]?.seq === after + 1 && messages.length === missing);
  }
  return { position: { seq: latest, recovered }, messages: recovered ? messages : [] };
}

/**
 * A stable digest of a request body, to tell a repeat from another request under the same key. The
 * order of an object's keys does not count: a retry serialized by another process is the same body.
 */
export function fingerprint(body: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(body)) ?? 'null')
    .digest('base64url');
}

/** The value with every object's keys in one order (arrays keep theirs). */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(object)
      .sort()
      .map((key) => [key, canonical(object[key])]),
  );
}

/** Room for the history answer's own fields (type, id, room, seq, more) within one frame. */
const HISTORY_ENVELOPE_BYTES = 1024;

/**
 * The longest run of messages (ascending seq) whose frames fit one WebSocket
 * message with the answer's envelope: the oldest ones when paging forward
 * (`since`), the newest otherwise. At least one message is kept: any single
 * stored frame fits, as a frame larger than a message is refused on the way in.
 */
export function fitInFrame<T extends { frame: string }>(
  messages: readonly T[],
  keep: 'oldest' | 'newest',
): T[] {
  const budget = LIMITS.maxMessageBytes - HISTORY_ENVELOPE_BYTES;
  const ordered = keep === 'oldest' ? messages : [...messages].reverse();
  const kept: T[] = [];
  let used = 0;
  for (const message of ordered) {
    const size = Buffer.byteLength(message.frame) + 1;
    if (kept.length > 0 && used + size > budget) break;
    kept.push(message);
    used += size;
  }
  return keep === 'oldest' ? kept : kept.reverse();
}
