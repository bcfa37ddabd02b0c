import { METRICS } from './constants.js';
import { InternalError, PayloadTooLargeError } from './errors.js';
import { byteLength } from './input.js';
import type { Clock, EventPublisher, MetricSink, RemovedConnection } from './ports.js';

/** The `detail-type` of every event roomcast sends to backends (CONTRACT section 7). */
export const EVENT_TYPES = {
  connectionOpened: 'connection.opened',
  connectionClosed: 'connection.closed',
  userOnline: 'user.online',
  userOffline: 'user.offline',
  roomJoined: 'room.joined',
  roomLeft: 'room.left',
  clientEvent: 'client.event',
} as const;

/** Why a connection closed: the client, a backend, a delivery that found it gone (410), or TTL expiry. */
export type CloseReason = 'client' | 'server' | 'gone' | 'expired';

/**
 * Every event's `detail` has `ts`, when it happened (ms since the epoch): events can reach a backend
 * out of order (retries, several in flight), and `ts` orders them. BackendEvents stamps it on the
 * events that do not carry their own.
 */
export type BackendEvent =
  | {
      detailType: typeof EVENT_TYPES.connectionOpened;
      detail: { connectionId: string; userId: string; connectedAt: number; ts?: number };
    }
  | {
      detailType: typeof EVENT_TYPES.connectionClosed;
      detail: { connectionId: string; userId: string; reason: CloseReason; ts?: number };
    }
  | {
      detailType: typeof EVENT_TYPES.userOnline | typeof EVENT_TYPES.userOffline;
      /** `version`: the user's count's change number, which orders these two exactly (per user). */
      detail: { userId: string; ts?: number; version?: number };
    }
  | {
      detailType: typeof EVENT_TYPES.roomJoined | typeof EVENT_TYPES.roomLeft;
      detail: { room: string; userId: string; connectionId: string; ts?: number };
    }
  | {
      detailType: typeof EVENT_TYPES.clientEvent;
      detail: {
        userId: string;
        connectionId: string;
        event: string;
        data: unknown;
        messageId: string;
        ts: number;
      };
    };

/** EventBridge refuses a PutEvents entry larger than 256 KB (detail, detail-type, source and resources). */
export const MAX_EVENT_ENTRY_BYTES = 256 * 1024;

/** The size EventBridge counts for one entry of this event. */
export function eventEntrySize(event: BackendEvent, source: string): number {
  return byteLength(event.detailType) + byteLength(source) + byteLength(JSON.stringify(event.detail));
}

export function assertEventSize(event: BackendEvent, source: string): void {
  const size = eventEntrySize(event, source);
  if (size > MAX_EVENT_ENTRY_BYTES) {
    throw new PayloadTooLargeError(
      `the event is ${size} bytes; events to backends are at most ${MAX_EVENT_ENTRY_BYTES} bytes`,
    );
  }
}

/** The `connection.closed` event and, when it was the user's last connection, `user.offline`. */
export function closedEvents(gone: RemovedConnection, reason: CloseReason): BackendEvent[] {
  const at = gone.at === undefined ? {} : { ts: gone.at };
  const version = gone.version === undefined ? {} : { version: gone.version };
  const closed: BackendEvent = {
    detailType: EVENT_TYPES.connectionClosed,
    detail: { connectionId: gone.connectionId, userId: gone.userId, reason, ...at },
  };
  return gone.lastOfUser
    ? [closed, { detailType: EVENT_TYPES.userOffline, detail: { userId: gone.userId, ...at, ...version } }]
    : [closed];
}

export interface BackendEventsDeps {
  /** Absent: events to backends are off. */
  publisher: EventPublisher | undefined;
  /** The events' `source` (`roomcast.{stage}`), counted in an entry's size. */
  source: string;
  metrics: MetricSink;
  /** Stamps `ts` on the events that do not carry one. */
  clock: Clock;
  /** Longest a request waits for the publisher before it goes on without it. */
  timeoutMs: number;
  /** Where a publishing problem is reported (never to the client). */
  warn: (message: string, error?: unknown) => void;
}

/**
 * Sends events to backends on behalf of the use cases. `notify` starts sending
 * and returns at once; `settle` (called by the handler wrapper once the answer
 * is out) waits for what is still being sent, at most `timeoutMs`, so a Lambda
 * function is not frozen mid-request and no request fails or hangs because of a
 * backend. `accept` (for `emit`) waits until the publisher accepted the event and
 * throws InternalError when it did not.
 */
export class BackendEvents {
  private readonly sending = new Map<Promise<void>, number>();

  constructor(private readonly deps: BackendEventsDeps) {}

  get enabled(): boolean {
    return this.deps.publisher !== undefined;
  }

  notify(events: BackendEvent[]): void {
    const { publisher } = this.deps;
    if (!publisher || events.length === 0) return;
    const now = this.deps.clock.now();
    const stamped = events.map((event) =>
      event.detail.ts === undefined
        ? ({ ...event, detail: { ...event.detail, ts: now } } as BackendEvent)
        : event,
    );
    const sent: Promise<void> = publisher
      .publish(stamped)
      .catch((error: unknown) => {
        this.deps.metrics.count(METRICS.eventsFailed, events.length);
        this.deps.warn('events to backends could not be sent', error);
      })
      .finally(() => this.sending.delete(sent));
    this.sending.set(sent, events.length);
  }

  /** Waits for the events being sent, at most `timeoutMs`; never throws. */
  async settle(): Promise<void> {
    if (this.sending.size === 0) return;
    const waiting = [...this.sending.keys()];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.deps.timeoutMs);
    });
    try {
      if ((await Promise.race([Promise.all(waiting), timedOut])) !== 'timeout') return;
      let slow = 0;
      for (const promise of waiting) {
        slow += this.sending.get(promise) ?? 0;
        this.sending.delete(promise);
      }
      this.deps.metrics.count(METRICS.eventsSlow, slow);
      this.deps.warn(`the event publisher took over ${this.deps.timeoutMs} ms; not waiting for it`);
    } finally {
      clearTimeout(timer);
    }
  }

  async accept(event: BackendEvent): Promise<void> {
    assertEventSize(event, this.deps.source);
    const { publisher } = this.deps;
    if (!publisher) throw new InternalError('events to backends are not configured on this stage');
    try {
      await publisher.publish([event]);
    } catch (error) {
      this.deps.metrics.count(METRICS.eventsFailed);
      this.deps.warn('an emitted event could not be sent', error);
      throw new InternalError('the event could not be handed to the backends; try again', error);
    }
  }
}
