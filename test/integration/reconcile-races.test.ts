import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { reconcileTable } from '../../lambdas/adapters/dynamo-reconcile.js';
import { EVERYONE_SHARDS, keys, STATS_SHARDS, shardOf } from '../../lambdas/adapters/table.js';
import type { RoomChange } from '../../lambdas/domain/ports.js';
import { type Command, heldTables, isUpdateOf, member } from './held-store.js';

/**
 * The reconciliation while a handler is between its item write and its counter writes: a request
 * of the store is held until the test lets it go. The reconciliation's wait between its two looks
 * is where the held handler finishes (on AWS: RECONCILE_SETTLE_MS, longer than any function runs).
 */
const { heldStore, raw, table, item, open } = heldTables('reconcile-races');
const isStatsUpdate = (c: Command) => c.constructor.name === 'UpdateCommand' && c.input.Key?.pk === 'STATS';
const ROOM = 'presence-r';

/**
 * What the deployed function does with an orphan membership it deleted, but the announcement: its
 * counters settled by the store. The changes that settlement made.
 */
function orphanSettler() {
  const { store } = heldStore();
  const changes: RoomChange[] = [];
  const settleRemovedMembership = async (removed: Record<string, unknown>) => {
    changes.push(...(await store.settleExpired(removed)).rooms);
  };
  return { changes, settleRemovedMembership };
}
/** A reconciliation of the test's table; `settle` runs between its two looks. */
const reconcile = (settle: () => Promise<void>, orphans = orphanSettler()) =>
  reconcileTable(raw(), table(), Math.floor(Date.now() / 1000), {
    settle,
    settleRemovedMembership: orphans.settleRemovedMembership,
  });
/** Real drift: the room's member count 5 above the truth (a lost answer, say). */
const driftMembers = () =>
  raw().send(
    new UpdateCommand({
      TableName: table(),
      Key: keys.roomMeta(ROOM),
      UpdateExpression: 'ADD members :five',
      ExpressionAttributeValues: { ':five': 5 },
    }),
  );
/** Between the looks, the held request goes on and its handler finishes. */
const finishing = (release: () => void, handler: Promise<unknown>) => async () => {
  release();
  await handler;
};

describe('the reconciliation with a handler in flight', () => {
  it('leaves a leave between its delete and its counters alone: the leave is announced and the counts end right', async () => {
    const { store, hold } = heldStore();
    await open(store, 'a', 'x');
    await store.addMember(member(ROOM, 'a'));
    await store.addMember(member(ROOM, 'x'));
    const { reached, release } = hold(isUpdateOf('USER#x'));
    const leave = store.removeMember(ROOM, 'x');
    await reached;

    const report = await reconcile(finishing(release, leave));

    expect(report).toEqual({ countersFixed: 0, orphansDeleted: 0 });
    expect((await leave)?.userChanged).toBe(true);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
    // x comes back: a first connection again, so its join is announced and it is listed.
    expect((await store.addMember(member(ROOM, 'x')))?.userChanged).toBe(true);
    expect((await store.roomPresence(ROOM, 10)).users.map((u) => u.userId).sort()).toEqual(['a', 'x']);
  });

  it('leaves a join between its membership and its counters alone: the join is announced and counted once', async () => {
    const { store, hold } = heldStore();
    await open(store, 'a', 'x');
    await store.addMember(member(ROOM, 'a'));
    const { reached, release } = hold(isUpdateOf('USER#x'));
    const join = store.addMember(member(ROOM, 'x'));
    await reached;

    const report = await reconcile(finishing(release, join));

    expect(report).toEqual({ countersFixed: 0, orphansDeleted: 0 });
    expect((await join)?.userChanged).toBe(true);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 2, users: 2 });
    expect(await item(keys.roomUser(ROOM, 'x'))).toMatchObject({ connections: 1 });
  });

  it("does not take a closing connection's membership for an orphan: the close removes it and announces the leave", async () => {
    const { store, hold } = heldStore();
    await open(store, 'a', 'x');
    await store.addMember(member(ROOM, 'a'));
    await store.addMember(member(ROOM, 'x'), async () => void (await store.recordRoom('x', ROOM)));
    const { reached, release } = hold(
      (c) => c.constructor.name === 'DeleteCommand' && c.input.Key?.pk === `ROOM#${ROOM}`,
    );
    const closing = store.removeConnection('x');
    await reached;

    const report = await reconcile(finishing(release, closing));

    expect(report).toEqual({ countersFixed: 0, orphansDeleted: 0 });
    expect((await closing).rooms.map((r) => [r.room, r.userChanged])).toEqual([[ROOM, true]]);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
  });

  it('still corrects a counter that is wrong on both looks', async () => {
    const { store } = heldStore();
    await open(store, 'a');
    await store.addMember(member(ROOM, 'a'));
    await driftMembers();
    let looks = 0;

    const report = await reconcile(async () => {
      looks += 1;
    });

    expect(looks).toBe(1);
    expect(report.countersFixed).toBe(1);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
  });

  it('does not correct the stats from two different connects, one in flight at each look', async () => {
    const X = heldStore();
    const Y = heldStore();
    await open(X.store, 'a');
    const hx = X.hold(isStatsUpdate);
    const cx = open(X.store, 'x');
    await hx.reached;
    let cy: Promise<unknown> | undefined;
    let releaseY: (() => void) | undefined;

    const report = await reconcile(async () => {
      await finishing(hx.release, cx)();
      const hy = Y.hold(isStatsUpdate);
      cy = open(Y.store, 'y');
      await hy.reached;
      releaseY = hy.release;
    });
    releaseY?.();
    await cy;

    expect({ report, stats: await X.store.stats() }).toEqual({
      report: { countersFixed: 0, orphansDeleted: 0 },
      stats: { connections: 3, users: 3, rooms: 0 },
    });
  });

  it('corrects a drifted stats shard while other users connect and disconnect between the looks', async () => {
    const { store } = heldStore();
    await open(store, 'a');
    // Lost answers left the stats of a's part of the table 5 connections too high.
    await raw().send(
      new UpdateCommand({
        TableName: table(),
        Key: keys.statsShard(shardOf('a', STATS_SHARDS)),
        UpdateExpression: 'ADD connections :five',
        ExpressionAttributeValues: { ':five': 5 },
      }),
    );
    // Users whose stats are kept on other shards than a's.
    const others = Array.from({ length: 40 }, (_, i) => `busy-${i}`)
      .filter((u) => shardOf(u, STATS_SHARDS) !== shardOf('a', STATS_SHARDS))
      .slice(0, 3);

    const report = await reconcile(async () => {
      // Traffic elsewhere in the table between the looks: connects and a close.
      await open(store, ...others);
      await store.removeConnection(others[0] ?? '');
    });

    expect(report.countersFixed).toBe(1);
    expect(await store.stats()).toEqual({ connections: 3, users: 3, rooms: 0 });
  });

  it('does not correct a room whose counts came back to the same values with another join in flight', async () => {
    const { store: plain } = heldStore();
    const U = heldStore();
    const W = heldStore();
    const ROOM = 'presence-churn';
    await open(plain, 'a', 'u', 'v', 'w');
    await plain.addMember(member(ROOM, 'a'));
    await plain.addMember(member(ROOM, 'v'));
    // u's join is between its membership and its counters at the first look.
    const hu = U.hold(isUpdateOf('USER#u'));
    const ju = U.store.addMember(member(ROOM, 'u'));
    await hu.reached;
    let jw: Promise<unknown> | undefined;
    let releaseW: (() => void) | undefined;
    const report = await reconcile(async () => {
      await finishing(hu.release, ju)();
      await plain.removeMember(ROOM, 'v'); // v leaves: the room's counts are back where they were
      const hw = W.hold(isUpdateOf('USER#w'));
      jw = W.store.addMember(member(ROOM, 'w'));
      await hw.reached;
      releaseW = hw.release;
    });
    releaseW?.();
    await jw;
    const meta = await item(keys.roomMeta(ROOM));
    expect({
      report,
      members: meta?.members,
      users: meta?.users,
      counted: await plain.countMembers(ROOM),
    }).toEqual({
      report: { countersFixed: 0, orphansDeleted: 0 },
      members: 3,
      users: 3,
      counted: 3,
    });
  });
});

describe('the reconciliation while TTL removes a connection', () => {
  it("leaves an expired connection's membership to TTL when TTL took the connection item first, so its leave is announced", async () => {
    const { store } = heldStore();
    const past = Math.floor(Date.now() / 1000) - 60;
    await open(store, 'a');
    await store.putConnection({
      connectionId: 'x',
      userId: 'x',
      connectedAt: Date.now() - 7_300_000,
      expiresAt: past,
    });
    await store.addMember(member(ROOM, 'a'));
    await store.addMember({ ...member(ROOM, 'x'), expiresAt: past });
    // Its $disconnect was lost; TTL deletes the connection item first and the stream consumer settles it.
    const connection = await item(keys.connection('x'));
    await raw().send(new DeleteCommand({ TableName: table(), Key: keys.connection('x') }));
    await store.settleExpired(connection as Record<string, unknown>);

    // (Its broadcast-list entry, an orphan that counts nothing, may go.)
    expect((await reconcile(async () => {})).countersFixed).toBe(0);

    // TTL then deletes the membership, and its stream record is how the room hears that x left.
    const membership = await item(keys.membership(ROOM, 'x'));
    expect(membership).toBeDefined();
    await raw().send(new DeleteCommand({ TableName: table(), Key: keys.membership(ROOM, 'x') }));
    const settled = await store.settleExpired(membership as Record<string, unknown>);
    expect(settled.rooms[0]?.userChanged).toBe(true);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
  });
});

describe('the reconciliation while the expiry consumer is behind', () => {
  /** A reconciliation as deployed: no counter is corrected while the consumer lags past its wait. */
  const reconcileWaiting = () =>
    reconcileTable(raw(), table(), Math.floor(Date.now() / 1000), {
      expiryLagLimitMs: 70_000,
      settleRemovedMembership: orphanSettler().settleRemovedMembership,
    });

  it('leaves the counters of a TTL deletion not settled yet alone, so its settle later counts it out once', async () => {
    const { store } = heldStore();
    await open(store, 'a', 'x');
    await store.addMember(member(ROOM, 'a'));
    await store.addMember(member(ROOM, 'x'));
    // TTL deletes x's membership; the consumer, two minutes behind, settles it only later.
    const old = await item(keys.membership(ROOM, 'x'));
    await raw().send(new DeleteCommand({ TableName: table(), Key: keys.membership(ROOM, 'x') }));
    await store.noteExpiryLag(120_000);

    expect(await reconcileWaiting()).toEqual({ countersFixed: 0, orphansDeleted: 0, expiryBehind: true });
    const settled = await store.settleExpired(old as Record<string, unknown>);
    expect(settled.rooms[0]?.userChanged).toBe(true);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
    expect((await item(keys.roomUser(ROOM, 'x')))?.connections ?? 0).toBe(0);

    // Once the consumer is caught up, drift is corrected again.
    await store.noteExpiryLag(1_000);
    await driftMembers();
    expect((await reconcileWaiting()).countersFixed).toBe(1);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
  });
});

describe('the reconciliation of an orphaned membership', () => {
  /** x's $disconnect stopped after deleting its connection item and broadcast entry. */
  const halfClosed = async (connectionId: string) => {
    for (const key of [
      keys.connection(connectionId),
      keys.everyoneItem(shardOf(connectionId, EVERYONE_SHARDS), connectionId),
    ]) {
      await raw().send(new DeleteCommand({ TableName: table(), Key: key }));
    }
  };

  it('deletes the membership of a connection that is gone and settles it once: its leave is announced, its counters end right', async () => {
    const { store } = heldStore();
    await open(store, 'a', 'x');
    await store.addMember(member(ROOM, 'a'));
    await store.addMember(member(ROOM, 'x'));
    // x's membership is left, counted, and no delivery will find it (nothing lists x any more).
    await halfClosed('x');
    const orphans = orphanSettler();

    expect(await reconcile(async () => {}, orphans)).toMatchObject({ orphansDeleted: 1 });
    expect(await item(keys.membership(ROOM, 'x'))).toBeUndefined();
    // x's last connection left the room: that is what the deployed function announces.
    expect(orphans.changes.map((c) => [c.room, c.userId, c.userChanged])).toEqual([[ROOM, 'x', true]]);
    expect((await item(keys.roomUser(ROOM, 'x')))?.connections ?? 0).toBe(0);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
    // Nothing left for the next run.
    expect(await reconcile(async () => {})).toMatchObject({ countersFixed: 0, orphansDeleted: 0 });
  });

  it('corrects the counters of an orphan its join never counted before settling it, so they do not go below the truth', async () => {
    const { store } = heldStore();
    await open(store, 'a', 'x');
    await store.addMember(member(ROOM, 'a'));
    // x's join wrote its membership and stopped before counting it; then x's close stopped half way.
    await raw().send(
      new PutCommand({ TableName: table(), Item: { ...keys.membership(ROOM, 'x'), ...member(ROOM, 'x') } }),
    );
    await halfClosed('x');
    const orphans = orphanSettler();

    expect(await reconcile(async () => {}, orphans)).toMatchObject({ orphansDeleted: 1 });
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
    expect((await item(keys.roomUser(ROOM, 'x')))?.connections ?? 0).toBe(0);
    expect(await reconcile(async () => {})).toMatchObject({ countersFixed: 0, orphansDeleted: 0 });
  });
});
