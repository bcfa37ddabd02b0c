import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { METRICS } from '../lambdas/domain/constants.js';
import type { BackendEvent } from '../lambdas/domain/events.js';
import type { EventPublisher, MetricSink } from '../lambdas/domain/ports.js';

export const SIGNATURE_HEADER = 'x-roomcast-signature';

/** `sha256=<hex HMAC-SHA256 of the raw body>`, the value of X-Roomcast-Signature. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Timers the sender waits with; tests pass virtual ones so backoff takes no real time. */
export interface SenderTimers {
  now(): number;
  /** Runs `fn` after `ms`; answers a function that cancels it. */
  schedule(fn: () => void, ms: number): () => void;
}

export const realTimers: SenderTimers = {
  now: () => Date.now(),
  schedule: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface WebhookSenderOptions {
  url: string;
  secret: string;
  /** `source` of the envelope (`roomcast.local`). */
  source: string;
  region: string;
  account: string;
  metrics: MetricSink;
  warn: (message: string, fields?: Record<string, unknown>) => void;
  /** Events held at once (waiting, in flight or waiting to retry); when full, new events are refused. */
  maxQueue?: number;
  /** POSTs in flight at once. */
  concurrency?: number;
  /** One POST's longest wait for an answer. */
  requestTimeoutMs?: number;
  /** An event is retried until this long after its first attempt (it is always tried once). */
  retryForMs?: number;
  baseDelayMs?: number;
  capDelayMs?: number;
  timers?: SenderTimers;
  random?: () => number;
  /** Told how each event ended: delivered (2xx), given up, or refused by a full queue (the local dashboard shows it). */
  onOutcome?: (outcome: { id: string; event: BackendEvent; result: string; at: number }) => void;
}

interface Delivery {
  id: string;
  event: BackendEvent;
  body: string;
  firstTriedAt: number | undefined;
  attempts: number;
}

/**
 * The local EventPublisher: POSTs each event to ROOMCAST_WEBHOOK_URL as an
 * EventBridge envelope, signed with HMAC-SHA256. `publish` only queues (it never
 * waits on the receiver); the queue is bounded and refuses new events when full
 * (the oldest are kept: they were accepted first). Errors, non-2xx answers and
 * timeouts are retried with capped exponential backoff and jitter for a minute;
 * the envelope's `id` stays the same across retries, so receivers can drop repeats.
 */
export class WebhookSender implements EventPublisher {
  private readonly waiting: Delivery[] = [];
  private inFlight = 0;
  private retrying = 0;
  private readonly cancels = new Set<() => void>();
  private readonly aborts = new Set<http.ClientRequest>();
  private readonly agent: http.Agent;
  private readonly target: URL;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private readonly o: Required<Omit<WebhookSenderOptions, 'metrics' | 'warn' | 'onOutcome'>> &
    Pick<WebhookSenderOptions, 'metrics' | 'warn' | 'onOutcome'>;

  constructor(options: WebhookSenderOptions) {
    this.o = {
      maxQueue: 10_000,
      concurrency: 8,
      requestTimeoutMs: 5000,
      retryForMs: 60_000,
      baseDelayMs: 250,
      capDelayMs: 10_000,
      timers: realTimers,
      random: Math.random,
      ...options,
    };
    this.target = new URL(this.o.url);
    if (this.target.protocol !== 'http:' && this.target.protocol !== 'https:') {
      throw new Error(`a webhook URL must be http:// or https://, not ${this.target.protocol}`);
    }
    // Keep-alive sockets, at most one per POST in flight: cheaper per event than fetch.
    const Agent = this.target.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: this.o.concurrency });
  }

  /** Events held now (waiting, in flight, or waiting to retry). */
  get size(): number {
    return this.waiting.length + this.inFlight + this.retrying;
  }

  async publish(events: BackendEvent[]): Promise<void> {
    if (this.closed) throw new Error('the webhook sender is stopped');
    if (this.size + events.length > this.o.maxQueue) {
      this.o.metrics.count(METRICS.eventsFailed, events.length);
      this.o.warn('webhook queue is full; refusing new events', { refused: events.length, held: this.size });
      for (const event of events) {
        this.o.onOutcome?.({ id: '', event, result: 'refused: queue full', at: this.o.timers.now() });
      }
      throw new Error(`the webhook queue is full (${this.o.maxQueue} events)`);
    }
    for (const event of events) this.waiting.push(this.delivery(event));
    this.o.metrics.count(METRICS.eventsPublished, events.length);
    // Sending starts after the caller's turn: the handler that published goes on first.
    setImmediate(() => this.pump());
  }

  /** Resolves when nothing is waiting, in flight or due for a retry. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops: pending retries are dropped and POSTs in flight aborted. */
  async close(): Promise<void> {
    this.closed = true;
    for (const cancel of this.cancels) cancel();
    for (const request of this.aborts) request.destroy();
    this.agent.destroy();
    this.cancels.clear();
    this.retrying = 0;
    this.waiting.length = 0;
    this.settleIdle();
  }

  private delivery(event: BackendEvent): Delivery {
    const id = randomUUID();
    const body = JSON.stringify({
      version: '0',
      id,
      'detail-type': event.detailType,
      source: this.o.source,
      account: this.o.account,
      time: new Date(this.o.timers.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.o.region,
      resources: [],
      detail: event.detail,
    });
    return { id, event, body, firstTriedAt: undefined, attempts: 0 };
  }

  private tell(d: Delivery, result: string): void {
    this.o.onOutcome?.({ id: d.id, event: d.event, result, at: this.o.timers.now() });
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.o.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift() as Delivery;
      this.inFlight += 1;
      void this.attempt(next)
        .catch((error: unknown) =>
          this.o.warn('webhook delivery failed', { error: (error as Error).message }),
        )
        .finally(() => {
          this.inFlight -= 1;
          this.pump();
          this.settleIdle();
        });
    }
  }

  private async attempt(d: Delivery): Promise<void> {
    d.firstTriedAt ??= this.o.timers.now();
    d.attempts += 1;
    // A request that cannot even be built (a header node refuses) is a failed attempt like any other.
    const problem = await this.post(d).catch(
      (error: unknown) => (error as Error).message || 'request failed',
    );
    if (problem === undefined) this.tell(d, d.attempts === 1 ? 'sent' : `sent (attempt ${d.attempts})`);
    if (problem === undefined || this.closed) return;
    const delay = this.backoff(d.attempts);
    if (this.o.timers.now() + delay - d.firstTriedAt > this.o.retryForMs) {
      this.o.metrics.count(METRICS.eventsFailed);
      this.o.warn('webhook gave up on an event', { id: d.id, attempts: d.attempts, problem });
      this.tell(d, `gave up after ${d.attempts} attempts: ${problem}`);
      return;
    }
    this.retrying += 1;
    const cancel = this.o.timers.schedule(() => {
      this.cancels.delete(cancel);
      this.retrying -= 1;
      this.waiting.push(d);
      this.pump();
    }, delay);
    this.cancels.add(cancel);
  }

  /** One POST; undefined when the receiver answered 2xx, else what went wrong. */
  private post(d: Delivery): Promise<string | undefined> {
    return new Promise((resolve) => {
      const transport = this.target.protocol === 'https:' ? https : http;
      const request = transport.request(this.target, {
        method: 'POST',
        agent: this.agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(d.body),
          [SIGNATURE_HEADER]: signBody(d.body, this.o.secret),
        },
      });
      this.aborts.add(request);
      let settled = false;
      const settle = (problem: string | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        this.aborts.delete(request);
        resolve(problem);
      };
      // Real time: the receiver's answer takes real time whatever timers drive the backoff.
      const timeout = setTimeout(() => {
        settle('timeout');
        request.destroy();
      }, this.o.requestTimeoutMs);
      timeout.unref();
      request.on('response', (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        response.on('end', () => settle(status >= 200 && status < 300 ? undefined : `HTTP ${status}`));
        response.on('error', (error) => settle(error.message));
      });
      request.on('error', (error) => settle(error.message));
      request.end(d.body);
    });
  }

  /** Capped exponential backoff with equal jitter: half fixed, half random. */
  private backoff(attempts: number): number {
    const ceiling = Math.min(this.o.capDelayMs, this.o.baseDelayMs * 2 ** (attempts - 1));
    return Math.floor(ceiling / 2 + (this.o.random() * ceiling) / 2);
  }

  private settleIdle(): void {
    if (this.size !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * A webhook URL as it may be shown (the dashboard, the start banner, logs): its user, password and
 * query values, which often carry the receiver's credentials, replaced by `***`.
 */
export function shownUrl(url: string): string {
  try {
    const shown = new URL(url);
    if (shown.username) shown.username = '***';
    if (shown.password) shown.password = '***';
    for (const name of [...new Set(shown.searchParams.keys())]) shown.searchParams.set(name, '***');
    return shown.href.replaceAll('%2A%2A%2A', '***');
  } catch {
    return '(not a URL)';
  }
}
