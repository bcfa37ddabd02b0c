import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { reconcileTable } from '../../../lambdas/adapters/dynamo-reconcile.js';
import {
  EVERYONE_SHARDS,
  keys,
  RESTORED_ATTRIBUTE,
  STATS_SHARDS,
  shardOf,
} from '../../../lambdas/adapters/table.js';

const doc = mockClient(DynamoDBDocumentClient);
const client = () => DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const NOW = 1_790_000_000;
/** The orphan memberships each run handed over to be settled and announced. */
let settledOrphans: Record<string, unknown>[] = [];
const settleRemovedMembership = async (item: Record<string, unknown>) => void settledOrphans.push(item);

beforeEach(() => {
  settledOrphans = [];
  doc.reset();
  doc.on(UpdateCommand).resolves({});
  doc.on(PutCommand).resolves({});
  doc.on(DeleteCommand).resolves({});
  doc.on(QueryCommand).resolves({ Items: [] });
});

/** A membership of `connectionId` in `room`, as stored. */
const membership = (room: string, connectionId: string) => ({
  ...keys.membership(room, connectionId),
  room,
  connectionId,
  userId: 'u',
  expiresAt: NOW + 100,
});

/** A connection as stored: its item and its broadcast-list entry. */
const connection = (connectionId: string, userId = 'u') => [
  { ...keys.connection(connectionId), connectionId, userId, expiresAt: NOW + 100 },
  { ...keys.everyoneItem(shardOf(connectionId, EVERYONE_SHARDS), connectionId), connectionId },
];

/** The stats shards as they should be for connections of `users` (one each) and `rooms`. */
function statsItems(users: string[], rooms: string[] = []) {
  const shards = new Map<number, { connections: number; users: number; rooms: number }>();
  const shard = (seed: string) => {
    const n = shardOf(seed, STATS_SHARDS);
    const found = shards.get(n) ?? { connections: 0, users: 0, rooms: 0 };
    shards.set(n, found);
    return found;
  };
  for (const user of users) {
    shard(user).connections += 1;
    shard(user).users += 1;
  }
  for (const room of rooms) shard(room).rooms += 1;
  return [...shards].map(([n, values]) => ({ ...keys.statsShard(n), ...values }));
}

describe('reconcileTable', () => {
  it('deletes a membership and an entry whose connection is gone, once a consistent read says so, and settles the membership', async () => {
    const entry = { ...keys.everyoneItem(shardOf('gone', EVERYONE_SHARDS), 'gone') };
    doc.on(ScanCommand).resolves({ Items: [membership('r', 'gone'), entry] });
    doc.on(GetCommand).resolves({});
    doc
      .on(DeleteCommand, { Key: keys.membership('r', 'gone') })
      .resolves({ Attributes: membership('r', 'gone') });
    doc.on(DeleteCommand, { Key: entry }).resolves({ Attributes: entry });

    expect(await reconcileTable(client(), 'tbl', NOW, { settleRemovedMembership })).toMatchObject({
      orphansDeleted: 2,
    });
    const connectionReads = doc
      .commandCalls(GetCommand)
      .map((c) => c.args[0].input)
      .filter((input) => input.Key?.pk === keys.connection('gone').pk);
    expect(connectionReads).toEqual([expect.objectContaining({ ConsistentRead: true })]);
    // The membership's counters are settled and its leave announced; the entry counts nothing.
    expect(settledOrphans).toEqual([membership('r', 'gone')]);
  });

  it('settles nothing when its delete finds the orphan already gone (a prune removed and settled it)', async () => {
    doc.on(ScanCommand).resolves({ Items: [membership('r', 'gone')] });
    doc.on(GetCommand).resolves({});

    expect(await reconcileTable(client(), 'tbl', NOW, { settleRemovedMembership })).toMatchObject({
      orphansDeleted: 0,
    });
    expect(doc.commandCalls(DeleteCommand)[0]?.args[0].input).toMatchObject({ ReturnValues: 'ALL_OLD' });
    expect(settledOrphans).toEqual([]);
  });

  it('keeps the items of a connection that opened after the scan passed its item', async () => {
    doc.on(ScanCommand).resolves({
      Items: [membership('r', 'new'), { ...keys.everyoneItem(shardOf('new', EVERYONE_SHARDS), 'new') }],
    });
    doc.on(GetCommand).resolves({ Item: { ...keys.connection('new'), userId: 'u' } });

    expect(await reconcileTable(client(), 'tbl', NOW, { settleRemovedMembership })).toMatchObject({
      orphansDeleted: 0,
    });
    expect(doc.commandCalls(DeleteCommand)).toHaveLength(0);
    // One read for the connection, however many of its items looked orphaned.
    const connectionReads = doc
      .commandCalls(GetCommand)
      .filter((c) => c.args[0].input.Key?.pk === keys.connection('new').pk);
    expect(connectionReads).toHaveLength(1);
  });

  it('marks a broadcast entry it puts back as restored', async () => {
    doc.on(ScanCommand).resolves({
      Items: [{ ...keys.connection('c'), connectionId: 'c', userId: 'u', expiresAt: NOW + 100 }],
    });

    await reconcileTable(client(), 'tbl', NOW, { settleRemovedMembership });
    expect(doc.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({
      Item: { ...keys.everyoneItem(shardOf('c', EVERYONE_SHARDS), 'c'), [RESTORED_ATTRIBUTE]: 1 },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
  });

  it('counts a room again, from the room alone, before correcting its counters', async () => {
    // The scan passed the room's membership before a connection joined, and read #META after it
    // was counted: by the scan, members 1 and the user's count 1 are drift.
    doc.on(ScanCommand).resolves({
      Items: [
        ...connection('c'),
        { ...keys.userCounter('u'), connections: 1 },
        { ...keys.roomMeta('r'), members: 1, users: 1 },
        { ...keys.roomUser('r', 'u'), room: 'r', userId: 'u', connections: 1 },
        ...statsItems(['u'], ['r']),
      ],
    });
    doc
      .on(GetCommand, { Key: keys.roomMeta('r') })
      .resolves({ Item: { ...keys.roomMeta('r'), members: 1, users: 1 } });
    doc.on(QueryCommand).callsFake((input: { ExpressionAttributeValues: Record<string, string> }) => {
      if (input.ExpressionAttributeValues[':prefix'] === 'USER#') {
        return { Items: [{ ...keys.roomUser('r', 'u'), room: 'r', userId: 'u', connections: 1 }] };
      }
      return { Items: [membership('r', 'c')] };
    });

    await reconcileTable(client(), 'tbl', NOW, { settleRemovedMembership });
    // The room's counters are left alone.
    const touched = [...doc.commandCalls(UpdateCommand), ...doc.commandCalls(DeleteCommand)]
      .map((c) => c.args[0].input.Key)
      .filter((key) => String(key?.pk).startsWith('ROOM#'));
    expect(touched).toEqual([]);
    // Recounted on each of the two looks, consistently.
    const reads = doc.commandCalls(QueryCommand).map((c) => c.args[0].input.ConsistentRead);
    expect(reads).toEqual([true, true, true, true]);
  });

  it('looks once and waits for nothing when the table is right', async () => {
    doc.on(ScanCommand).resolves({
      Items: [...connection('c'), { ...keys.userCounter('u'), connections: 1 }, ...statsItems(['u'])],
    });
    let settled = 0;
    const settle = async () => {
      settled += 1;
    };

    expect(await reconcileTable(client(), 'tbl', NOW, { settle, settleRemovedMembership })).toEqual({
      countersFixed: 0,
      orphansDeleted: 0,
    });
    expect(settled).toBe(0);
    expect(doc.commandCalls(ScanCommand)).toHaveLength(1);
  });

  it('leaves alone what a handler in flight made look wrong, and corrects what stays wrong across the wait', async () => {
    // First look: a connect between its connection item and its user counter (the counter says 0),
    // and a user whose counter is 3 with one connection (real drift).
    const stats = statsItems(['fresh', 'drifted']);
    doc
      .on(ScanCommand)
      .resolvesOnce({
        Items: [
          ...connection('new', 'fresh'),
          ...connection('old', 'drifted'),
          { ...keys.userCounter('drifted'), connections: 3 },
          ...stats,
        ],
      })
      // After the wait: the connect has counted its user; the drift is as it was.
      .resolves({
        Items: [
          ...connection('new', 'fresh'),
          { ...keys.userCounter('fresh'), connections: 1 },
          ...connection('old', 'drifted'),
          { ...keys.userCounter('drifted'), connections: 3 },
          ...stats,
        ],
      });
    let settled = 0;

    const report = await reconcileTable(client(), 'tbl', NOW, {
      settleRemovedMembership,
      settle: async () => {
        settled += 1;
      },
    });

    expect(settled).toBe(1);
    const updated = doc.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(updated.map((u) => u.Key)).toEqual([keys.userCounter('drifted')]);
    expect(updated[0]?.ExpressionAttributeValues).toMatchObject({ ':f0': 1, ':c0': 3 });
    expect(report).toEqual({ countersFixed: 1, orphansDeleted: 0 });
  });
});
