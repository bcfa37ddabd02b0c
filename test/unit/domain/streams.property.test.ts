import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Caller } from '../../../lambdas/domain/service.js';
import { decideReplay, fingerprint } from '../../../lambdas/domain/streams.js';
import { fixedClock, MemoryStreamStore, serviceWithFakes } from '../fakes.js';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const caller = (connectionId: string, userId: string): Caller => ({ connectionId, userId, rooms: [] });

describe('the seq allocator', () => {
  it('gives any interleaving of concurrent appends seq 1..N, no hole, no duplicate', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 20 }), async (s, n) => {
        const store = new MemoryStreamStore(fixedClock());
        store.pause = () => s.schedule(Promise.resolve());
        const stream = { kind: 'room' as const, name: 'r' };
        const appends = Promise.all(
          range(1, n).map(async (i) => {
            const out = await store.append(stream, () => `m${i}`, 2_000_000_000);
            await store.advance(stream, out.seq);
            return out;
          }),
        );
        const seqs = (await s.waitFor(appends)).map((a) => a.seq).sort((a, b) => a - b);
        expect(seqs).toEqual(range(1, n));
        expect(await store.latest({ kind: 'room', name: 'r' })).toBe(n);
      }),
      { numRuns: 200 },
    );
  });
});

describe('resume against a model', () => {
  it('loses no stored message over any interleaving of publishes and reconnects', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.constantFrom('publish', 'reconnect'), { minLength: 1, maxLength: 25 }),
        async (s, ops) => {
          const { service, gateway, clock, store, streamStore } = serviceWithFakes();
          await service.connect('p', 'pub', clock.now());
          await service.handleFrame({ action: 'join', room: 'r' }, caller('p', 'pub'));
          let reader = 'c0';
          await service.connect(reader, 'reader', clock.now());
          await service.handleFrame({ action: 'resume', rooms: [['r', 0]] }, caller(reader, 'reader'));
          streamStore.pause = () => s.schedule(Promise.resolve());
          store.pause = () => s.schedule(Promise.resolve());

          const seen = new Set<number>();
          // What a connection received before it closed; frames posted after that are lost.
          const collect = (connectionId: string) => {
            for (const f of gateway.framesTo(connectionId))
              if (f.type === 'message') seen.add(f.seq as number);
          };
          const contiguous = () => {
            let last = 0;
            while (seen.has(last + 1)) last += 1;
            return last;
          };
          let chain: Promise<unknown> = Promise.resolve();
          const tasks: Promise<unknown>[] = [];
          let published = 0;
          for (const [i, op] of ops.entries()) {
            if (op === 'publish') {
              published += 1;
              tasks.push(
                service.handleFrame({ action: 'send', room: 'r', event: 'e', data: i }, caller('p', 'pub')),
              );
            } else {
              chain = chain.then(async () => {
                collect(reader);
                await service.disconnect(reader);
                reader = `c${i + 1}`;
                await service.connect(reader, 'reader', clock.now());
                const ack = await service.handleFrame(
                  { action: 'resume', rooms: [['r', contiguous()]] },
                  caller(reader, 'reader'),
                );
                expect(ack).toMatchObject({ rooms: { r: { recovered: true } } });
              });
              tasks.push(chain);
            }
          }
          await s.waitFor(Promise.all(tasks));
          collect(reader);
          expect([...seen].sort((a, b) => a - b)).toEqual(range(1, published));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reports recovered only when every seq after the given one is still kept, wherever one expired', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }),
        (after, keptFlags) => {
          // Any message can expire before the ones around it (its publisher read the clock earlier).
          const latest = after + keptFlags.length;
          const kept = range(after + 1, latest)
            .filter((_, i) => keptFlags[i])
            .map((seq) => ({ seq, frame: '' }));
          const { position } = decideReplay(after, latest, kept);
          expect(position.recovered).toBe(keptFlags.every(Boolean));
        },
      ),
    );
  });

  it("fingerprints a body whatever the order of its objects' keys, and tells other bodies apart", () => {
    const shuffled = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(shuffled);
      if (value === null || typeof value !== 'object') return value;
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>)
          .reverse()
          .map(([k, v]) => [k, shuffled(v)]),
      );
    };
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        expect(fingerprint(shuffled(body))).toBe(fingerprint(body));
      }),
    );
    expect(fingerprint({ data: { a: 1, b: 2 } })).not.toBe(fingerprint({ data: { a: 1, b: 3 } }));
    expect(fingerprint({ data: [1, 2] })).not.toBe(fingerprint({ data: [2, 1] }));
    expect(fingerprint({ data: { a: { b: 1 } } })).not.toBe(fingerprint({ data: { a: 1, b: 1 } }));
  });

  it('replays only a contiguous run after the given seq', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 300 }),
        (after, extra, firstKeptOffset) => {
          const latest = after + extra;
          const firstKept = Math.min(
            latest + 1,
            after + 1 + (firstKeptOffset % 3 === 0 ? 0 : firstKeptOffset),
          );
          const kept = range(firstKept, Math.min(latest, after + 201)).map((seq) => ({ seq, frame: '' }));
          const { position, messages } = decideReplay(after, latest, kept);
          if (position.recovered) {
            expect(messages.map((m) => m.seq)).toEqual(
              after === 0 ? kept.map((m) => m.seq) : range(after + 1, latest),
            );
            expect(messages.length).toBeLessThanOrEqual(200);
          } else {
            expect(messages).toEqual([]);
          }
        },
      ),
    );
  });
});
