import { AsyncLocalStorage } from 'node:async_hooks';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS, type MetricName } from '../lambdas/domain/constants.js';
import type { MetricSink, Stats } from '../lambdas/domain/ports.js';

/**
 * Where each name of `METRICS` (the one list the handlers emit to CloudWatch)
 * lands in Prometheus. `satisfies Record<MetricName, …>` makes a new metric name
 * a compile error until it is mapped here.
 */
const PROMETHEUS = {
  [METRICS.messagesIn]: { kind: 'frames' },
  [METRICS.delivered]: { kind: 'delivery', outcome: 'delivered' },
  [METRICS.pruned]: { kind: 'delivery', outcome: 'pruned' },
  [METRICS.failed]: { kind: 'delivery', outcome: 'failed' },
  [METRICS.fanoutDuration]: { kind: 'fanout' },
  [METRICS.pushRequests]: { kind: 'counter', name: 'roomcast_push_requests_total' },
  [METRICS.connectionsOpened]: { kind: 'counter', name: 'roomcast_connections_opened_total' },
  [METRICS.connectionsClosed]: { kind: 'counter', name: 'roomcast_connections_closed_total' },
  [METRICS.authFailures]: { kind: 'counter', name: 'roomcast_auth_failures_total' },
  [METRICS.clientErrors]: { kind: 'counter', name: 'roomcast_client_errors_total' },
  [METRICS.validationErrors]: { kind: 'counter', name: 'roomcast_validation_errors_total' },
  [METRICS.internalErrors]: { kind: 'counter', name: 'roomcast_internal_errors_total' },
  [METRICS.stored]: { kind: 'counter', name: 'roomcast_messages_stored_total' },
  [METRICS.seqConflicts]: { kind: 'counter', name: 'roomcast_seq_conflicts_total' },
  [METRICS.headsBehind]: { kind: 'counter', name: 'roomcast_stream_heads_behind_total' },
  [METRICS.replayed]: { kind: 'counter', name: 'roomcast_messages_replayed_total' },
  [METRICS.eventsPublished]: { kind: 'counter', name: 'roomcast_events_published_total' },
  [METRICS.eventsFailed]: { kind: 'counter', name: 'roomcast_events_failed_total' },
  [METRICS.eventsSlow]: { kind: 'counter', name: 'roomcast_events_slow_total' },
} as const satisfies Record<
  MetricName,
  { kind: 'frames' | 'fanout' } | { kind: 'delivery'; outcome: string } | { kind: 'counter'; name: string }
>;

export const DELIVERY_OUTCOMES = ['delivered', 'pruned', 'failed'] as const;
/** The label a push API request gets when no route matched (or it was refused before matching). */
export const UNMATCHED_ROUTE = 'unmatched';

/** The last fan-out durations, for the dashboard's p50/p99 (the histogram is for Prometheus). */
class DurationWindow {
  private readonly values: Float64Array;
  private size = 0;
  private next = 0;
  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
  }
  add(ms: number): void {
    this.values[this.next] = ms;
    this.next = (this.next + 1) % this.values.length;
    this.size = Math.min(this.size + 1, this.values.length);
  }
  quantiles(): { p50: number; p99: number; samples: number } | undefined {
    if (this.size === 0) return undefined;
    const sorted = Array.from(this.values.subarray(0, this.size)).sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
    return { p50: at(0.5), p99: at(0.99), samples: this.size };
  }
}

export interface LocalMetrics {
  registry: Registry;
  /** Tee target for the handlers' MetricSink. */
  sink: MetricSink;
  /** Runs one push API invocation and counts it by the route pattern the handler matched and the status. */
  countHttp<T extends { statusCode?: number }>(run: () => Promise<T>): Promise<T>;
  /** Counts a request to a local-only route (`GET /metrics`, the dashboard). */
  countLocalRoute(route: string, status: number): void;
  /** Totals so far, for the dashboard's rate charts. */
  totals(): Promise<{ frames: Record<string, number>; deliveries: Record<string, number> }>;
  fanoutQuantiles(): { p50: number; p99: number; samples: number } | undefined;
}

/**
 * The local stack's Prometheus registry (its own `Registry`, never the global
 * default), fed by the handlers' metric sink; the gauges read the store's
 * counters (the `GET /v1/stats` figures) at scrape time.
 */
export function createLocalMetrics(stats: () => Promise<Stats>): LocalMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // One stats query per scrape, shared by the three gauges.
  let pending: Promise<Stats> | undefined;
  const statsOnce = () => {
    pending ??= stats().finally(() => {
      pending = undefined;
    });
    return pending;
  };
  const gauge = (name: string, help: string, pick: (s: Stats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        // A store that does not answer costs these three their update, not the whole scrape (the
        // counters, InternalErrors first, matter most then): they keep their last values.
        const stats = await statsOnce().catch(() => undefined);
        if (stats) this.set(pick(stats));
      },
    });
  gauge(
    'roomcast_connections',
    'Open WebSocket connections (the store counters, as GET /v1/stats).',
    (s) => s.connections,
  );
  gauge('roomcast_users', 'Users with at least one open connection.', (s) => s.users);
  gauge('roomcast_rooms', 'Rooms with at least one member.', (s) => s.rooms);

  const frames = new Counter({
    name: 'roomcast_frames_in_total',
    help: 'Client frames received, by action (route key).',
    labelNames: ['action'],
    registers: [registry],
  });
  const deliveries = new Counter({
    name: 'roomcast_deliveries_total',
    help: 'Fan-out posts to connections, by outcome (delivered, pruned = gone, failed).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of DELIVERY_OUTCOMES) deliveries.inc({ outcome }, 0);
  const fanout = new Histogram({
    name: 'roomcast_fanout_duration_seconds',
    help: 'Time to deliver one message to every target connection.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const http = new Counter({
    name: 'roomcast_http_requests_total',
    help: 'HTTP requests to the push API and the local routes, by route pattern and status.',
    labelNames: ['route', 'status'],
    registers: [registry],
  });
  const counters = new Map<string, Counter>();
  for (const [metric, target] of Object.entries(PROMETHEUS)) {
    if (target.kind !== 'counter') continue;
    const help = `The handlers' ${metric} count (CloudWatch metric ${metric}).`;
    counters.set(target.name, new Counter({ name: target.name, help, registers: [registry] }));
  }
  const window = new DurationWindow(1024);
  // The route the push handler matched, per invocation (concurrent requests do not mix).
  const matched = new AsyncLocalStorage<{ route?: string }>();

  const sink: MetricSink = {
    count(name, value = 1, dimensions) {
      const target = PROMETHEUS[name as MetricName];
      if (!target) return;
      switch (target.kind) {
        case 'frames':
          frames.inc({ action: dimensions?.action ?? 'unknown' }, value);
          return;
        case 'delivery':
          if (value > 0) deliveries.inc({ outcome: target.outcome }, value);
          return;
        case 'counter': {
          counters.get(target.name)?.inc(value);
          const slot = matched.getStore();
          if (name === METRICS.pushRequests && slot && dimensions?.route) slot.route = dimensions.route;
          return;
        }
        default:
          return;
      }
    },
    milliseconds(name, value) {
      if (name !== METRICS.fanoutDuration) return;
      fanout.observe(value / 1000);
      window.add(value);
    },
  };

  const totalsOf = async (counter: Counter, label: string) => {
    const out: Record<string, number> = {};
    for (const v of (await counter.get()).values) out[String(v.labels[label])] = v.value;
    return out;
  };

  return {
    registry,
    sink,
    async countHttp(run) {
      const slot: { route?: string } = {};
      let status = 500;
      try {
        const answer = await matched.run(slot, run);
        status = answer.statusCode ?? 200;
        return answer;
      } finally {
        http.inc({ route: slot.route ?? UNMATCHED_ROUTE, status: String(status) });
      }
    },
    countLocalRoute(route, status) {
      http.inc({ route, status: String(status) });
    },
    async totals() {
      return { frames: await totalsOf(frames, 'action'), deliveries: await totalsOf(deliveries, 'outcome') };
    },
    fanoutQuantiles: () => window.quantiles(),
  };
}
