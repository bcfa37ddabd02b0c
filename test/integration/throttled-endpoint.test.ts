/**
 * The fan-out's throttle gate against the local `@connections` endpoint in its throttled mode (it
 * answers 429 to posts past the ones it is answering), through the lean poster, as deployed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ManagementApiGateway } from '../../lambdas/adapters/gateway.js';
import { createLeanPoster } from '../../lambdas/adapters/lean-poster.js';
import { fanOut } from '../../lambdas/domain/fanout.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from './harness.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({
    connections: { postDelayMs: 100, virtualPrefix: 'virtual-', maxConcurrentPosts: 4 },
  });
});
afterAll(() => stack?.close());

it('sends fewer posts at once once the endpoint throttles most of a round, and says so', async () => {
  const warnings: { message: string; concurrency: unknown }[] = [];
  const gateway = new ManagementApiGateway(
    { send: async () => ({}) },
    {
      post: createLeanPoster({
        endpoint: stack.env.CONNECTIONS_ENDPOINT ?? '',
        region: stack.env.AWS_REGION ?? 'us-east-1',
        maxSockets: 64,
      }),
      concurrency: 64,
      logger: { warn: (message, fields) => warnings.push({ message, concurrency: fields?.concurrency }) },
    },
  );
  const ids = Array.from({ length: 100 }, (_, i) => `virtual-${i}`);
  const before = stack.gateway.throttledDeliveries;
  const result = await fanOut(ids, '{"type":"message"}', {
    gateway,
    prune: async () => undefined,
    concurrency: 64,
  });

  // The endpoint answered 429 to the first round's posts past the four it takes at once (each is
  // answered after 100 ms, far longer than sending the 64 takes)...
  expect(stack.gateway.throttledDeliveries - before).toBeGreaterThan(0);
  // ...and the gate halved what it lets through: 64 → 32 first. (Posts whose four attempts all met
  // a 429 before that are reported failed, with a warning of their own.)
  const cuts = warnings.filter((w) => w.message === '@connections is throttling posts: fewer at once');
  expect(cuts[0]?.concurrency).toBe(32);
  expect(result.delivered + result.failed).toBe(100);
});
