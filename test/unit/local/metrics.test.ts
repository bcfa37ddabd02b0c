import { describe, expect, it } from 'vitest';
import { METRICS } from '../../../lambdas/domain/constants.js';
import { createLocalMetrics, UNMATCHED_ROUTE } from '../../../local/metrics.js';

const stats = async () => ({ connections: 4, users: 3, rooms: 2 });

async function sampleValue(metrics: ReturnType<typeof createLocalMetrics>, name: string, labels = {}) {
  const metric = metrics.registry.getSingleMetric(name);
  const values = (await metric?.get())?.values ?? [];
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

describe('local metrics registry', () => {
  it('uses its own registry, never the global default one', async () => {
    const { register } = await import('prom-client');
    const a = createLocalMetrics(stats);
    const b = createLocalMetrics(stats);
    a.sink.count(METRICS.messagesIn, 1, { action: 'join' });
    expect(await sampleValue(a, 'roomcast_frames_in_total', { action: 'join' })).toBe(1);
    expect(await sampleValue(b, 'roomcast_frames_in_total', { action: 'join' })).toBe(0);
    expect(register.getSingleMetric('roomcast_frames_in_total')).toBeUndefined();
  });

  it('maps frames by action, deliveries by outcome and fan-out time to seconds', async () => {
    const m = createLocalMetrics(stats);
    m.sink.count(METRICS.messagesIn, 1, { action: 'send' });
    m.sink.count(METRICS.messagesIn, 1, { action: 'send' });
    m.sink.count(METRICS.delivered, 5);
    m.sink.count(METRICS.pruned, 2);
    m.sink.count(METRICS.failed, 0);
    m.sink.milliseconds(METRICS.fanoutDuration, 30);
    expect(await sampleValue(m, 'roomcast_frames_in_total', { action: 'send' })).toBe(2);
    expect(await sampleValue(m, 'roomcast_deliveries_total', { outcome: 'delivered' })).toBe(5);
    expect(await sampleValue(m, 'roomcast_deliveries_total', { outcome: 'pruned' })).toBe(2);
    expect(await sampleValue(m, 'roomcast_deliveries_total', { outcome: 'failed' })).toBe(0);
    const text = await m.registry.metrics();
    expect(text).toContain('roomcast_fanout_duration_seconds_sum 0.03');
    expect(text).toContain('roomcast_fanout_duration_seconds_bucket{le="0.05"} 1');
    expect(m.fanoutQuantiles()).toEqual({ p50: 30, p99: 30, samples: 1 });
  });

  it('gives every name of METRICS a Prometheus series', async () => {
    const m = createLocalMetrics(stats);
    const before = await m.registry.metrics();
    for (const name of Object.values(METRICS)) {
      if (name === METRICS.fanoutDuration) m.sink.milliseconds(name, 1);
      else m.sink.count(name, 1, { action: 'ping' });
    }
    const after = await m.registry.getMetricsAsJSON();
    const counted = after.filter((f) => f.name.startsWith('roomcast_') && String(f.type) === 'counter');
    expect(counted.length).toBeGreaterThanOrEqual(8);
    for (const family of counted) {
      if (family.name === 'roomcast_http_requests_total') continue;
      const total = family.values.reduce((sum, v) => sum + v.value, 0);
      expect(total, family.name).toBeGreaterThan(0);
    }
    expect(before).not.toBe(await m.registry.metrics());
  });

  it('reads the gauges from the store stats at scrape time', async () => {
    let connections = 1;
    const m = createLocalMetrics(async () => ({ connections, users: 1, rooms: 0 }));
    expect(await m.registry.metrics()).toContain('roomcast_connections 1');
    connections = 7;
    expect(await m.registry.metrics()).toContain('roomcast_connections 7');
  });

  it('serves every other metric while the store does not answer, the gauges keeping their last values', async () => {
    let up = true;
    const m = createLocalMetrics(async () => {
      if (!up) throw new Error('the store did not answer in time');
      return { connections: 5, users: 1, rooms: 0 };
    });
    expect(await m.registry.metrics()).toContain('roomcast_connections 5');
    up = false;
    m.sink.count(METRICS.internalErrors);
    const text = await m.registry.metrics();
    expect(text).toContain('roomcast_internal_errors_total 1');
    expect(text).toContain('roomcast_connections 5');
  });

  it('labels HTTP requests with the route the handler matched, per concurrent request', async () => {
    const m = createLocalMetrics(stats);
    const handler = async (route: string | undefined, status: number, waitMs: number) => {
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      if (route) m.sink.count(METRICS.pushRequests, 1, { route });
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      return { statusCode: status };
    };
    await Promise.all([
      m.countHttp(() => handler('POST /v1/push', 200, 5)),
      m.countHttp(() => handler('GET /v1/rooms/{room}', 404, 1)),
      m.countHttp(() => handler(undefined, 401, 3)),
    ]);
    await expect(m.countHttp(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const count = (route: string, status: string) =>
      sampleValue(m, 'roomcast_http_requests_total', { route, status });
    expect(await count('POST /v1/push', '200')).toBe(1);
    expect(await count('GET /v1/rooms/{room}', '404')).toBe(1);
    expect(await count(UNMATCHED_ROUTE, '401')).toBe(1);
    expect(await count(UNMATCHED_ROUTE, '500')).toBe(1);
  });
});
