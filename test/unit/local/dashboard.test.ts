import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard, type DashboardDeps } from '../../../local/dashboard.js';
import { createEventFeed } from '../../../local/event-feed.js';
import { LogRing } from '../../../local/logs.js';
import { createLocalMetrics } from '../../../local/metrics.js';

let server: Server | undefined;
let dashboard: Dashboard | undefined;

afterEach(async () => {
  dashboard?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  dashboard = undefined;
});

/** The dashboard over fake deps, served on a free port. */
async function serve(overrides: Partial<DashboardDeps> = {}) {
  const deps: DashboardDeps = {
    metrics: createLocalMetrics(async () => ({ connections: 0, users: 0, rooms: 0 })),
    logs: new LogRing(),
    events: createEventFeed(),
    stats: async () => ({ connections: 0, users: 0, rooms: 0 }),
    connections: () => [],
    roomsOf: async () => [],
    roomSize: async () => 0,
    disconnect: async () => 204,
    intervalMs: 20,
    ...overrides,
  };
  const board = createDashboard(deps);
  dashboard = board;
  const http = createServer((req, res) => {
    void board.route(req, res, new URL(req.url ?? '/', 'http://localhost')).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  server = http;
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  return { deps, base: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

/** The first message of the feed (`init`). */
async function firstMessage(base: string): Promise<Record<string, unknown>> {
  const abort = new AbortController();
  const res = await fetch(`${base}/dashboard/feed`, { signal: abort.signal });
  const reader = res.body?.getReader();
  let text = '';
  while (!text.includes('\n\n')) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) throw new Error('feed ended');
    text += new TextDecoder().decode(chunk.value);
  }
  abort.abort();
  return JSON.parse(/^data: (.*)$/m.exec(text)?.[1] ?? '{}');
}

/** The types of the feed's messages, until `last` comes. */
async function messageTypes(base: string, last: string): Promise<string[]> {
  const abort = new AbortController();
  const res = await fetch(`${base}/dashboard/feed`, { signal: abort.signal });
  const reader = res.body?.getReader();
  const types: string[] = [];
  let text = '';
  while (types.at(-1) !== last) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) throw new Error('feed ended');
    text += new TextDecoder().decode(chunk.value);
    let end = text.indexOf('\n\n');
    while (end >= 0) {
      types.push(/^event: (.*)$/m.exec(text.slice(0, end))?.[1] ?? '');
      text = text.slice(end + 2);
      end = text.indexOf('\n\n');
    }
  }
  abort.abort();
  return types;
}

describe('the dashboard', () => {
  it('starts a feed opened while the store was down once it answers (its first message carries the history)', async () => {
    let down = true;
    const { base } = await serve({
      stats: async () => {
        if (down) throw new Error('the store did not answer in time');
        return { connections: 0, users: 0, rooms: 0 };
      },
    });
    const types = messageTypes(base, 'init');
    await expect.poll(() => dashboard?.clients).toBe(1);
    down = false;
    expect((await types)[0]).toBe('failure');
  });

  it('finds the largest room also when few of the listed connections are in it', async () => {
    // Ten rooms with two listed members each; "big" has one listed member and 30 more beyond the list.
    const listed = Array.from({ length: 21 }, (_, i) => ({
      connectionId: `c${i}`,
      userId: `u${i}`,
      connectedAt: 1,
    }));
    const { base } = await serve({
      connections: () => listed,
      roomsOf: async (id) => {
        const i = Number(id.slice(1));
        return i === 20 ? ['big'] : [`r${Math.floor(i / 2)}`];
      },
      roomSize: async (room) => (room === 'big' ? 31 : 2),
    });
    const init = await firstMessage(base);
    const largest = init.largestRooms as { room: string; members: number }[];
    expect(largest[0]).toEqual({ room: 'big', members: 31 });
    expect(largest).toHaveLength(10);
  });

  it('shows the last 100 events sent to backends', async () => {
    const events = createEventFeed();
    events.attach('webhook');
    for (let i = 0; i < 120; i++)
      events.record({ at: i, type: 'client.event', target: 'hook', result: 'sent' });
    const { base } = await serve({ events });
    const recent = ((await firstMessage(base)).events as { recent: { at: number }[] }).recent;
    expect(recent).toHaveLength(100);
    expect(recent.at(-1)?.at).toBe(119);
  });

  it('refuses a request naming another host (a page of a site re-pointed at this machine: DNS rebinding)', async () => {
    let disconnected = 0;
    const { base } = await serve({
      disconnect: async () => {
        disconnected += 1;
        return 204;
      },
    });
    const port = Number(new URL(base).port);
    const send = (method: string, path: string, host: string) =>
      new Promise<number>((resolve, reject) => {
        const evil = `${host}:${port}`;
        request(
          {
            host: '127.0.0.1',
            port,
            method,
            path,
            headers: { host: evil, origin: `http://${evil}`, 'x-roomcast-dashboard': '1' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        )
          .on('error', reject)
          .end();
      });
    expect(await send('POST', '/dashboard/connections/abc/disconnect', 'attacker.example')).toBe(403);
    expect(await send('GET', '/dashboard/', 'attacker.example')).toBe(403);
    expect(await send('GET', '/dashboard/', `attacker.example:${port}@127.0.0.1`)).toBe(403);
    expect(disconnected).toBe(0);
    expect(await send('POST', '/dashboard/connections/abc/disconnect', 'localhost')).toBe(200);
    expect(disconnected).toBe(1);
  });

  it('counts a disconnect with the status the page got', async () => {
    const { base, deps } = await serve();
    const res = await fetch(`${base}/dashboard/connections/abc/disconnect`, {
      method: 'POST',
      headers: { 'x-roomcast-dashboard': '1' },
    });
    expect(res.status).toBe(200);
    const text = await deps.metrics.registry.metrics();
    expect(text).toContain('route="POST /dashboard/connections/{connectionId}/disconnect",status="200"');
    expect(text).not.toContain('status="204"');
  });

  it('closes a feed whose reader stopped reading, instead of buffering for it without end', {
    timeout: 30_000,
  }, async () => {
    // Big updates: 200 connections in 8 rooms of 128 characters each.
    const listed = Array.from({ length: 200 }, (_, i) => ({
      connectionId: `c${i}`,
      userId: `u${i}`,
      connectedAt: 1,
    }));
    const rooms = Array.from({ length: 8 }, (_, i) => `${'r'.repeat(127)}${i}`);
    const { base } = await serve({ connections: () => listed, roomsOf: async () => rooms });
    const socket = netConnect(Number(new URL(base).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // Asks for the feed and never reads it.
    socket.pause();
    socket.write('GET /dashboard/feed HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await expect.poll(() => dashboard?.clients, { timeout: 5_000 }).toBe(1);
    await expect.poll(() => dashboard?.clients, { timeout: 25_000, interval: 50 }).toBe(0);
    socket.destroy();
    expect(dashboard?.clients).toBe(0);
  });
});
