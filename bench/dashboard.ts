/**
 * The local dashboard's cost: room-push time with the dashboard open (metrics
 * on, an SSE client reading the live feed) versus metrics off, two stacks side
 * by side in one run with alternating order; and the memory the log ring
 * holds at 1,000 lines.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LogRing } from '../local/logs.js';
import { type LocalStack, startLocalStack } from '../local/stack.js';
import { ClientPool } from './clients.js';
import { median, spread } from './summary.js';

interface Side {
  name: 'metrics on' | 'metrics off';
  stack: LocalStack;
  pool: ClientPool;
  auth: string;
}

async function side(name: Side['name'], size: number, concurrency: number): Promise<Side> {
  const stack = await startLocalStack({
    port: 0,
    logLevel: 'WARN',
    sweepIntervalMs: 0,
    fanoutConcurrency: concurrency,
    observe: name === 'metrics on',
  });
  const pool = new ClientPool(stack.urls.websocket, stack.env.JWT_SECRET ?? '');
  await pool.grow(size, 100);
  await pool.join('bench-dashboard', size, 100);
  return { name, stack, pool, auth: `Bearer ${(stack.env.PUSH_API_KEYS ?? '').split(',')[0]}` };
}

async function timePush(s: Side, size: number, marker: string): Promise<number> {
  const delivered = s.pool.expect(marker, size, 120_000);
  const started = performance.now();
  const res = await fetch(`${s.stack.urls.http}/push`, {
    method: 'POST',
    headers: { authorization: s.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ room: 'bench-dashboard', event: 'bench', data: { marker } }),
  });
  const body = (await res.json()) as { delivered?: number };
  if (body.delivered !== size) throw new Error(`push answered ${res.status} ${JSON.stringify(body)}`);
  await delivered;
  return performance.now() - started;
}

/** Opens the dashboard's live feed and counts the updates it receives until aborted. */
function openFeed(url: string, abort: AbortSignal): { updates: () => number; done: Promise<void> } {
  let updates = 0;
  const done = (async () => {
    try {
      const res = await fetch(url, { signal: abort });
      const reader = res.body?.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const chunk = await reader?.read();
        if (!chunk || chunk.done) break;
        updates += (decoder.decode(chunk.value, { stream: true }).match(/^event: /gm) ?? []).length;
      }
    } catch (error) {
      if (!abort.aborted) throw error;
    }
  })();
  return { updates: () => updates, done };
}

/** Bytes of heap a LogRing holds at 1,000 lines shaped like the handlers' Powertools lines. */
function ringBytes(): number[] {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const samples: number[] = [];
  const kept: LogRing[] = [];
  for (let run = 0; run < 5; run++) {
    gc();
    const before = process.memoryUsage().heapUsed;
    const ring = new LogRing(1000);
    for (let i = 0; i < 1000; i++) {
      ring.push({
        level: 'INFO',
        message: 'request refused',
        timestamp: new Date(Date.now() + i).toISOString(),
        service: 'roomcast',
        sampling_rate: 0,
        handler: 'message',
        connectionId: `conn${i.toString(36).padStart(11, '0')}=`,
        requestId: crypto.randomUUID(),
        routeKey: 'send',
        code: 'VALIDATION_ERROR',
        reason: `data is larger than 32768 bytes (line ${i})`,
      });
    }
    gc();
    samples.push(process.memoryUsage().heapUsed - before);
    kept.push(ring);
  }
  if (kept.some((ring) => ring.lastSeq !== 1000)) throw new Error('a ring lost lines');
  return samples;
}

/** The cost of capturing one line (what the handlers pay per printed log line on top of printing it). */
function capturePerLineNs(): number[] {
  const samples: number[] = [];
  const line = { level: 'INFO', message: 'm', timestamp: new Date().toISOString() };
  for (let run = 0; run < 5; run++) {
    const ring = new LogRing(1000);
    const n = 200_000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) ring.push(line);
    samples.push(Number(process.hrtime.bigint() - started) / n);
  }
  return samples;
}

export async function dashboardBench(options: { size?: number; rounds?: number; concurrency?: number } = {}) {
  const size = options.size ?? 500;
  const rounds = options.rounds ?? 21;
  const concurrency = options.concurrency ?? 64;
  console.log(
    `\ndashboard cost: push to a room of ${size}, metrics on (dashboard feed open) vs off, ${rounds} rounds (+1 warm-up)`,
  );
  const on = await side('metrics on', size, concurrency);
  const off = await side('metrics off', size, concurrency);
  const abort = new AbortController();
  const feed = openFeed(`${on.stack.urls.dashboard}feed`, abort.signal);
  const times: Record<Side['name'], number[]> = { 'metrics on': [], 'metrics off': [] };
  const ratios: number[] = [];
  try {
    for (let round = 0; round <= rounds; round++) {
      const order = round % 2 === 0 ? [on, off] : [off, on];
      const got: Partial<Record<Side['name'], number>> = {};
      for (const s of order) got[s.name] = await timePush(s, size, `dash-${s.name}-${round}-${Date.now()}`);
      if (round === 0) continue;
      times['metrics on'].push(got['metrics on'] ?? 0);
      times['metrics off'].push(got['metrics off'] ?? 0);
      ratios.push((got['metrics on'] ?? 0) / (got['metrics off'] ?? 1));
    }
    if (feed.updates() === 0) throw new Error('the dashboard feed sent nothing while measuring');
    for (const name of ['metrics on', 'metrics off'] as const) {
      console.log(
        `  ${name.padEnd(12)} median ${median(times[name]).toFixed(1)} ms (range ${spread(times[name])} ms)`,
      );
    }
    const ratio = median(ratios);
    console.log(
      `  ratio on/off: median of per-round ratios ${ratio.toFixed(3)} (range ${spread(ratios, 2)}; ` +
        `ratio of medians ${(median(times['metrics on']) / median(times['metrics off'])).toFixed(3)}; goal <= 1.05: ${ratio <= 1.05 ? 'ok' : 'MISSED'}); ` +
        `${feed.updates()} dashboard updates received meanwhile`,
    );
  } finally {
    abort.abort();
    await feed.done;
    for (const s of [on, off]) s.pool.terminateAll();
  }
  const bytes = ringBytes();
  console.log(
    `  log ring at 1,000 lines: median ${(median(bytes) / 1024).toFixed(0)} KiB of heap (range ${spread(
      bytes.map((b) => b / 1024),
      0,
    )} KiB, 5 runs)`,
  );
  const ns = capturePerLineNs();
  console.log(`  capturing one log line: median ${median(ns).toFixed(0)} ns (range ${spread(ns, 0)} ns)`);
}
