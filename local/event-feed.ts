/** One event the service sent to a backend (CONTRACT §7), as the dashboard shows it. */
export interface SentEvent {
  /** Epoch milliseconds. */
  at: number;
  type: string;
  /** Where it went (bus, queue, URL). */
  target: string;
  /** `sent` or the failure reason. */
  result: string;
  detail?: Record<string, unknown>;
}

/**
 * The port an event publisher pushes into so the local dashboard can show what
 * was sent to backends. While no publisher is configured (no webhook URL),
 * `publisher` stays undefined and the dashboard says so.
 */
export interface EventFeed {
  /** The configured publisher's name, or undefined while none is configured. */
  readonly publisher: string | undefined;
  /** A publisher announces itself once it is configured. */
  attach(publisher: string): void;
  record(event: SentEvent): void;
  /** The last events, newest last. */
  recent(): readonly SentEvent[];
}

export function createEventFeed(capacity = 100): EventFeed {
  const events: SentEvent[] = [];
  let publisher: string | undefined;
  return {
    get publisher() {
      return publisher;
    },
    attach(name) {
      publisher = name;
    },
    record(event) {
      events.push(event);
      if (events.length > capacity) events.splice(0, events.length - capacity);
    },
    recent: () => events,
  };
}
