import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { METRICS } from '../domain/constants.js';
import type { BackendEvent } from '../domain/events.js';
import type { EventPublisher, MetricSink } from '../domain/ports.js';

/** PutEvents takes at most 10 entries per call. */
export const PUT_EVENTS_MAX_ENTRIES = 10;

export interface EventBridgePublisherOptions {
  /** The bus name or ARN. */
  busName: string;
  /** `roomcast.{stage}`. */
  source: string;
  metrics: MetricSink;
  /** Calls per batch in all (the first one included) before the failed entries are given up on. */
  maxAttempts?: number;
  /** Backoff before retry n is a random time up to min(capMs, baseMs · 2^n) (full jitter). */
  baseDelayMs?: number;
  capDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export class EventsNotSentError extends Error {
  override readonly name = 'EventsNotSentError';
  constructor(
    readonly failed: number,
    options?: { cause?: unknown },
  ) {
    super(`${failed} event(s) could not be put on the bus`, options);
  }
}

export function createEventBridgeClient(region: string): EventBridgeClient {
  // Short timeouts: a request waits on the publisher a bounded time, and retries are ours.
  return new EventBridgeClient({
    region,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 1000, requestTimeout: 2000 }),
  });
}

/**
 * The EventPublisher over EventBridge: PutEvents in batches of up to 10 entries;
 * the entries of a partial failure (or of a failed call) are retried with capped
 * exponential backoff and full jitter; what is still unsent is counted as
 * EventsFailed and the promise rejects.
 */
export class EventBridgePublisher implements EventPublisher {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly capDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(
    private readonly client: EventBridgeClient,
    private readonly options: EventBridgePublisherOptions,
  ) {
    this.maxAttempts = options.maxAttempts ?? 3;
    this.baseDelayMs = options.baseDelayMs ?? 50;
    this.capDelayMs = options.capDelayMs ?? 400;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
  }

  async publish(events: BackendEvent[]): Promise<void> {
    const batches: PutEventsRequestEntry[][] = [];
    for (let i = 0; i < events.length; i += PUT_EVENTS_MAX_ENTRIES) {
      batches.push(events.slice(i, i + PUT_EVENTS_MAX_ENTRIES).map((e) => this.entry(e)));
    }
    const unsent = await Promise.all(batches.map((batch) => this.putBatch(batch)));
    const failed = unsent.reduce((sum, n) => sum + n.count, 0);
    this.options.metrics.count(METRICS.eventsPublished, events.length - failed);
    if (failed > 0) {
      this.options.metrics.count(METRICS.eventsFailed, failed);
      throw new EventsNotSentError(failed, { cause: unsent.find((u) => u.cause)?.cause });
    }
  }

  private entry(event: BackendEvent): PutEventsRequestEntry {
    return {
      EventBusName: this.options.busName,
      Source: this.options.source,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
    };
  }

  /** Puts one batch, retrying what failed; answers how many entries were never accepted. */
  private async putBatch(entries: PutEventsRequestEntry[]): Promise<{ count: number; cause?: unknown }> {
    let pending = entries;
    let cause: unknown;
    for (let attempt = 0; attempt < this.maxAttempts && pending.length > 0; attempt += 1) {
      if (attempt > 0) {
        const ceiling = Math.min(this.capDelayMs, this.baseDelayMs * 2 ** attempt);
        await this.sleep(Math.floor(this.random() * ceiling));
      }
      try {
        const out = await this.client.send(new PutEventsCommand({ Entries: pending }));
        if (!out.FailedEntryCount) return { count: 0 };
        const results: (PutEventsResultEntry | undefined)[] = out.Entries ?? [];
        // Result entries are in request order; a failed one carries an ErrorCode.
        pending = pending.filter((_, i) => results[i]?.ErrorCode !== undefined || results[i] === undefined);
        const firstError = results.find((r) => r?.ErrorCode);
        cause = new Error(`${firstError?.ErrorCode}: ${firstError?.ErrorMessage ?? ''}`);
      } catch (error) {
        cause = error;
      }
    }
    return { count: pending.length, cause };
  }
}
