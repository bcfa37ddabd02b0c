import { describe, expect, it } from 'vitest';
import type { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store.js';
import { keys, splitPartitionOf } from '../../lambdas/adapters/table.js';
import { type Command, heldTables, member } from './held-store.js';

/**
 * Two joins of one connection (a retry, a resume, a backend's POST /members) racing around a
 * room's split: whatever the order, its membership ends in one partition, counted once. Rooms
 * here are split past 2 members; a request of the store is held so another join runs in between.
 */
const { heldStore, item, open, partitionsHolding } = heldTables('split-races');
const ROOM = 'presence-r';
const isPutOf =
  (connectionId: string, partition = 0) =>
  (c: Command) =>
    c.constructor.name === 'PutCommand' &&
    c.input.Item?.pk === keys.roomPartition(ROOM, partition) &&
    c.input.Item?.sk === keys.membership(ROOM, connectionId).sk;

async function targets(store: DynamoConnectionStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of store.roomConnectionIds(ROOM)) ids.push(...page.ids);
  return ids;
}

/**
 * a and b are in the room; x's first join (handler A) has read the room unsplit and its write to
 * partition 0 waits; c's join then takes the room past 2 and marks it split. Handler B is there
 * for x's second join.
 */
async function firstJoinHeldAcrossTheSplit() {
  const A = heldStore(2);
  const B = heldStore(2);
  await open(A.store, 'a', 'b', 'c', 'x');
  await A.store.addMember(member(ROOM, 'a'));
  await A.store.addMember(member(ROOM, 'b'));
  const heldA = A.hold(isPutOf('x'));
  const joinA = A.store.addMember(member(ROOM, 'x'));
  await heldA.reached;
  await A.store.addMember(member(ROOM, 'c'));
  return { A, B, joinA, releaseA: heldA.release };
}

describe('a connection joining twice around the split', () => {
  it('keeps one membership, counted once, when its first join read the room before the split', async () => {
    const { A, B, joinA, releaseA } = await firstJoinHeldAcrossTheSplit();
    const store = A.store;
    // x's second join finds the room split and partition 0 empty.
    const second = await B.store.addMember(member(ROOM, 'x'));
    releaseA();
    await joinA;

    expect(await partitionsHolding(ROOM, 'x')).toEqual([0]);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 4, users: 4 });
    expect(await item(keys.roomUser(ROOM, 'x'))).toMatchObject({ connections: 1 });
    expect(second?.userChanged).toBe(true);
    // A leave then takes x out of the room for every reader, and is announced.
    expect((await store.removeMember(ROOM, 'x'))?.userChanged).toBe(true);
    expect(await store.isMember(ROOM, 'x')).toBe(false);
    expect(await targets(store)).not.toContain('x');
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 3, users: 3 });
  });

  it('keeps one membership when a leave came between the read and the write of a join that meant to keep it', async () => {
    const { store, hold } = heldStore(2);
    await open(store, 'x', 'a', 'b');
    await store.addMember(member(ROOM, 'x'));
    await store.addMember(member(ROOM, 'a'));
    await store.addMember(member(ROOM, 'b')); // splits the room; x stays in partition 0
    // Join A finds x in partition 0; its write there waits. A leave, then join B (partition 0 empty).
    const { reached, release } = hold(isPutOf('x'));
    const joinA = store.addMember(member(ROOM, 'x'));
    await reached;
    await store.removeMember(ROOM, 'x');
    await store.addMember(member(ROOM, 'x'));
    release();
    await joinA;

    expect(await partitionsHolding(ROOM, 'x')).toEqual([0]);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 3, users: 3 });
    expect(await item(keys.roomUser(ROOM, 'x'))).toMatchObject({ connections: 1 });
    // Closing x removes every trace of it, and its leave is announced.
    const closed = await store.removeConnection('x');
    expect(closed.rooms.map((r) => [r.room, r.userChanged])).toEqual([[ROOM, true]]);
    expect(await partitionsHolding(ROOM, 'x')).toEqual([]);
  });

  it("keeps one membership when the join to the connection's own partition is the one that lands last", async () => {
    // The second review's interleaving: the join to x's own partition writes after the
    // partition-0 join has finished.
    const { A, B, joinA, releaseA } = await firstJoinHeldAcrossTheSplit();
    const heldB = B.hold(isPutOf('x', splitPartitionOf('x')));
    const joinB = B.store.addMember(member(ROOM, 'x'));
    await heldB.reached;
    releaseA();
    await joinA;
    heldB.release();
    await joinB;

    expect(await partitionsHolding(ROOM, 'x')).toEqual([0]);
    expect(await item(keys.roomUser(ROOM, 'x'))).toMatchObject({ connections: 1 });
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 4, users: 4 });
    expect((await A.store.removeMember(ROOM, 'x'))?.userChanged).toBe(true);
    expect(await targets(A.store)).not.toContain('x');
  });

  it('announces the leave that comes while a join is removing its twin, and the join once', async () => {
    const { A, B, joinA, releaseA } = await firstJoinHeldAcrossTheSplit();
    const joinB = await B.store.addMember(member(ROOM, 'x')); // to x's own partition
    // A writes partition 0, then its delete of the twin waits while x leaves.
    const heldTwin = A.hold(
      (c) =>
        c.constructor.name === 'DeleteCommand' &&
        c.input.Key?.pk === keys.roomPartition(ROOM, splitPartitionOf('x')),
    );
    releaseA();
    await heldTwin.reached;
    const left = await B.store.removeMember(ROOM, 'x');
    heldTwin.release();
    const joinedA = await joinA;

    expect(await partitionsHolding(ROOM, 'x')).toEqual([]);
    expect(await item(keys.roomUser(ROOM, 'x'))).toMatchObject({ connections: 0 });
    expect([joinB?.userChanged, joinedA?.userChanged].filter(Boolean)).toHaveLength(1);
    expect(left?.userChanged).toBe(true);
  });

  it('keeps one membership, counted once, when the room filled and split while its first join read it nearly empty', async () => {
    // Split past 4: x's first join reads the room at 1 member; four joins then take it past 4.
    const A = heldStore(4);
    const B = heldStore(4);
    await open(A.store, 'a', 'b', 'c', 'd', 'e', 'x');
    await A.store.addMember(member(ROOM, 'a'));
    const held = A.hold(isPutOf('x'));
    const joinA = A.store.addMember(member(ROOM, 'x'));
    await held.reached;
    for (const id of ['b', 'c', 'd', 'e']) await A.store.addMember(member(ROOM, id));
    // x's second join finds the room split and partition 0 empty.
    await B.store.addMember(member(ROOM, 'x'));
    held.release();
    await joinA;

    expect(await partitionsHolding(ROOM, 'x')).toEqual([0]);
    expect(await item(keys.roomUser(ROOM, 'x'))).toMatchObject({ connections: 1 });
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 6 });
    expect((await A.store.removeMember(ROOM, 'x'))?.userChanged).toBe(true);
    expect(await A.store.isMember(ROOM, 'x')).toBe(false);
  });
});
