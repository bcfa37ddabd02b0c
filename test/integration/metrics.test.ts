import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, settledStats, startTestStack, type TestClient } from './harness.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack?.close());

async function scrape(): Promise<{ families: Map<string, PromFamily>; contentType: string | null }> {
  const res = await fetch(`http://127.0.0.1:${stack.port}/metrics`);
  expect(res.status).toBe(200);
  const families = parsePrometheusTextFormat(await res.text());
  return {
    families: new Map(families.map((f) => [f.name, f])),
    contentType: res.headers.get('content-type'),
  };
}

/** The value of one sample (0 when the labelled sample does not exist yet). */
function value(families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  const sample = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  if (!sample) return 0;
  return Number(family?.type === 'HISTOGRAM' ? sample.count : sample.value);
}

describe('GET /metrics', () => {
  it('serves the contract metrics in the text format 0.0.4 with types and help', async () => {
    const { families, contentType } = await scrape();
    expect(contentType).toContain('text/plain');
    expect(contentType).toContain('version=0.0.4');
    const types: Record<string, PromFamily['type']> = {
      roomcast_connections: 'GAUGE',
      roomcast_users: 'GAUGE',
      roomcast_rooms: 'GAUGE',
      roomcast_frames_in_total: 'COUNTER',
      roomcast_deliveries_total: 'COUNTER',
      roomcast_fanout_duration_seconds: 'HISTOGRAM',
      roomcast_http_requests_total: 'COUNTER',
      process_cpu_user_seconds_total: 'COUNTER',
      process_resident_memory_bytes: 'GAUGE',
    };
    for (const [name, type] of Object.entries(types)) {
      expect(families.get(name)?.type, name).toBe(type);
      expect(families.get(name)?.help.length, `${name} help`).toBeGreaterThan(10);
    }
    for (const outcome of ['delivered', 'pruned', 'failed']) {
      expect(
        families.get('roomcast_deliveries_total')?.metrics.some((m) => m.labels?.outcome === outcome),
      ).toBe(true);
    }
  });

  it('counts known traffic exactly', async () => {
    const before = await scrape();
    const clients: TestClient[] = [];
    for (const user of ['ana', 'ben', 'cy']) {
      const client = await connect(stack, user);
      await client.request({ action: 'join', room: 'metrics-room' });
      clients.push(client);
    }
    await clients[0]?.request({ action: 'send', room: 'metrics-room', event: 'hello', data: { n: 1 } });
    await clients[1]?.request({ action: 'ping' });
    const pushed = await api(stack, 'POST', '/v1/push', {
      body: { room: 'metrics-room', event: 'news', data: { n: 2 } },
    });
    expect(pushed.status).toBe(200);
    expect((await api(stack, 'GET', '/v1/nowhere/at/all')).status).toBe(404);
    expect((await api(stack, 'GET', '/v1/stats', { key: 'wrong' })).status).toBe(401);
    await Promise.all(clients.map((c) => c.next((f) => f.type === 'message' && f.event === 'news')));
    await settledStats(stack);
    const after = await scrape();

    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(after.families, name, labels) - value(before.families, name, labels);
    expect(delta('roomcast_frames_in_total', { action: 'join' })).toBe(3);
    expect(delta('roomcast_frames_in_total', { action: 'send' })).toBe(1);
    expect(delta('roomcast_frames_in_total', { action: 'ping' })).toBe(1);
    // Two fan-outs: the client's send (to the two other members) and the push (to all three).
    expect(delta('roomcast_fanout_duration_seconds')).toBe(2);
    expect(pushed.body.delivered).toBe(3);
    expect(delta('roomcast_deliveries_total', { outcome: 'delivered' })).toBe(2 + 3);
    expect(delta('roomcast_deliveries_total', { outcome: 'pruned' })).toBe(0);
    expect(delta('roomcast_deliveries_total', { outcome: 'failed' })).toBe(0);
    expect(delta('roomcast_http_requests_total', { route: 'POST /v1/push', status: '200' })).toBe(1);
    expect(delta('roomcast_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    expect(delta('roomcast_http_requests_total', { route: 'unmatched', status: '401' })).toBe(1);
    // The previous scrape counts too.
    expect(delta('roomcast_http_requests_total', { route: 'GET /metrics', status: '200' })).toBe(1);
    // Only route patterns become labels, never raw paths.
    const routes =
      after.families.get('roomcast_http_requests_total')?.metrics.map((m) => m.labels?.route) ?? [];
    expect(routes.some((r) => r?.includes('nowhere'))).toBe(false);
    expect(value(after.families, 'roomcast_connections')).toBe(3);
    expect(value(after.families, 'roomcast_users')).toBe(3);
    expect(value(after.families, 'roomcast_rooms')).toBe(1);
    await Promise.all(clients.map((c) => c.close()));
  });
});
