/**
 * Presence: what it adds to a `join` and a `$disconnect`. The same runtime joins
 * connections to a plain room and to a `presence-` room of the same size, taking
 * turns within each round, so the ratios are side by side. A presence room costs
 * one more counter write per join or leave, and the announcement to the room's
 * other members (posts to virtual connections the local @connections accepts at
 * once). Timed at the service, where the two differ.
 */
import { loadConfig } from '../lambdas/config.js';
import { createRuntime, type Runtime } from '../lambdas/runtime.js';
import { startLocalStack } from '../local/stack.js';
import { medianRange } from './summary.js';

const VIRTUAL = 'virtual-presence-';

/** Mean ms per join and per disconnect of `count` connections of `count / 2` users into one room. */
async function timeOps(
  runtime: Runtime,
  room: string,
  tag: string,
  count: number,
): Promise<{ join: number; disconnect: number }> {
  const { service } = runtime;
  const ids = Array.from({ length: count }, (_, i) => `${VIRTUAL}${tag}-${i}`);
  const userOf = (i: number) => `user-${tag}-${i % (count / 2)}`;
  for (const [i, id] of ids.entries()) await service.connect(id, userOf(i), Date.now());
  let started = performance.now();
  for (const [i, id] of ids.entries()) {
    await service.handleFrame({ action: 'join', room }, { connectionId: id, userId: userOf(i), rooms: [] });
  }
  const join = (performance.now() - started) / count;
  started = performance.now();
  for (const id of ids) await service.disconnect(id);
  const disconnect = (performance.now() - started) / count;
  return { join, disconnect };
}

export interface PresenceFigures {
  join: { plain: number[]; presence: number[]; ratio: number[] };
  disconnect: { plain: number[]; presence: number[]; ratio: number[] };
}

export async function measurePresence(rounds = 5, perRound = 100): Promise<PresenceFigures> {
  const stack = await startLocalStack({
    port: 0,
    logLevel: 'SILENT',
    sweepIntervalMs: 0,
    reconcileIntervalMs: 0,
    connections: { postDelayMs: 0, virtualPrefix: VIRTUAL },
  });
  const runtime = createRuntime(loadConfig({ ...stack.env, LOG_LEVEL: 'SILENT' }));
  const figures: PresenceFigures = {
    join: { plain: [], presence: [], ratio: [] },
    disconnect: { plain: [], presence: [], ratio: [] },
  };
  try {
    await timeOps(runtime, 'warm-plain', 'warm-a', 40);
    await timeOps(runtime, 'presence-warm', 'warm-b', 40);
    for (let round = 0; round < rounds; round += 1) {
      // Alternate which goes first, so neither always meets a warmer or busier process.
      const order = round % 2 === 0 ? (['plain', 'presence'] as const) : (['presence', 'plain'] as const);
      const result = { plain: { join: 0, disconnect: 0 }, presence: { join: 0, disconnect: 0 } };
      for (const which of order) {
        const room = which === 'presence' ? `presence-bench-${round}` : `plain-bench-${round}`;
        result[which] = await timeOps(runtime, room, `r${round}-${which}`, perRound);
      }
      for (const op of ['join', 'disconnect'] as const) {
        figures[op].plain.push(result.plain[op]);
        figures[op].presence.push(result.presence[op]);
        figures[op].ratio.push(result.presence[op] / result.plain[op]);
      }
    }
  } finally {
    await stack.close();
  }
  return figures;
}

export function printPresence(f: PresenceFigures, rounds: number, perRound = 100): void {
  console.log(
    `\nPresence: ms per operation at the service, plain room vs presence- room (${perRound} connections of ` +
      `${perRound / 2} users, one after another),\nmedian (min–max) of ${rounds} rounds; goal: ratio ≤ 1.2`,
  );
  for (const op of ['join', 'disconnect'] as const) {
    console.log(
      `  ${op.padEnd(10)}  plain ${medianRange(f[op].plain, 3)} ms   presence ${medianRange(f[op].presence, 3)} ms   ratio ${medianRange(f[op].ratio, 2)}`,
    );
  }
}

export async function presenceBench(rounds: number): Promise<void> {
  console.log('\ntiming join and $disconnect in plain and presence rooms ...');
  printPresence(await measurePresence(rounds), rounds);
}
