import type { RoomcastError } from './errors.js';
import type { PositionStorage } from './storage.js';
import type { Timers } from './timers.js';

/** A listener that accepts the event classes of both the DOM and `ws` (method syntax keeps parameters bivariant). */
type Listener<E> = { bivariant(event: E): void }['bivariant'];

/** The part of a WebSocket the client uses: the browser's WebSocket and the `ws` package both have it. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Listener<unknown> | null;
  onmessage: Listener<{ data: unknown }> | null;
  onclose: Listener<unknown> | null;
  onerror: Listener<unknown> | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type ClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface RoomcastClientOptions {
  /** The WebSocket endpoint, e.g. `wss://abc.execute-api.eu-west-1.amazonaws.com/prod` or `ws://127.0.0.1:4000/`. */
  url: string;
  /** A JWT, or a function that returns a fresh one; it is called again before every connection attempt. */
  token: string | (() => string | Promise<string>);
  /** The WebSocket class; defaults to the global one (browsers, Node 22). In Node 20 pass `WebSocket` from `ws`. */
  WebSocket?: WebSocketConstructor;
  /** Where the last `seq` of each stream is kept; defaults to `localStorage` in browsers, memory elsewhere. */
  storage?: PositionStorage;
  /** No answer within this time rejects a request with TIMEOUT (default 10 000). */
  requestTimeoutMs?: number;
  /**
   * Ping after this long without a frame coming in (default 300 000; API Gateway closes idle
   * connections at 10 min). Frames the client sends do not count: on a half-open connection they go nowhere.
   */
  pingAfterMs?: number;
  /** Replace the connection after this long (default 6 600 000, 1 h 50 min; API Gateway's limit is 2 h). */
  rolloverAfterMs?: number;
  /** How long a frame may wait for an earlier `seq` before the gap is filled from the server (default 1 000). */
  gapFillDelayMs?: number;
  /** Reconnect delays: full jitter between `backoffMinMs` and min(`backoffMaxMs`, min·2^(attempt+1)) (defaults 500, 30 000). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** For tests: a clock and timers, and the random source of the jitter. */
  timers?: Timers;
  random?: () => number;
}

/** What a handler learns about a delivered message. `seq` is absent for messages that were not stored. */
export interface MessageMeta {
  room?: string;
  from?: string;
  messageId: string;
  seq?: number;
  ts: number;
}

/** A message frame as the server sends it. */
export interface MessageFrame extends MessageMeta {
  type: 'message';
  event: string;
  data: unknown;
}

/** The server's answer to `send`, `direct` and `emit`. */
export interface Ack {
  messageId: string;
  ts: number;
  /** The message's place in its stream (absent when not stored). */
  seq?: number;
  /** True when an earlier request with the same idempotency key was already delivered. */
  replayed?: boolean;
}

export interface HistoryPage {
  room: string;
  messages: MessageFrame[];
  /** The room's latest `seq`. */
  seq: number;
  more: boolean;
}

export interface HistoryOptions {
  since?: number;
  before?: number;
  limit?: number;
}

export interface PresenceAnswer {
  room: string;
  count: number;
  users: { userId: string; connections: number }[];
}

export interface PresenceEvent {
  room: string;
  event: 'join' | 'leave';
  userId: string;
}

export interface Pong {
  ts: number;
  connectionId?: string;
  userId?: string;
}

export interface PublishOptions {
  /** false: not stored, no `seq` (typing indicators, cursors). Not for `emit`. */
  store?: boolean;
  /** Defaults to a fresh random key; a retry with the same key is never delivered twice. */
  idempotencyKey?: string;
}

/** The optimistic state of one `send`, `direct` or `emit`, reported on `client.on('outgoing')`. */
export interface Outgoing {
  /** The idempotency key, also on the handle `send` returns. */
  key: string;
  action: 'send' | 'direct' | 'emit';
  room?: string;
  userId?: string;
  event: string;
  data: unknown;
  state: 'pending' | 'sent' | 'failed';
  ack?: Ack;
  error?: RoomcastError;
}

/** What `send`, `direct` and `emit` return: the promise of the ack, with the request's idempotency key. */
export type PublishHandle = Promise<Ack> & { key: string };
