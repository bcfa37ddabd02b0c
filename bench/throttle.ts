/**
 * A 429 storm: the local `@connections` endpoint answers in 15 ms (as on AWS) and takes only
 * `capacity` posts at once, answering 429 to any more (a rate limit of capacity / 15 ms). One
 * fan-out job is run against it side by side, with the production gateway as the stack builds it
 * (its posts pass a ThrottleGate) and with the same gateway without the gate (a fixed number of
 * posts in flight), both with the same retries and backoff.
 */
import { fanOut } from '../lambdas/domain/fanout.js';
import { startLocalStack } from '../local/stack.js';
import { leanGateway } from './model.js';
import { median, medianRange } from './summary.js';

const VIRTUAL = 'virtual-';

interface Way {
  delivered: number[];
  failed: number[];
  throttled: number[];
  seconds: number[];
}

export interface ThrottleFigures {
  capacity: number;
  postDelayMs: number;
  jobSize: number;
  concurrency: number;
  gated: Way;
  fixed: Way;
}

export async function measureThrottled(
  rounds: number,
  { capacity = 16, postDelayMs = 15, jobSize = 4000, concurrency = 64 } = {},
): Promise<ThrottleFigures> {
  const stack = await startLocalStack({
    port: 0,
    logLevel: 'ERROR',
    sweepIntervalMs: 0,
    connections: { postDelayMs, virtualPrefix: VIRTUAL, maxConcurrentPosts: capacity },
  });
  const empty = (): Way => ({ delivered: [], failed: [], throttled: [], seconds: [] });
  const figures: ThrottleFigures = {
    capacity,
    postDelayMs,
    jobSize,
    concurrency,
    gated: empty(),
    fixed: empty(),
  };
  const ids = Array.from({ length: jobSize }, (_, i) => `${VIRTUAL}${i}`);
  const payload = JSON.stringify({ type: 'message', room: 'big', event: 'bench', data: { n: 1 }, ts: 0 });
  try {
    for (let round = 0; round <= rounds; round += 1) {
      const order = round % 2 === 0 ? (['gated', 'fixed'] as const) : (['fixed', 'gated'] as const);
      for (const way of order) {
        // A new gateway per job, as a new worker process would start: no limit learnt before.
        const gateway = leanGateway(stack, concurrency, way === 'gated');
        const before = stack.gateway.throttledDeliveries;
        const started = performance.now();
        const result = await fanOut(ids, payload, { gateway, prune: async () => undefined, concurrency });
        const seconds = (performance.now() - started) / 1000;
        if (round === 0) continue; // warm-up: sockets open, JIT
        const into = figures[way];
        into.delivered.push(result.delivered);
        into.failed.push(result.failed);
        into.throttled.push(stack.gateway.throttledDeliveries - before);
        into.seconds.push(seconds);
      }
    }
  } finally {
    await stack.close();
  }
  return figures;
}

export function printThrottled(f: ThrottleFigures): void {
  console.log(
    `\nA 429 storm: @connections takes ${f.capacity} posts at once at ${f.postDelayMs} ms each ` +
      `(~${Math.round((f.capacity * 1000) / f.postDelayMs)} posts/s) and answers 429 to more; one job of ` +
      `${f.jobSize} posts at concurrency ${f.concurrency}, 4 attempts each (backoff 25 ms doubling, full jitter); ` +
      `median (range) of ${f.gated.seconds.length} rounds`,
  );
  for (const [name, way] of [
    ['with the throttle gate (as deployed)', f.gated],
    ['fixed concurrency (no gate)', f.fixed],
  ] as const) {
    console.log(
      `  ${name.padEnd(38)} delivered ${medianRange(way.delivered)}, failed ${medianRange(way.failed)}, ` +
        `429 answers ${medianRange(way.throttled)}, ${medianRange(way.seconds, 2)} s`,
    );
  }
  const failedRatio =
    median(f.fixed.failed) === 0 ? 'n/a' : (median(f.gated.failed) / median(f.fixed.failed)).toFixed(3);
  console.log(
    `  ratios gated/fixed: failed ${failedRatio}, 429 answers ` +
      `${(median(f.gated.throttled) / Math.max(1, median(f.fixed.throttled))).toFixed(3)}`,
  );
}
