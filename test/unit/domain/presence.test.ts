import { describe, expect, it } from 'vitest';
import type { PostOutcome, RoomChange } from '../../../lambdas/domain/ports.js';
import {
  announce,
  fitPresence,
  isPresenceRoom,
  listPresence,
  roomLeftEvents,
} from '../../../lambdas/domain/presence.js';
import { MemoryFanoutQueue, MemoryStore, RecordingGateway } from '../fakes.js';

const clock = { now: () => 1_000_000 };
const live = 4_102_444_800;

function setup() {
  const store = new MemoryStore(clock);
  const gateway = new RecordingGateway();
  const pruned: string[] = [];
  const deps = {
    store,
    gateway,
    concurrency: 4,
    prune: async (id: string) => {
      pruned.push(id);
    },
  };
  const member = (room: string, connectionId: string, userId: string) =>
    store.addMember({ room, connectionId, userId, joinedAt: 1, expiresAt: live });
  return { store, gateway, deps, pruned, member };
}

/** A gateway that can run something just before a given post goes out. */
class HookedGateway extends RecordingGateway {
  before: ((connectionId: string, payload: string) => Promise<void>) | undefined;
  override async post(connectionId: string, payload: string): Promise<PostOutcome> {
    await this.before?.(connectionId, payload);
    return super.post(connectionId, payload);
  }
}

describe('presence', () => {
  it('answers a client with as many users as fit one WebSocket message, and the whole count', async () => {
    const { store, member } = setup();
    for (let i = 0; i < 1000; i++)
      await member('presence-big', `c${i}`, `${String(i).padStart(4, '0')}${'u'.repeat(124)}`);
    const list = await listPresence(store, 'presence-big');
    expect(list.users).toHaveLength(1000);

    const answer = { type: 'presence', id: 'x'.repeat(64), ...fitPresence(list) };

    expect(Buffer.byteLength(JSON.stringify(answer))).toBeLessThanOrEqual(128 * 1024);
    expect(answer.count).toBe(1000);
    expect(answer.users.length).toBeGreaterThan(800);
    expect(answer.users).toEqual(list.users.slice(0, answer.users.length));
    // Short ids: all of them.
    const small = {
      room: 'r',
      count: 2,
      users: [
        { userId: 'a', connections: 1 },
        { userId: 'b', connections: 2 },
      ],
    };
    expect(fitPresence(small)).toBe(small);
  });

  it('knows presence rooms by their names', () => {
    expect(isPresenceRoom('presence-lobby')).toBe(true);
    expect(isPresenceRoom('private-presence-team')).toBe(true);
    expect(isPresenceRoom('lobby')).toBe(false);
    expect(isPresenceRoom('private-lobby')).toBe(false);
    expect(isPresenceRoom('my-presence-room')).toBe(false);
  });

  it('reports a user transition only for the first connection in and the last one out', async () => {
    const { store, member } = setup();
    expect((await member('presence-r', 'a1', 'alice'))?.userChanged).toBe(true);
    expect((await member('presence-r', 'a2', 'alice'))?.userChanged).toBe(false);
    expect(await member('presence-r', 'a2', 'alice')).toBeUndefined();
    expect((await store.removeMember('presence-r', 'a1'))?.userChanged).toBe(false);
    expect((await store.removeMember('presence-r', 'a2'))?.userChanged).toBe(true);
    expect(await store.removeMember('presence-r', 'a2')).toBeUndefined();
  });

  it('announces transitions to the other members of presence rooms only, never to the causing connection', async () => {
    const { gateway, deps, member } = setup();
    await member('presence-r', 'b1', 'bob');
    await member('presence-r', 'c1', 'carol');
    await member('plain', 'b1', 'bob');
    const joined = (await member('presence-r', 'a1', 'alice')) as RoomChange;
    const plain = (await member('plain', 'a1', 'alice')) as RoomChange;
    const second = (await member('presence-r', 'a2', 'alice')) as RoomChange;

    await announce(deps, 'join', [joined, plain, second]);

    const frame = { type: 'presence', room: 'presence-r', event: 'join', userId: 'alice' };
    expect(gateway.framesTo('b1')).toEqual([frame]);
    expect(gateway.framesTo('c1')).toEqual([frame]);
    // a2 is alice's second connection: it joined without a transition, but is a member when a1's is announced.
    expect(gateway.framesTo('a2')).toEqual([frame]);
    expect(gateway.framesTo('a1')).toEqual([]);
  });

  it('prunes a member found gone while announcing, and never throws', async () => {
    const { gateway, deps, pruned, member, store } = setup();
    await member('presence-r', 'gone', 'ghost');
    await member('presence-r', 'a1', 'alice');
    const left = (await store.removeMember('presence-r', 'a1')) as RoomChange;
    gateway.outcomes.set('gone', 'gone');
    await announce(deps, 'leave', [left]);
    expect(pruned).toEqual(['gone']);

    store.roomConnectionIds = () => {
      throw new Error('store down');
    };
    await expect(announce(deps, 'leave', [left])).resolves.toBeUndefined();
  });

  it('sends the truth after an announcement that no longer holds once posted (a leave raced the join)', async () => {
    const { gateway, deps, member, store } = setup();
    await member('presence-r', 'w1', 'watcher');
    const joined = (await member('presence-r', 'a1', 'alice')) as RoomChange;
    // Alice left again before the join's announcement went out; the leave's own announcement may
    // already have reached members, so the join would be the last word: a leave follows it.
    const left = (await store.removeMember('presence-r', 'a1')) as RoomChange;
    await announce(deps, 'leave', [left]);
    await announce(deps, 'join', [joined]);
    expect(gateway.framesTo('w1').map((f) => f.event)).toEqual(['leave', 'join', 'leave']);

    // And the mirror: a leave announced while the user has come back is followed by a join.
    const back = (await member('presence-r', 'a2', 'alice')) as RoomChange;
    await announce(deps, 'join', [back]);
    await announce(deps, 'leave', [left]);
    expect(gateway.framesTo('w1').map((f) => f.event)).toEqual([
      'leave',
      'join',
      'leave',
      'join',
      'leave',
      'join',
    ]);
  });

  it('hands an announcement to a room past the inline limit to the fan-out workers, posting nothing itself', async () => {
    const { gateway, deps, member } = setup();
    const queue = new MemoryFanoutQueue();
    const fanout = { queue, inlineLimit: 2, newId: () => 'A1' };
    await member('presence-big', 'b1', 'bob');
    const second = (await member('presence-big', 'c1', 'carol')) as RoomChange;

    // Two members: within the limit, posted here.
    await announce({ ...deps, fanout }, 'join', [second]);
    expect(gateway.framesTo('b1')).toHaveLength(1);
    expect(queue.jobs).toEqual([]);

    const third = (await member('presence-big', 'a1', 'alice')) as RoomChange;
    // Three: one plan job for the workers, which check the claim before posting.
    await announce({ ...deps, fanout }, 'join', [third]);
    expect(gateway.posts).toHaveLength(1);
    expect(queue.jobs).toEqual([
      {
        kind: 'plan',
        jobId: 'A1.plan',
        messageId: 'A1',
        payload: JSON.stringify({ type: 'presence', room: 'presence-big', event: 'join', userId: 'alice' }),
        target: { room: 'presence-big' },
        except: ['a1'],
        presence: { room: 'presence-big', userId: 'alice', event: 'join' },
      },
    ]);
  });

  it('loses an announcement the queue refuses, without throwing', async () => {
    const { deps, member } = setup();
    const queue = {
      enqueue: async () => {
        throw new Error('queue down');
      },
    };
    const change = (await member('presence-big', 'a1', 'alice')) as RoomChange;
    await expect(
      announce({ ...deps, fanout: { queue, inlineLimit: 0, newId: () => 'A1' } }, 'join', [change]),
    ).resolves.toBeUndefined();
  });

  it('lists users with their connection counts; room.left events name each membership removed', async () => {
    const { store, member } = setup();
    await member('r', 'a1', 'alice');
    await member('r', 'a2', 'alice');
    await member('r', 'b1', 'bob');
    expect(await listPresence(store, 'r')).toEqual({
      room: 'r',
      count: 2,
      users: [
        { userId: 'alice', connections: 2 },
        { userId: 'bob', connections: 1 },
      ],
    });
    expect(
      roomLeftEvents([{ room: 'r', connectionId: 'a1', userId: 'alice', userChanged: false, members: 0 }]),
    ).toEqual([{ detailType: 'room.left', detail: { room: 'r', userId: 'alice', connectionId: 'a1' } }]);
  });
  it('checks its own correction in turn: join, leave and a rejoin during one announcement end with join', async () => {
    // Prepare
    const store = new MemoryStore(clock);
    const gateway = new HookedGateway();
    const deps = { store, gateway, concurrency: 4, prune: async () => undefined };
    const member = (connectionId: string, userId: string) =>
      store.addMember({ room: 'presence-r', connectionId, userId, joinedAt: 1, expiresAt: live });
    await member('w1', 'watcher');
    const joined = (await member('a1', 'alice')) as RoomChange;

    // The join's re-read happens after alice's a1 left (and that leave was announced).
    const realRead = store.roomUserConnections.bind(store);
    let reads = 0;
    store.roomUserConnections = async (room: string, userId: string) => {
      reads += 1;
      if (reads === 1) {
        const left = (await store.removeMember('presence-r', 'a1')) as RoomChange;
        await announce(deps, 'leave', [left]);
      }
      return realRead(room, userId);
    };
    // Just before the join's corrective `leave` goes out, alice is back (a2) and that join is announced
    // in full (its own re-read finds her present: nothing more).
    let leaves = 0;
    gateway.before = async (connectionId, payload) => {
      if (connectionId !== 'w1' || JSON.parse(payload).event !== 'leave') return;
      leaves += 1;
      if (leaves !== 2) return;
      gateway.before = undefined;
      const back = (await member('a2', 'alice')) as RoomChange;
      await announce(deps, 'join', [back]);
    };

    // Act
    await announce(deps, 'join', [joined]);

    // Assess: alice is in the room, so the last frame the watcher got about her must be a join.
    expect(await realRead('presence-r', 'alice')).toBe(1);
    const events = gateway.framesTo('w1').map((f) => f.event);
    expect(events.slice(0, 4)).toEqual(['join', 'leave', 'join', 'leave']);
    expect(events.at(-1)).toBe('join');
  });
});
