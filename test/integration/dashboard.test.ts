import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { API_KEY, connect, eventually, startTestStack } from './harness.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({ dashboardIntervalMs: 200 });
});
afterAll(() => stack?.close());

const base = () => `http://127.0.0.1:${stack.port}`;

/** Reads Server-Sent Events from the dashboard feed until `until` accepts one. */
async function feedUntil(until: (type: string, data: Record<string, unknown>) => boolean) {
  const abort = new AbortController();
  const res = await fetch(`${base()}/dashboard/feed`, { signal: abort.signal });
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) throw new Error('feed ended');
      buffer += decoder.decode(chunk.value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: (.*)$/m.exec(block)?.[1] ?? '';
        const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? '{}') as Record<string, unknown>;
        if (until(type, data)) return data;
        end = buffer.indexOf('\n\n');
      }
    }
  } finally {
    abort.abort();
  }
}

describe('the dashboard server side', () => {
  it('serves the page without the push API key', async () => {
    const res = await fetch(`${base()}/dashboard/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).not.toContain(API_KEY);
    const redirect = await fetch(`${base()}/dashboard`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
  });

  it('feeds live connections with their rooms and says no event publisher is configured', async () => {
    const client = await connect(stack, 'dora');
    await client.request({ action: 'join', room: 'feed-room' });
    const data = await feedUntil(
      (type, d) =>
        type === 'tick' &&
        (d.connections as { userId: string; rooms: string[] }[]).some(
          (c) => c.userId === 'dora' && c.rooms.includes('feed-room'),
        ),
    );
    expect(data.events).toEqual({ publisher: null, recent: [] });
    expect(data.largestRooms).toContainEqual({ room: 'feed-room', members: 1 });
    await client.close();
  });

  it('disconnects a connection through the push API, and only for the page', async () => {
    const client = await connect(stack, 'eli');
    const id = stack.gateway.openConnections(200).find((c) => c.userId === 'eli')?.connectionId ?? '';
    const url = `${base()}/dashboard/connections/${encodeURIComponent(id)}/disconnect`;
    expect((await fetch(url, { method: 'POST' })).status).toBe(403);
    const crossSite = await fetch(url, {
      method: 'POST',
      headers: { 'x-roomcast-dashboard': '1', origin: 'http://evil.example' },
    });
    expect(crossSite.status).toBe(403);
    expect(stack.gateway.connectionCount).toBeGreaterThan(0);
    expect(client.ws.readyState).toBe(client.ws.OPEN);

    const res = await fetch(url, {
      method: 'POST',
      headers: { 'x-roomcast-dashboard': '1', origin: base() },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 204 });
    expect((await client.closed).code).toBe(1000);
    const again = await fetch(url, { method: 'POST', headers: { 'x-roomcast-dashboard': '1' } });
    // The push API answers 404 for a connection that is gone; the dashboard passes it on.
    expect(again.status).toBe(404);
    await eventually(async () =>
      expect(stack.gateway.openConnections(200).some((c) => c.userId === 'eli')).toBe(false),
    );
  });
});
