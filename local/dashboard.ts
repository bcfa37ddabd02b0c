import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Stats } from '../lambdas/domain/ports.js';
import type { EventFeed } from './event-feed.js';
import type { LocalRoute } from './gateway.js';
import { hostCheck } from './hosts.js';
import type { LogRing } from './logs.js';
import { type LocalMetrics, UNMATCHED_ROUTE } from './metrics.js';

/** How many open connections the dashboard lists (and looks up rooms for). */
export const DASHBOARD_CONNECTIONS = 200;
const HISTORY_MS = 10 * 60 * 1000;
const LARGEST_ROOMS = 10;
/**
 * Rooms of the listed connections whose exact size is read each update (those most listed
 * connections are in): a room with few listed members can still be the largest.
 */
const ROOM_CANDIDATES = 50;
/** A feed whose reader fell this far behind (a paused tab, a stuck proxy) is closed; EventSource reconnects. */
const FEED_BACKLOG_BYTES = 1024 * 1024;
const DISCONNECT_PATH = /^\/dashboard\/connections\/([^/]+)\/disconnect$/;
/** The page must send this header: a cross-site form or fetch cannot without a CORS preflight we never answer. */
export const DASHBOARD_HEADER = 'x-roomcast-dashboard';

export interface DashboardDeps {
  metrics: LocalMetrics;
  logs: LogRing;
  events: EventFeed;
  stats(): Promise<Stats>;
  connections(limit: number): { connectionId: string; userId: string; connectedAt: number }[];
  roomsOf(connectionId: string): Promise<string[]>;
  roomSize(room: string): Promise<number>;
  /** Calls the push API's DELETE /v1/connections/{id} with the local key; returns its status. */
  disconnect(connectionId: string): Promise<number>;
  /** How often the page is updated (default 2 s). */
  intervalMs?: number;
  /**
   * Host names the stack is reached by (the `Host` header's, without the port). A request naming
   * another is refused: a page of another site whose name was re-pointed at this machine (DNS
   * rebinding) is then no longer "the page's own origin".
   * @default loopback names only
   */
  hostNames?: readonly string[];
}

interface Sample {
  t: number;
  frames: Record<string, number>;
  deliveries: Record<string, number>;
}

export interface Dashboard {
  route: LocalRoute;
  /** Open live feeds (Server-Sent Events clients). */
  readonly clients: number;
  close(): void;
}

const page = () => readFileSync(new URL('./dashboard/index.html', import.meta.url));

function rates(now: Record<string, number>, before: Record<string, number> | undefined, seconds: number) {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(now))
    out[key] = Math.max(0, (value - (before?.[key] ?? 0)) / seconds);
  return out;
}

/**
 * The local dashboard (`/dashboard/`), its live feed (Server-Sent Events at
 * `/dashboard/feed`), the disconnect action, and `GET /metrics`. Local stack only.
 */
export function createDashboard(deps: DashboardDeps): Dashboard {
  const knownHost = hostCheck(deps.hostNames);
  const intervalMs = deps.intervalMs ?? 2000;
  const html = page();
  const history: Sample[] = [];
  /** Open feeds; `started` once the feed got its first message (the page's start-up, with history). */
  const feeds = new Map<ServerResponse, { lastLog: number; started: boolean }>();
  let previous: { t: number; totals: Awaited<ReturnType<LocalMetrics['totals']>> } | undefined;

  const sample = async () => {
    const t = Date.now();
    const totals = await deps.metrics.totals();
    if (previous) {
      const seconds = Math.max(0.001, (t - previous.t) / 1000);
      history.push({
        t,
        frames: rates(totals.frames, previous.totals.frames, seconds),
        deliveries: rates(totals.deliveries, previous.totals.deliveries, seconds),
      });
      while (history.length > 0 && (history[0]?.t ?? t) < t - HISTORY_MS) history.shift();
    }
    previous = { t, totals };
  };

  const snapshot = async () => {
    const [stats, connections] = await Promise.all([
      deps.stats(),
      Promise.all(
        deps
          .connections(DASHBOARD_CONNECTIONS)
          .map(async (c) => ({ ...c, rooms: await deps.roomsOf(c.connectionId) })),
      ),
    ]);
    const seen = new Map<string, number>();
    for (const c of connections) for (const room of c.rooms) seen.set(room, (seen.get(room) ?? 0) + 1);
    const candidates = [...seen.entries()].sort((a, b) => b[1] - a[1]).slice(0, ROOM_CANDIDATES);
    const largestRooms = (
      await Promise.all(candidates.map(async ([room]) => ({ room, members: await deps.roomSize(room) })))
    )
      .sort((a, b) => b.members - a.members)
      .slice(0, LARGEST_ROOMS);
    return {
      t: Date.now(),
      stats,
      fanout: deps.metrics.fanoutQuantiles() ?? null,
      connections,
      connectionsShown: DASHBOARD_CONNECTIONS,
      largestRooms,
      events: { publisher: deps.events.publisher ?? null, recent: deps.events.recent() },
    };
  };

  const write = (res: ServerResponse, type: string, body: unknown) => {
    if (res.writableLength > FEED_BACKLOG_BYTES) {
      // Not reading: what it has not read is dropped with the feed, not kept growing here.
      feeds.delete(res);
      res.destroy();
      return;
    }
    res.write(`event: ${type}\ndata: ${JSON.stringify(body)}\n\n`);
  };
  const logsFor = (state: { lastLog: number }) => {
    const lines = deps.logs.since(state.lastLog);
    state.lastLog = deps.logs.lastSeq;
    return lines;
  };

  /** A feed's first message: what a tick carries, plus the charts' history and the page's settings. */
  const start = (res: ServerResponse, state: { lastLog: number; started: boolean }, snap: object) => {
    state.started = true;
    write(res, 'init', {
      ...snap,
      intervalMs,
      historyMs: HISTORY_MS,
      history,
      logs: logsFor(state),
      logCapacity: deps.logs.capacity,
    });
  };

  let ticking = false;
  const tick = async () => {
    if (ticking) return;
    ticking = true;
    try {
      await sample();
      if (feeds.size === 0) return;
      const snap = await snapshot();
      const last = history.at(-1);
      for (const [res, state] of feeds) {
        if (state.started) write(res, 'tick', { ...snap, sample: last ?? null, logs: logsFor(state) });
        else start(res, state, snap);
      }
    } catch (error) {
      for (const res of feeds.keys()) write(res, 'failure', { message: (error as Error).message });
    } finally {
      ticking = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  void sample();

  const openFeed = async (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    const state = { lastLog: 0, started: false };
    feeds.set(res, state);
    req.on('close', () => feeds.delete(res));
    try {
      start(res, state, await snapshot());
    } catch (error) {
      // The store did not answer: the page says so, and the next update that succeeds starts it.
      write(res, 'failure', { message: (error as Error).message });
    }
  };

  const disconnect = async (req: IncomingMessage, res: ServerResponse, id: string) => {
    const origin = req.headers.origin;
    const host = req.headers.host;
    if (req.headers[DASHBOARD_HEADER] !== '1' || (origin !== undefined && origin !== `http://${host}`)) {
      res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"Forbidden"}');
      return 403;
    }
    const status = await deps.disconnect(id);
    // The page reads a body, so a 204 from the push API is answered as 200 (and counted as sent).
    const sent = status === 204 ? 200 : status;
    res.writeHead(sent, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status }));
    return sent;
  };

  const route: LocalRoute = async (req, res, url) => {
    const path = url.pathname;
    if (path === '/metrics' && req.method === 'GET') {
      const text = await deps.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType }).end(text);
      deps.metrics.countLocalRoute('GET /metrics', 200);
      return true;
    }
    if (!path.startsWith('/dashboard')) return false;
    if (!knownHost(req.headers.host)) {
      res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"unknown host"}');
      deps.metrics.countLocalRoute(UNMATCHED_ROUTE, 403);
      return true;
    }
    if (path === '/dashboard' && req.method === 'GET') {
      res.writeHead(301, { location: '/dashboard/' }).end();
      return true;
    }
    if (path === '/dashboard/' && req.method === 'GET') {
      res
        .writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy':
            "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'",
          'cache-control': 'no-store',
        })
        .end(html);
      deps.metrics.countLocalRoute('GET /dashboard/', 200);
      return true;
    }
    if (path === '/dashboard/feed' && req.method === 'GET') {
      await openFeed(req, res);
      deps.metrics.countLocalRoute('GET /dashboard/feed', 200);
      return true;
    }
    const match = DISCONNECT_PATH.exec(path);
    if (match?.[1] && req.method === 'POST') {
      let id: string;
      try {
        id = decodeURIComponent(match[1]);
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"message":"bad connection id"}');
        return true;
      }
      const status = await disconnect(req, res, id);
      deps.metrics.countLocalRoute('POST /dashboard/connections/{connectionId}/disconnect', status);
      return true;
    }
    return false;
  };

  return {
    route,
    get clients() {
      return feeds.size;
    },
    close() {
      clearInterval(timer);
      for (const res of feeds.keys()) res.end();
      feeds.clear();
    },
  };
}
