import { describe, expect, it } from 'vitest';
import { ManagementApiGateway } from '../../../lambdas/adapters/gateway.js';
import { ManagementApiError } from '../../../lambdas/adapters/lean-poster.js';
import { ThrottleGate } from '../../../lambdas/adapters/throttle-gate.js';
import { fanOut } from '../../../lambdas/domain/fanout.js';

/** Enters `count` posts and returns their tickets (all must get in at once). */
function enterAll(gate: ThrottleGate, count: number): number[] {
  return Array.from({ length: count }, () => {
    const ticket = gate.enter();
    if (typeof ticket !== 'number') throw new Error('expected to get in at once');
    return ticket;
  });
}

describe('ThrottleGate', () => {
  it('lets `max` posts in at once and queues the next in order', async () => {
    const gate = new ThrottleGate(2);
    const [a, b] = enterAll(gate, 2);
    const order: string[] = [];
    const third = Promise.resolve(gate.enter()).then(() => order.push('third'));
    const fourth = Promise.resolve(gate.enter()).then(() => order.push('fourth'));
    gate.leave(a as number, false);
    gate.leave(b as number, false);
    await Promise.all([third, fourth]);
    expect(order).toEqual(['third', 'fourth']);
  });

  it('halves the limit once for one storm, however many of the posts in flight were throttled', () => {
    const gate = new ThrottleGate(64);
    const tickets = enterAll(gate, 64);
    for (const ticket of tickets) gate.leave(ticket, true);
    // The first round of 64 throttled posts halves it; the posts that started before count no more.
    expect(gate.current).toBe(32);
    for (const ticket of enterAll(gate, 32)) gate.leave(ticket, true);
    expect(gate.current).toBe(16);
  });

  it('ignores a throttled share up to 10% (one client whose buffer is full) and grows back by one per round', () => {
    const gate = new ThrottleGate(64);
    for (const ticket of enterAll(gate, 64)) gate.leave(ticket, true);
    expect(gate.current).toBe(32);
    // A round of 32 with 3 throttled (under 10%): one more.
    for (const [i, ticket] of enterAll(gate, 32).entries()) gate.leave(ticket, i < 3);
    expect(gate.current).toBe(33);
    for (let round = 0; round < 100; round += 1) {
      for (const ticket of enterAll(gate, gate.current)) gate.leave(ticket, false);
    }
    expect(gate.current).toBe(64);
  });

  it('never goes below one', () => {
    const gate = new ThrottleGate(4);
    for (let round = 0; round < 10; round += 1) {
      for (const ticket of enterAll(gate, gate.current)) gate.leave(ticket, true);
    }
    expect(gate.current).toBe(1);
  });
});

/**
 * An endpoint that takes `capacity` posts at once and answers 429 to any more, each post answered a
 * few turns of the event loop later: no clock, so the outcome does not depend on the machine's speed.
 */
function throttlingEndpoint(capacity: number) {
  const state = { inFlight: 0, delivered: 0, throttled: 0, maxInFlight: 0 };
  const post = async () => {
    if (state.inFlight >= capacity) {
      state.throttled += 1;
      throw new ManagementApiError('LimitExceededException', 'Rate exceeded', 429);
    }
    state.inFlight += 1;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    for (let turn = 0; turn < 5; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    state.inFlight -= 1;
    state.delivered += 1;
  };
  return { state, post };
}

function gatewayFor(post: () => Promise<void>, concurrency?: number) {
  return new ManagementApiGateway(
    { send: async () => ({}) },
    {
      post,
      ...(concurrency === undefined ? {} : { concurrency }),
      retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 1 },
      sleep: () => new Promise((resolve) => setImmediate(resolve)),
    },
  );
}

describe('ManagementApiGateway with a throttling endpoint', () => {
  const ids = Array.from({ length: 2000 }, (_, i) => `c${i}`);

  it('lowers its posts in flight under a 429 storm, so the posts get through instead of failing', async () => {
    const adaptive = throttlingEndpoint(8);
    const fixed = throttlingEndpoint(8);
    const withGate = await fanOut(ids, 'x', {
      gateway: gatewayFor(adaptive.post, 64),
      prune: async () => undefined,
      concurrency: 64,
    });
    const withoutGate = await fanOut(ids, 'x', {
      gateway: gatewayFor(fixed.post),
      prune: async () => undefined,
      concurrency: 64,
    });

    expect(withGate).toEqual({ delivered: 2000, pruned: 0, failed: 0 });
    // The same storm at a fixed 64 at once spends its four attempts on many posts.
    expect(withoutGate.failed).toBeGreaterThan(100);
    expect(adaptive.state.throttled).toBeLessThan(fixed.state.throttled / 5);
  });

  it('keeps every post in flight when one connection alone is throttled (its buffer is full)', async () => {
    const endpoint = throttlingEndpoint(1000);
    const post = async (connectionId: string) => {
      if (connectionId === 'c7') throw new ManagementApiError('LimitExceededException', 'buffer full', 429);
      await endpoint.post();
    };
    const gateway = gatewayFor(post as () => Promise<void>, 64);
    const result = await fanOut(ids, 'x', { gateway, prune: async () => undefined, concurrency: 64 });
    expect(result).toEqual({ delivered: 1999, pruned: 0, failed: 1 });
    expect(endpoint.state.maxInFlight).toBe(64);
  });
});

describe('ManagementApiGateway: the gate after odd failures', () => {
  it('gives its slot back whatever the post rejects with (a rejection carrying no error leaked it)', async () => {
    let calls = 0;
    const gateway = new ManagementApiGateway(
      { send: async () => ({}) },
      {
        concurrency: 1,
        retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
        post: () => {
          calls += 1;
          return calls === 1 ? Promise.reject(undefined) : Promise.resolve();
        },
      },
    );
    expect(await gateway.post('c1', 'x')).toBe('failed');
    // One slot: the next post gets it only if the first gave it back.
    expect(await gateway.post('c2', 'x')).toBe('delivered');
  });
});
