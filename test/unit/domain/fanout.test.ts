import { describe, expect, it } from 'vitest';
import { fanOut } from '../../../lambdas/domain/fanout.js';
import type { ConnectionGateway, PostOutcome } from '../../../lambdas/domain/ports.js';
import { RecordingGateway } from '../fakes.js';

async function* pages(...batches: string[][]) {
  for (const ids of batches) yield { source: '0', ids };
}

describe('fanOut', () => {
  it('posts once per connection across pages, skipping duplicates and exceptions', async () => {
    const gateway = new RecordingGateway();
    const result = await fanOut(pages(['a', 'b'], ['b', 'c', 'me']), 'frame', {
      gateway,
      prune: async () => undefined,
      concurrency: 2,
      except: new Set(['me']),
    });
    expect(result).toEqual({ delivered: 3, pruned: 0, failed: 0 });
    expect(gateway.posts.map((p) => p.connectionId).sort()).toEqual(['a', 'b', 'c']);
  });

  it('prunes gone connections and counts failures without stopping the others', async () => {
    const gateway = new RecordingGateway();
    gateway.outcomes.set('gone', 'gone');
    gateway.outcomes.set('broken', 'failed');
    const pruned: string[] = [];
    const result = await fanOut(['ok1', 'gone', 'broken', 'ok2'], 'frame', {
      gateway,
      prune: async (id) => {
        pruned.push(id);
      },
      concurrency: 1,
    });
    expect(result).toEqual({ delivered: 2, pruned: 1, failed: 1 });
    expect(pruned).toEqual(['gone']);
  });

  it('treats a gateway that throws as one failed delivery and a failing prune as still pruned', async () => {
    const gateway: ConnectionGateway = {
      post: async (id) => {
        if (id === 'throws') throw new Error('boom');
        return id === 'gone' ? 'gone' : 'delivered';
      },
      close: async () => true,
    };
    const result = await fanOut(['throws', 'gone', 'fine'], 'f', {
      gateway,
      prune: async () => {
        throw new Error('store down');
      },
      concurrency: 8,
    });
    expect(result).toEqual({ delivered: 1, pruned: 1, failed: 1 });
  });

  it('never has more posts in flight than the concurrency allows', async () => {
    let inFlight = 0;
    let peak = 0;
    const gateway: ConnectionGateway = {
      post: async (): Promise<PostOutcome> => {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight -= 1;
        return 'delivered';
      },
      close: async () => true,
    };
    const ids = Array.from({ length: 50 }, (_, i) => `c${i}`);
    const result = await fanOut(ids, 'f', { gateway, prune: async () => undefined, concurrency: 5 });
    expect(result.delivered).toBe(50);
    expect(peak).toBe(5);
  });

  it('prunes a storm of gone connections at most `concurrency` at a time, and waits for every prune', async () => {
    let pruning = 0;
    let peak = 0;
    let finished = 0;
    const gateway: ConnectionGateway = { post: async () => 'gone', close: async () => true };
    const ids = Array.from({ length: 200 }, (_, i) => `gone${i}`);
    const result = await fanOut(ids, 'f', {
      gateway,
      prune: async () => {
        pruning += 1;
        peak = Math.max(peak, pruning);
        await new Promise((resolve) => setImmediate(resolve));
        pruning -= 1;
        finished += 1;
      },
      concurrency: 4,
    });
    expect(result).toEqual({ delivered: 0, pruned: 200, failed: 0 });
    expect(finished).toBe(200);
    expect(peak).toBe(4);
  });

  it('reads the next page of targets while the current one is being posted', async () => {
    let releasePost: () => void = () => undefined;
    const postsHeld = new Promise<void>((resolve) => {
      releasePost = resolve;
    });
    let secondPageAsked: () => void = () => undefined;
    const secondPage = new Promise<void>((resolve) => {
      secondPageAsked = resolve;
    });
    async function* pagesAskedFor() {
      yield { source: '0', ids: ['a', 'b'] };
      secondPageAsked();
      yield { source: '0', ids: ['c'] };
    }
    const gateway: ConnectionGateway = {
      // With one post in flight, "b" waits for "a", and "a" waits until page 2 has been asked for:
      // only a fan-out that reads ahead while posting gets through.
      post: async (id) => {
        if (id === 'a') await Promise.race([postsHeld, secondPage]);
        return 'delivered';
      },
      close: async () => true,
    };
    const done = fanOut(pagesAskedFor(), 'f', { gateway, prune: async () => undefined, concurrency: 1 });
    const outcome = await Promise.race([
      done,
      new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), 1000)),
    ]);
    releasePost();
    expect(outcome).toEqual({ delivered: 3, pruned: 0, failed: 0 });
  });

  it('reports a failure to read targets to the caller', async () => {
    async function* failing() {
      yield { source: '0', ids: ['a'] };
      throw new Error('query failed');
    }
    await expect(
      fanOut(failing(), 'f', {
        gateway: new RecordingGateway(),
        prune: async () => undefined,
        concurrency: 1,
      }),
    ).rejects.toThrow('query failed');
  });
});
