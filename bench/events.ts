/**
 * Events to backends: what they cost a `join` and a `$disconnect`, and how fast
 * the local webhook sender delivers. Two runtimes over the same local stack's
 * table, one with events off and one with the webhook sender (to a local
 * receiver that answers 204 at once), take turns within each round, so the
 * ratios are side by side. Timed at the service (store writes + events), where
 * the two differ; the socket round trip adds the same to both.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../lambdas/config.js';
import { EVENT_TYPES } from '../lambdas/domain/events.js';
import type { MetricSink } from '../lambdas/domain/ports.js';
import { createRuntime, type Runtime } from '../lambdas/runtime.js';
import { startLocalStack } from '../local/stack.js';
import { WebhookSender } from '../local/webhook-sender.js';
import { medianRange } from './summary.js';

const quietSink: MetricSink = { count: () => undefined, milliseconds: () => undefined };

async function receiver(): Promise<{ url: string; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received += 1;
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    received: () => received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function sender(url: string): WebhookSender {
  return new WebhookSender({
    url,
    secret: 'bench-secret',
    source: 'roomcast.bench',
    region: 'us-east-1',
    account: '000000000000',
    metrics: quietSink,
    warn: (message) => console.warn(message),
  });
}

/**
 * Mean milliseconds per join and per disconnect of `count` connections, one after another,
 * each including the bounded wait for its events that the handler wrapper adds.
 */
async function timeOps(
  runtime: Runtime,
  tag: string,
  count: number,
): Promise<{ join: number; disconnect: number }> {
  const { service, events } = runtime;
  const ids = Array.from({ length: count }, (_, i) => `${tag}-${i}`);
  for (const id of ids) await service.connect(id, `user-${id}`, Date.now());
  let started = performance.now();
  for (const id of ids) {
    await service.handleFrame(
      { action: 'join', room: `room-${tag}` },
      { connectionId: id, userId: `user-${id}`, rooms: [] },
    );
    await events?.settle();
  }
  const join = (performance.now() - started) / count;
  started = performance.now();
  for (const id of ids) {
    await service.disconnect(id);
    await events?.settle();
  }
  const disconnect = (performance.now() - started) / count;
  return { join, disconnect };
}

export interface EventsFigures {
  join: { off: number[]; on: number[]; ratio: number[] };
  disconnect: { off: number[]; on: number[]; ratio: number[] };
  eventsPerSecond: number[];
}

export async function measureEvents(
  rounds = 5,
  perRound = 200,
  throughputEvents = 5000,
): Promise<EventsFigures> {
  const hook = await receiver();
  const stack = await startLocalStack({ port: 0, logLevel: 'SILENT', sweepIntervalMs: 0 });
  const hookSender = sender(hook.url);
  const config = loadConfig({ ...stack.env, LOG_LEVEL: 'SILENT' });
  const off = createRuntime(config);
  const on = createRuntime(config, { events: hookSender });
  const figures: EventsFigures = {
    join: { off: [], on: [], ratio: [] },
    disconnect: { off: [], on: [], ratio: [] },
    eventsPerSecond: [],
  };
  try {
    await timeOps(off, 'warm-off', 50);
    await timeOps(on, 'warm-on', 50);
    await hookSender.idle();
    for (let round = 0; round < rounds; round += 1) {
      // Alternate which goes first, so neither always meets a warmer or busier process.
      const order = round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
      const result: Record<'off' | 'on', { join: number; disconnect: number }> = {
        off: { join: 0, disconnect: 0 },
        on: { join: 0, disconnect: 0 },
      };
      for (const which of order) {
        result[which] = await timeOps(which === 'on' ? on : off, `r${round}-${which}`, perRound);
        await hookSender.idle();
      }
      for (const op of ['join', 'disconnect'] as const) {
        figures[op].off.push(result.off[op]);
        figures[op].on.push(result.on[op]);
        figures[op].ratio.push(result.on[op] / result.off[op]);
      }
    }
    for (let round = 0; round < rounds; round += 1) {
      const before = hook.received();
      const started = performance.now();
      for (let i = 0; i < throughputEvents; i += 10) {
        await hookSender.publish(
          Array.from({ length: 10 }, (_, j) => ({
            detailType: EVENT_TYPES.userOnline,
            detail: { userId: `u${i + j}` },
          })),
        );
      }
      await hookSender.idle();
      const seconds = (performance.now() - started) / 1000;
      if (hook.received() - before < throughputEvents) throw new Error('the receiver missed events');
      figures.eventsPerSecond.push(throughputEvents / seconds);
    }
  } finally {
    await hookSender.close();
    await stack.close();
    await hook.close();
  }
  return figures;
}

export function printEvents(f: EventsFigures, rounds: number): void {
  console.log(
    `\nEvents to backends: ms per operation at the service, events off vs on (webhook to a local receiver),\n` +
      `median (min–max) of ${rounds} rounds of 200 sequential operations each; goal: ratio ≤ 1.2`,
  );
  for (const op of ['join', 'disconnect'] as const) {
    console.log(
      `  ${op.padEnd(10)}  off ${medianRange(f[op].off, 3)} ms   on ${medianRange(f[op].on, 3)} ms   ratio ${medianRange(f[op].ratio, 2)}`,
    );
  }
  console.log(
    `  webhook sender: ${medianRange(f.eventsPerSecond, 0)} events/s (8 POSTs in flight, signed, keep-alive)`,
  );
}

export async function eventsBench(rounds: number): Promise<void> {
  console.log('\ntiming join and $disconnect with events off and on, and the webhook sender ...');
  printEvents(await measureEvents(rounds), rounds);
}
