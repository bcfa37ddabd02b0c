/**
 * Memory of `npm start`'s stack under churn: the stack runs as its own process
 * (the real start command on a free port) and its RSS is read from ps before
 * any client, while 2,000 clients are connected (each joined one room, a few
 * pushes fan out to all of them), and after they all left (stats back to 0
 * connections). Rounds run one after another on the same process, so growth
 * from round to round shows a leak (dynalite's unclosed Query iterators made
 * it 119 → 493 → 630 MB before the patch).
 */
import { execFileSync, spawn } from 'node:child_process';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { LOCAL_DEFAULTS } from '../local/stack.js';
import { medianRange } from './summary.js';

function rssMb(pid: number): number {
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) / 1024;
}

async function startStack(): Promise<{ pid: number; ws: string; http: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
    env: {
      ...process.env,
      PORT: '0',
      LOG_LEVEL: process.env.BENCH_LOG ?? 'SILENT',
      ROOMCAST_RATE_LIMIT_PER_SECOND: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
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
  return {
    pid: child.pid as number,
    ws,
    http,
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

async function stats(http: string): Promise<{ connections: number }> {
  const res = await fetch(`${http}/stats`, { headers: { authorization: `Bearer ${LOCAL_DEFAULTS.apiKey}` } });
  return (await res.json()) as { connections: number };
}

/** Prints RSS of the local stack before, during and after `clients` connections, over `rounds` rounds. */
export async function memoryBench(clients = 2000, rounds = 3): Promise<void> {
  console.log(
    `\nlocal stack memory (RSS of the \`npm start\` process, MB): ${clients} clients join, get pushes and leave; ${rounds} rounds on one process`,
  );
  const stack = await startStack();
  const secret = new TextEncoder().encode(LOCAL_DEFAULTS.jwtSecret);
  const figures = { idle: rssMb(stack.pid), during: [] as number[], after: [] as number[] };
  try {
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
      figures.during.push(rssMb(stack.pid));
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise((resolve) => {
              ws.once('close', resolve);
              ws.close();
            }),
        ),
      );
      while ((await stats(stack.http)).connections > 0) await new Promise((r) => setTimeout(r, 100));
      figures.after.push(rssMb(stack.pid));
      console.log(
        `  round ${round + 1}: during ${figures.during.at(-1)?.toFixed(0)}, after ${figures.after.at(-1)?.toFixed(0)}`,
      );
    }
  } finally {
    await stack.stop();
  }
  console.log(
    `  idle ${figures.idle.toFixed(0)}; during ${medianRange(figures.during)}; after ${medianRange(figures.after)} (median, range over rounds)`,
  );
}
