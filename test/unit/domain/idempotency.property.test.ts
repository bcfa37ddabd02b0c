import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../../lambdas/domain/errors.js';
import { CountingSink, MemoryStreamStore, memoryStreams } from '../fakes.js';

type Outcome = 'ok' | 'fail-before' | 'fail-after' | 'crash-after';

/** Lets the in-memory store's pending writes (a noted message) land: it does no I/O. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Streams.once: retries of one keyed request, against a model', () => {
  it('stores its message at most once, and every answer names that one message, whatever fails or dies when', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            outcome: fc.constantFrom<Outcome>('ok', 'fail-before', 'fail-after', 'crash-after'),
            // A retry at once, or after the claim went stale (60 s).
            later: fc.boolean(),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        async (attempts) => {
          let now = 1_790_000_000_000;
          const clock = { now: () => now };
          const store = new MemoryStreamStore(clock);
          const streams = memoryStreams(clock, new CountingSink(), {}, store);
          const stream = { kind: 'room' as const, name: 'r' };
          const answers: number[] = [];
          for (const { outcome, later } of attempts) {
            if (later) now += 61_000;
            const attempt = streams.once('k', { body: 1 }, async (keyed) => {
              if (outcome === 'fail-before') throw new Error('before storing');
              let seq = keyed.earlier?.seq;
              if (seq === undefined) {
                seq = (await store.append(stream, (n) => `m${n}`, Math.floor(now / 1000) + 86_400)).seq;
                keyed.stored({ messageId: `id${seq}`, ts: now, seq });
              }
              if (outcome === 'fail-after') throw new Error('after storing');
              if (outcome === 'crash-after') return new Promise<number>(() => undefined);
              return seq;
            });
            if (outcome === 'crash-after') {
              void attempt.catch(() => undefined);
              await settle();
              continue;
            }
            try {
              answers.push((await attempt).answer);
            } catch (error) {
              // What the attempts throw, and CONFLICT for a repeat while a claim is held.
              if (!(error instanceof ConflictError || /storing/.test((error as Error).message))) throw error;
            }
          }
          const stored = [...(store.streams.get('room#r')?.items.keys() ?? [])];
          expect(stored.length).toBeLessThanOrEqual(1);
          // Every answer is that one message.
          for (const seq of answers) expect(seq).toBe(stored[0]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
