import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../../lambdas/domain/errors.js';
import type { KeyedRun } from '../../../lambdas/domain/streams.js';
import { CountingSink, fixedClock, MemoryStreamStore, memoryStreams, serviceWithFakes } from '../fakes.js';

function setup() {
  const clock = fixedClock();
  const store = new MemoryStreamStore(clock);
  return { store, streams: memoryStreams(clock, new CountingSink(), {}, store) };
}

const failing = (cause: string) => async () => {
  throw new Error(cause);
};

describe('Streams.once: a keyed request that fails', () => {
  it('gives its key up when it failed before storing anything, so the retry runs afresh', async () => {
    const { streams, store } = setup();
    await expect(streams.once('k', { a: 1 }, failing('no room read'))).rejects.toThrow('no room read');
    expect(store.idempotency.has('k')).toBe(false);
    const runs: KeyedRun[] = [];
    await streams.once('k', { a: 1 }, async (keyed) => {
      runs.push(keyed);
      return 'ok';
    });
    expect(runs[0]?.earlier).toBeUndefined();
  });

  it('keeps its key with what it stored when it failed after storing: the retry gets that message back', async () => {
    const { streams } = setup();
    const attempt = { messageId: 'm1', ts: 5, seq: 7 };
    await expect(
      streams.once('k', { a: 1 }, async (keyed) => {
        keyed.stored(attempt);
        throw new Error('fan-out failed');
      }),
    ).rejects.toThrow('fan-out failed');

    // Another body under the key is still a conflict.
    await expect(streams.once('k', { a: 2 }, async () => 'other')).rejects.toBeInstanceOf(ConflictError);
    // A retry that fails again keeps it too.
    await expect(streams.once('k', { a: 1 }, failing('again'))).rejects.toThrow('again');
    const earlier: unknown[] = [];
    const first = await streams.once('k', { a: 1 }, async (keyed) => {
      earlier.push(keyed.earlier);
      return { seq: keyed.earlier?.seq };
    });
    expect(earlier).toEqual([attempt]);
    expect(first).toEqual({ answer: { seq: 7 }, replayed: false });
    // Once answered, the key replays that answer.
    expect(await streams.once('k', { a: 1 }, failing('not run'))).toEqual({
      answer: { seq: 7 },
      replayed: true,
    });
  });
});

/** Rooms a and b with three messages each, framed a1..a3 and b1..b3. */
async function twoRoomsOfThree() {
  const { streams } = setup();
  for (const room of ['a', 'b']) {
    for (let i = 0; i < 3; i += 1) {
      await streams.append(
        { kind: 'room', name: room },
        (seq) => `${room}${seq}`,
        async () => undefined,
      );
    }
  }
  return streams;
}

describe('Streams.resume: replaying what a connection missed', () => {
  it('posts the streams side by side, each stream in seq order (on AWS each post takes ~15 ms)', async () => {
    const streams = await twoRoomsOfThree();
    const posted: string[] = [];
    let inFlight = 0;
    let most = 0;
    const outcome = await streams.resume(
      {
        rooms: [
          ['a', 0],
          ['b', 0],
        ],
      },
      {
        userId: 'u',
        rooms: [],
        join: async () => true,
        post: async (frame) => {
          inFlight += 1;
          most = Math.max(most, inFlight);
          await new Promise((resolve) => setImmediate(resolve));
          posted.push(frame);
          inFlight -= 1;
          return true;
        },
      },
    );
    expect(outcome.rooms).toEqual({ a: { seq: 3, recovered: true }, b: { seq: 3, recovered: true } });
    // Two streams, two posts at a time: one of each.
    expect(most).toBe(2);
    expect(posted.filter((f) => f.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(posted.filter((f) => f.startsWith('b'))).toEqual(['b1', 'b2', 'b3']);
  });

  it('stops every stream once a post finds the connection gone', async () => {
    const streams = await twoRoomsOfThree();
    const posted: string[] = [];
    await streams.resume(
      {
        rooms: [
          ['a', 0],
          ['b', 0],
        ],
      },
      {
        userId: 'u',
        rooms: [],
        join: async () => true,
        post: async (frame) => {
          posted.push(frame);
          await new Promise((resolve) => setImmediate(resolve));
          return false;
        },
      },
    );
    // The first post of each stream was under way; none after them.
    expect(posted).toEqual(['a1', 'b1']);
  });
});

describe('a keyed push that failed after storing its message', () => {
  it('is delivered on the retry as the message stored (same seq and id), and only while history keeps it', async () => {
    const { service, store, gateway, streamStore, clock } = serviceWithFakes();
    await service.connect('c1', 'bob', clock.now());
    await service.handleFrame(
      { action: 'join', room: 'r' },
      { connectionId: 'c1', userId: 'bob', rooms: [] },
    );
    // The room's members cannot be read once the message is stored, once per push below.
    const realTargets = store.roomTargets.bind(store);
    store.roomTargets = async (room) => ({
      ...(await realTargets(room)),
      pages: (async function* () {
        yield* [];
        throw new Error('store down');
      })(),
    });
    const failing = (key: string) =>
      expect(service.push({ room: 'r', event: 'e', data: key }, key)).rejects.toThrow('store down');
    await failing('k1');
    await failing('k2');
    store.roomTargets = realTargets;

    const first = await service.push({ room: 'r', event: 'e', data: 'k1' }, 'k1');
    expect(first).toMatchObject({ seq: 1, messageId: expect.any(String), delivered: 1, replayed: false });
    expect(gateway.framesTo('c1').map((f) => [f.seq, f.messageId])).toEqual([[1, first.messageId]]);

    // k2's message (seq 2) is past its retention: not delivered live, as history no longer has it.
    const kept = streamStore.streams.get('room#r')?.items.get(2);
    if (kept) kept.expiresAt = 0;
    expect(await service.push({ room: 'r', event: 'e', data: 'k2' }, 'k2')).toMatchObject({
      seq: 2,
      delivered: 0,
    });
    expect(gateway.framesTo('c1')).toHaveLength(1);
  });
});
