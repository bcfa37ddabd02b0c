/**
 * Memory of `npm start`'s stack under churn: the stack runs as its own process
 * (the real start command on a free port) and its RSS is read from ps before
 * any client, while 2,000 clients are connected (each joined one room, a few
 * pushes fan out to all of them), and after they all left (stats back to 0
 * connections, and 30 s later once the last writes ran). Rounds run one after another on the same process, so growth
 * from round to round shows a leak (dynalite's unclosed Query iterators made
 * it 119 → 493 → 630 MB before the patch).
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import WebSocket from 'ws';
import { LOCAL_DEFAULTS } from '../local/stack.js';
import { medianRange } from './summary.js';

function rssMb(pid: number): number {
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) / 1024;
}

async function startStack(): Promise<{
  pid: number;
  ws: string;
  http: string;
  metrics: string;
  stop: () => Promise<void>;
}> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      fileURLToPath(new URL('./gc-on-signal.mjs', import.meta.url)),
      '--import',
      'tsx',
      'bin/local.ts',
    ],
    {
      env: {
        ...process.env,
        PORT: '0',
        LOG_LEVEL: process.env.BENCH_LOG ?? 'SILENT',
        ROOMCAST_RATE_LIMIT_PER_SECOND: '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const banner = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ctrl-C')) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`the stack exited (${code}): ${out}`)));
  });
  const ws = /WebSocket\s+(ws:\/\/\S+)\?token/.exec(banner)?.[1] ?? '';
  const http = /push API\s+(http:\/\/\S+)/.exec(banner)?.[1] ?? '';
  const metrics = /metrics\s+(http:\/\/\S+)/.exec(banner)?.[1] ?? '';
  return {
    pid: child.pid as number,
    ws,
    http,
    metrics,
    stop: async () => {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

function join(url: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?token=${token}`, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ action: 'join', room: 'churn', id: 'j' })));
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { id?: string; type: string };
      if (frame.id === 'j') (frame.type === 'ack' ? resolve : reject)(ws);
    });
  });
}

/** How long after the last client left the settled figure is read. */
const SETTLE_MS = 30_000;

async function stats(http: string): Promise<{ connections: number }> {
  const res = await fetch(`${http}/stats`, { headers: { authorization: `Bearer ${LOCAL_DEFAULTS.apiKey}` } });
  return (await res.json()) as { connections: number };
}

interface Sample {
  rssMb: number;
  /** V8 heap in use (live objects and garbage not yet collected), from the stack's own `/metrics`. */
  heapMb: number;
}

async function sample(stack: { pid: number; metrics: string }): Promise<Sample> {
  const text = await (await fetch(stack.metrics)).text();
  const heap = parsePrometheusTextFormat(text).find((f) => f.name === 'nodejs_heap_size_used_bytes');
  return { rssMb: rssMb(stack.pid), heapMb: Number(heap?.metrics[0]?.value ?? Number.NaN) / 1024 / 1024 };
}

/** A sample after a full GC in the stack (gc-on-signal.mjs), so it counts what is live, not garbage. */
async function collectedSample(stack: { pid: number; metrics: string }): Promise<Sample> {
  process.kill(stack.pid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 1000));
  return sample(stack);
}

const show = (samples: Sample[]) =>
  `RSS ${medianRange(samples.map((x) => x.rssMb))}, heap ${medianRange(samples.map((x) => x.heapMb))}`;

/** Prints memory of the local stack idle, with `clients` connections, and after they left, over `rounds` rounds. */
export async function memoryBench(clients = 2000, rounds = 3): Promise<void> {
  console.log(
    `\nlocal stack memory (MB, of the \`npm start\` process): ${clients} clients join, get pushes and leave; ` +
      `${rounds} rounds on one process`,
  );
  const stack = await startStack();
  const secret = new TextEncoder().encode(LOCAL_DEFAULTS.jwtSecret);
  const figures = { during: [] as Sample[], zero: [] as Sample[], settled: [] as Sample[] };
  let idle: Sample | undefined;
  try {
    idle = await collectedSample(stack);
    for (let round = 0; round < rounds; round += 1) {
      const sockets: WebSocket[] = [];
      for (let start = 0; start < clients; start += 100) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(100, clients - start) }, async (_, i) => {
            const token = await new SignJWT({})
              .setProtectedHeader({ alg: 'HS256' })
              .setSubject(`m${round}-${start + i}`)
              .setExpirationTime('1h')
              .sign(secret);
            return join(stack.ws, token);
          }),
        );
        sockets.push(...batch);
      }
      for (let i = 0; i < 5; i += 1) {
        await fetch(`${stack.http}/push`, {
          method: 'POST',
          headers: { authorization: `Bearer ${LOCAL_DEFAULTS.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ room: 'churn', event: 'tick', data: i }),
        });
      }
      figures.during.push(await sample(stack));
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise((resolve) => {
              ws.once('close', resolve);
              ws.close();
            }),
        ),
      );
      const deadline = Date.now() + 120_000;
      while ((await stats(stack.http)).connections > 0) {
        if (Date.now() > deadline)
          throw new Error('the stats still count connections 2 minutes after every client left');
        await new Promise((r) => setTimeout(r, 100));
      }
      figures.zero.push(await sample(stack));
      // The $disconnect handlers' last writes (memberships, room counters) still run for some
      // seconds after the stats say 0; V8 and the allocator give memory back after that.
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      figures.settled.push(await collectedSample(stack));
      const last = (xs: Sample[]) => {
        const x = xs.at(-1) as Sample;
        return `RSS ${x.rssMb.toFixed(0)} heap ${x.heapMb.toFixed(0)}`;
      };
      console.log(
        `  round ${round + 1}: during ${last(figures.during)}; at 0 connections ${last(figures.zero)}; ` +
          `${SETTLE_MS / 1000} s later, after a full GC ${last(figures.settled)}`,
      );
    }
  } finally {
    await stack.stop();
  }
  if (!idle) return;
  console.log(`  idle, full GC  RSS ${idle.rssMb.toFixed(0)}, heap ${idle.heapMb.toFixed(0)}`);
  console.log(`  during      ${show(figures.during)}`);
  console.log(`  0 conns     ${show(figures.zero)}`);
  console.log(
    `  ${SETTLE_MS / 1000} s later, full GC  ${show(figures.settled)}   (median (range) over rounds)`,
  );
}
