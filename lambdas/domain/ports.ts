/**
 * The ports the domain talks through. Adapters implement them over DynamoDB and
 * the API Gateway management API; tests implement them in memory.
 */

import type { BackendEvent } from './events.js';

export interface ConnectionRecord {
  connectionId: string;
  userId: string;
  /** Epoch milliseconds. */
  connectedAt: number;
  /** Epoch seconds after which the record is treated as gone (DynamoDB TTL). */
  expiresAt: number;
}

export interface MemberRecord {
  room: string;
  connectionId: string;
  userId: string;
  /** Epoch milliseconds. */
  joinedAt: number;
  expiresAt: number;
}

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

export interface Stats {
  connections: number;
  users: number;
  rooms: number;
}

export interface ConnectionStore {
  /** Stores a connection; `firstOfUser` when the user's connection count went from 0 to 1. */
  /**
   * `version`: the user's count's change number, one more at every connect and disconnect of the
   * user (DynamoDB applies the updates of one item one at a time): it orders `user.online` and
   * `user.offline` exactly, where the `ts` of two functions can tie or cross.
   */
  putConnection(connection: ConnectionRecord): Promise<{ firstOfUser: boolean; version?: number }>;
  getConnection(connectionId: string): Promise<ConnectionRecord | undefined>;
  /**
   * Removes the connection and all its memberships; what it removed. Idempotent. The memberships
   * are removed (and returned) even when the connection item was already gone: a cleanup that
   * stopped half way, or one that ran before the membership index showed a join.
   */
  removeConnection(connectionId: string): Promise<Settled>;
  userConnections(userId: string): Promise<ConnectionRecord[]>;
  /**
   * Adds a membership; what changed when it is new, undefined when it was already stored.
   * `afterWrite` runs once the membership item is written, alongside the counters (a join's
   * check that its connection is still open: one round trip less than after them).
   */
  addMember(member: MemberRecord, afterWrite?: () => Promise<void>): Promise<RoomChange | undefined>;
  /**
   * Records a just-written membership's room where the connection's close will find it, only
   * while the connection is open: true when it is (a join's check after its write).
   */
  recordRoom(connectionId: string, room: string): Promise<boolean>;
  /** Removes a membership; what changed when a live one existed, undefined otherwise. */
  removeMember(room: string, connectionId: string): Promise<RoomChange | undefined>;
  isMember(room: string, connectionId: string): Promise<boolean>;
  /** How many of the user's connections are in the room now (its presence counter, read consistently). */
  roomUserConnections(room: string, userId: string): Promise<number>;
  /** Connection ids of a room's live members, page by page, for fan-out. */
  roomConnectionIds(room: string): AsyncIterable<TargetPage>;
  /**
   * A room's size from its counter (the room is not read for it) and its members page by page,
   * read only if iterated: what a publish needs to decide between delivering and queuing.
   */
  roomTargets(room: string): Promise<RoomTargets>;
  /** Connection ids of every live connection, page by page, for broadcast. */
  allConnectionIds(): AsyncIterable<TargetPage>;
  /** A page of a room's members, and the room's member counter (the room is not read past the page). */
  listMembers(room: string, options: { limit: number; nextToken?: string }): Promise<MemberPage>;
  countMembers(room: string): Promise<number>;
  stats(): Promise<Stats>;
  /** Throws when the store cannot be reached. */
  checkHealth(): Promise<void>;
  /**
   * Settles the counters for an item deleted without any handler removing it: by the store's TTL,
   * or an orphan membership the reconciliation deleted.
   */
  settleExpired(item: Record<string, unknown>): Promise<Settled>;
  /**
   * Notes how old the oldest TTL deletion of the stream batch being settled is: while it is older
   * than the reconciliation's wait, deletions not settled yet would look like drift to it.
   */
  noteExpiryLag(ageMs: number): Promise<void>;
  /** Who is in a room: the first `limit` users with their connection counts, and the total (from counters). */
  roomPresence(room: string, limit: number): Promise<RoomPresence>;
  /**
   * Recounts every counter from the items it counts and sets it to the truth; deletes
   * "everyone" entries and memberships whose connection is gone. Off the hot path (a Scan).
   */
  reconcile(): Promise<ReconcileReport>;
}

export type PostOutcome = 'delivered' | 'gone' | 'failed';

export interface ConnectionGateway {
  /** Posts one text frame to one connection; never throws. */
  post(connectionId: string, payload: string): Promise<PostOutcome>;
  /** Closes a connection; false when it was already gone. */
  close(connectionId: string): Promise<boolean>;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export interface IdGenerator {
  /** A new message id that sorts by time (ULID). */
  messageId(): string;
}

/** Counts or timings the domain reports; the adapter turns them into CloudWatch metrics. */
export interface MetricSink {
  /** `dimensions` (bounded values only, e.g. the frame's route key) feed the local /metrics labels. */
  count(name: string, value?: number, dimensions?: Readonly<Record<string, string>>): void;
  milliseconds(name: string, value: number): void;
}

/** A stream of stored messages: every room is one, and so is every user (the mailbox). */
export interface StreamId {
  kind: 'room' | 'user';
  name: string;
}

export interface StoredMessage {
  seq: number;
  /** The message frame exactly as delivered, JSON text. */
  frame: string;
}

export interface AppendResult {
  seq: number;
  /** Conditional puts that found their seq taken and moved on to the next one. */
  conflicts: number;
}

export type IdempotencyClaim =
  /**
   * `token`: this claim's, for its later writes to the record (see `asOwner` in the adapter);
   * `stored`: what an earlier run under this key stored before it failed (see `noteStored`).
   */
  | { state: 'new'; token: string; stored?: string }
  | { state: 'done'; fingerprint: string; answer: string }
  | { state: 'pending'; fingerprint: string };

/** Stored messages per stream (history, resume, the mailbox) and idempotency records. */
export interface StreamStore {
  /**
   * Stores a message at its stream's next seq: taking the number and storing the
   * message are one conditional write, retried on the next seq when taken.
   */
  append(stream: StreamId, frame: (seq: number) => string, expiresAt: number): Promise<AppendResult>;
  /** Moves the stream's head (which outlives the messages) forward to `seq`; never back. */
  advance(stream: StreamId, seq: number): Promise<void>;
  /** The stream's latest seq (0 when nothing was ever stored); seqs are never reused. */
  latest(stream: StreamId): Promise<number>;
  /**
   * Live messages in ascending seq: `after` gives the oldest `limit` with a greater
   * seq, `before` the latest `limit` with a smaller one, neither the latest `limit`.
   * `more` is true when further messages exist in the direction asked.
   */
  read(
    stream: StreamId,
    query: { after?: number; before?: number; limit: number },
  ): Promise<{ messages: StoredMessage[]; more: boolean }>;
  /** Claims an idempotency key: `new` when this caller is the first and must run the request. */
  claim(key: string, fingerprint: string, expiresAt: number, staleAfterMs: number): Promise<IdempotencyClaim>;
  /**
   * The writes below are made by the claim holding `token`, and only while it holds the record: one
   * that ran past the stale time and was taken over writes nothing.
   */
  /** Records the answer of a claimed key. */
  complete(key: string, token: string, answer: string): Promise<void>;
  /**
   * Records what the request stored, as soon as it is stored (before it is delivered): a claim that
   * dies later (a timeout, a crash) leaves the record pending with it, and the claim that takes the
   * record over once it is stale gets it back, so the retry delivers that message instead of
   * storing another.
   */
  noteStored(key: string, token: string, stored: string): Promise<void>;
  /** Gives a claimed key up (the request failed before storing anything), so a retry runs again. */
  release(key: string, token: string): Promise<void>;
  /** Hands a claimed key whose request failed after storing its message to the next retry at once. */
  park(key: string, token: string, stored: string): Promise<void>;
}

/** What removing a connection changed: whose it was and whether it was the user's last one. */
export interface RemovedConnection {
  connectionId: string;
  userId: string;
  /** The user's connection count went from 1 to 0 with this removal. */
  lastOfUser: boolean;
  /**
   * When the user's count changed (ms): the `ts` of `connection.closed` and `user.offline`, which go
   * out only once the whole close is done; a reconnect counted meanwhile must come after it by `ts`.
   */
  at?: number;
  /** The user's counter's version after this change (see `ConnectionStore.putConnection`). */
  version?: number;
}

/** One membership added or removed. */
export interface RoomChange {
  room: string;
  connectionId: string;
  userId: string;
  /** The user's connection count in the room went 0→1 (added) or 1→0 (removed): a presence change. */
  userChanged: boolean;
  /** The room's member count after the change, from its counter: how large an announcement is. */
  members: number;
}

/**
 * What a removal or a TTL deletion settled: the connection when its item was still stored (only
 * then is it counted out and announced closed), and the memberships removed.
 */
export interface Settled {
  connection?: RemovedConnection;
  rooms: RoomChange[];
  /**
   * Present when a part of a removal failed after the rest was done: `connection` and `rooms` are
   * what was removed all the same (to be announced), and the caller then fails with this.
   */
  failure?: unknown;
}

export interface MemberPage extends Page<MemberRecord> {
  /** The room's member count from its counter. */
  counted: number;
}

export interface RoomTargets {
  size: number;
  pages: AsyncIterable<TargetPage>;
}

/**
 * A page of connection ids and where it was read (a partition, a shard): work split from the
 * pages of one source is the same when it is split again, whatever order the sources answer in.
 */
export interface TargetPage {
  source: string;
  ids: readonly string[];
}

export interface RoomPresence {
  /** Users in the room. */
  count: number;
  users: { userId: string; connections: number }[];
}

/** What one reconciliation corrected. */
export interface ReconcileReport {
  /** Counter items whose value was wrong and was set. */
  countersFixed: number;
  /** Orphans deleted: "everyone" entries and memberships of connections that are gone, empty presence items. */
  orphansDeleted: number;
  /** Set when counters were left alone because the expiry consumer is behind the table's stream. */
  expiryBehind?: true;
}

/** Hands events to the backends (EventBridge on AWS, a signed webhook locally). */
export interface EventPublisher {
  /** Resolves once every event was accepted (sent, or queued to be sent); rejects when one was not. */
  publish(events: BackendEvent[]): Promise<void>;
}
