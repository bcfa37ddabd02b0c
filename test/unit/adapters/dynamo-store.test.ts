import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoConnectionStore, interleave } from '../../../lambdas/adapters/dynamo-store.js';
import {
  EVERYONE_SHARDS,
  keys,
  ROOM_PARTITIONS,
  shardOf,
  splitPartitionOf,
} from '../../../lambdas/adapters/table.js';
import type { TargetPage } from '../../../lambdas/domain/ports.js';
import { fixedClock } from '../fakes.js';

type Item = Record<string, unknown>;

const doc = mockClient(DynamoDBDocumentClient);
const NOW = 1_790_000_000_000;
const store = (roomSplitAfter?: number) =>
  new DynamoConnectionStore(
    DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
    'tbl',
    fixedClock(NOW),
    undefined,
    undefined,
    roomSplitAfter,
  );
const later = NOW / 1000 + 100;

beforeEach(() => doc.reset());

async function collect(pages: AsyncIterable<TargetPage>) {
  const out: (readonly string[])[] = [];
  for await (const page of pages) out.push(page.ids);
  return out;
}

describe('DynamoConnectionStore', () => {
  it('follows pagination of a room with consistent reads, a small projection and the expiry filter', async () => {
    doc
      .on(QueryCommand)
      .resolvesOnce({
        Items: [{ sk: '#META' }, { sk: 'CONN#a', connectionId: 'a' }, { sk: 'CONN#b', connectionId: 'b' }],
        LastEvaluatedKey: { pk: 'ROOM#r', sk: 'CONN#b' },
      })
      .resolvesOnce({ Items: [{ sk: 'CONN#c', connectionId: 'c' }] });

    expect(await collect(store().roomConnectionIds('r'))).toEqual([['a', 'b'], ['c']]);

    // The room's #META comes first (it sorts before its members) and says it is not split: no other read.
    expect(doc.commandCalls(GetCommand)).toHaveLength(0);
    const calls = doc.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({
      TableName: 'tbl',
      ConsistentRead: true,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :connEnd',
      ProjectionExpression: 'sk, connectionId, #split',
      // An expired #META still says whether the room is split.
      FilterExpression: '#ttl > :now OR attribute_exists(#split)',
      ExpressionAttributeValues: {
        ':pk': 'ROOM#r',
        ':from': '#META',
        ':connEnd': 'CONN$',
        ':now': NOW / 1000,
      },
    });
    expect(calls[1]?.ExclusiveStartKey).toEqual({ pk: 'ROOM#r', sk: 'CONN#b' });
  });

  it('reads a user connections from the index, every page', async () => {
    doc
      .on(QueryCommand)
      .resolvesOnce({
        Items: [{ connectionId: 'a', userId: 'u', connectedAt: 1, expiresAt: later }],
        LastEvaluatedKey: { x: 1 },
      })
      .resolvesOnce({ Items: [{ connectionId: 'b', userId: 'u', connectedAt: 2, expiresAt: later }] });
    const connections = await store().userConnections('u');
    expect(connections.map((c) => c.connectionId)).toEqual(['a', 'b']);
    expect(doc.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({ IndexName: 'gsi1' });
  });

  it('treats an expired connection as absent', async () => {
    doc
      .on(GetCommand)
      .resolves({ Item: { connectionId: 'a', userId: 'u', connectedAt: 1, expiresAt: NOW / 1000 - 1 } });
    expect(await store().getConnection('a')).toBeUndefined();
  });

  it('counts a new connection once, for the connection and for a new user', async () => {
    doc.on(PutCommand).resolves({});
    doc.on(UpdateCommand).resolves({ Attributes: { connections: 1 } });
    await store().putConnection({ connectionId: 'c', userId: 'u', connectedAt: NOW, expiresAt: later });
    const updates = doc.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(updates).toHaveLength(2);
    expect(updates[1]?.ExpressionAttributeValues).toEqual({ ':v0': 1, ':v1': 1 });
  });

  it('does not count a connection stored again', async () => {
    doc.on(PutCommand).resolves({ Attributes: { connectionId: 'c' } });
    await store().putConnection({ connectionId: 'c', userId: 'u', connectedAt: NOW, expiresAt: later });
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('touches no counter when the connection cannot be stored', async () => {
    // A count moved before the put is known would be read by the user's other connects and
    // disconnects in the meantime, and their 0↔1 transitions (user.online/offline) misread.
    doc.on(PutCommand).rejects(new Error('store down'));
    doc.on(UpdateCommand).resolves({ Attributes: { connections: 1 } });
    await expect(
      store().putConnection({ connectionId: 'c', userId: 'u', connectedAt: NOW, expiresAt: later }),
    ).rejects.toThrow('store down');
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('removes a connection that is already gone without touching counters, and cleans its memberships', async () => {
    doc.on(DeleteCommand).resolves({});
    doc.on(QueryCommand).resolves({ Items: [{ room: 'r1' }] });
    expect(await store().removeConnection('c')).toEqual({ rooms: [] });
    const keys = doc.commandCalls(DeleteCommand).map((c) => c.args[0].input.Key);
    expect(keys).toContainEqual({ pk: 'CONN#c', sk: 'META' });
    expect(keys).toContainEqual({ pk: 'ROOM#r1', sk: 'CONN#c' });
    expect(doc.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it("waits for every membership's removal before it reports one that failed", async () => {
    doc.on(DeleteCommand).resolves({});
    doc.on(DeleteCommand, { Key: { pk: 'CONN#c', sk: 'META' } }).resolves({ Attributes: { userId: 'u' } });
    doc.on(QueryCommand).resolves({ Items: [{ room: 'r1' }, { room: 'r2' }] });
    doc.on(DeleteCommand, { Key: { pk: 'ROOM#r1', sk: 'CONN#c' } }).rejects(new Error('throttled'));
    doc
      .on(DeleteCommand, { Key: { pk: 'ROOM#r2', sk: 'CONN#c' } })
      .resolves({ Attributes: { userId: 'u', expiresAt: later } });
    const counted = { Attributes: { connections: 0, members: 0, users: 0 } };
    doc.on(UpdateCommand).resolves(counted);
    // r2's counters answer a macrotask later than everything else.
    doc
      .on(UpdateCommand, { Key: { pk: 'ROOM#r2' } }, false)
      .callsFake(() => new Promise((resolve) => setTimeout(() => resolve(counted), 5)));
    const settled = await store().removeConnection('c');
    // r2's counters were settled before the failure came back: nothing left running unawaited.
    const r2 = doc.commandCalls(UpdateCommand).filter((c) => c.args[0].input.Key?.pk === 'ROOM#r2');
    expect(r2).toHaveLength(2);
    // What was removed is reported with the failure, so that it is announced all the same.
    expect(settled.failure).toEqual(new Error('throttled'));
    expect(settled.rooms.map((change) => change.room)).toEqual(['r2']);
    expect(settled.connection).toMatchObject({ connectionId: 'c', userId: 'u' });
  });

  it("reports the user's 0↔1 connection transitions it observed (for user.online / user.offline)", async () => {
    doc.on(PutCommand).resolves({});
    doc
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: { connections: 2, version: 7 } })
      .resolves({});
    const s = store();
    const c = { connectionId: 'c', userId: 'u', connectedAt: NOW, expiresAt: later };
    expect(await s.putConnection(c)).toEqual({ firstOfUser: false, version: 7 });
    doc.reset();
    doc.on(PutCommand).resolves({});
    doc
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: { connections: 1, version: 8 } })
      .resolves({});
    expect(await s.putConnection(c)).toEqual({ firstOfUser: true, version: 8 });
    // The user's count and its change number move in one update.
    expect(doc.commandCalls(UpdateCommand)[0]?.args[0].input.UpdateExpression).toMatch(/ADD .*:d0.*:d1/);
    doc.reset();
    doc.on(DeleteCommand).resolves({ Attributes: { userId: 'u' } });
    doc.on(QueryCommand).resolves({ Items: [] });
    doc
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: { connections: 0, version: 9 } })
      .resolves({});
    expect(await s.removeConnection('c')).toEqual({
      connection: { connectionId: 'c', userId: 'u', lastOfUser: true, at: NOW, version: 9 },
      rooms: [],
    });
    doc.reset();
    doc
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: { connections: 0, version: 10 } })
      .resolves({});
    expect(await s.settleExpired({ pk: 'CONN#c', sk: 'META', connectionId: 'c', userId: 'u' })).toEqual({
      connection: { connectionId: 'c', userId: 'u', lastOfUser: true, at: NOW, version: 10 },
      rooms: [],
    });
  });

  it('refuses a nextToken that belongs to another room', async () => {
    const token = Buffer.from(JSON.stringify({ pk: 'ROOM#other', sk: 'CONN#x' })).toString('base64url');
    await expect(store().listMembers('r', { limit: 10, nextToken: token })).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    expect(doc.commandCalls(QueryCommand)).toHaveLength(0);
  });

  it("reads a user's connections in a room from its presence counter, consistently, never below zero", async () => {
    doc.on(GetCommand).resolves({});
    doc.on(GetCommand, { Key: { pk: 'ROOM#r', sk: 'USER#u' } }).resolves({ Item: { connections: 2 } });
    doc.on(GetCommand, { Key: { pk: 'ROOM#r', sk: 'USER#v' } }).resolves({ Item: { connections: -1 } });
    expect(await store().roomUserConnections('r', 'u')).toBe(2);
    expect(await store().roomUserConnections('r', 'v')).toBe(0);
    expect(await store().roomUserConnections('r', 'w')).toBe(0);
    expect(doc.commandCalls(GetCommand).every((c) => c.args[0].input.ConsistentRead === true)).toBe(true);
  });

  it('sums the stats shards and never reports below zero', async () => {
    doc.on(QueryCommand).resolves({
      Items: [
        { connections: 3, users: 2, rooms: 1 },
        { connections: -1, users: -1, rooms: -2 },
      ],
    });
    expect(await store().stats()).toEqual({ connections: 2, users: 1, rooms: 0 });
  });

  it('settles the counters for a connection and a membership that TTL deleted, and ignores counters', async () => {
    doc.on(UpdateCommand).resolves({ Attributes: { connections: 0, members: 0 } });
    const s = store();
    await s.settleExpired({ pk: 'CONN#c', sk: 'META', connectionId: 'c', userId: 'u' });
    expect(
      await s.settleExpired({ pk: 'ROOM#r', sk: 'CONN#c', room: 'r', connectionId: 'c', userId: 'u' }),
    ).toEqual({ rooms: [{ room: 'r', connectionId: 'c', userId: 'u', userChanged: true, members: 0 }] });
    await s.settleExpired({ pk: 'ROOM#r', sk: '#META', members: 3 });
    const updates = doc.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(updates.map((u) => u.Key)).toEqual([
      { pk: 'USER#u', sk: '#COUNT' },
      expect.objectContaining({ pk: 'STATS' }),
      { pk: 'ROOM#r', sk: 'USER#u' },
      { pk: 'ROOM#r', sk: '#META' },
      expect.objectContaining({ pk: 'STATS' }),
    ]);
    expect(updates[1]?.ExpressionAttributeValues).toEqual({ ':v0': -1, ':v1': -1 });
    // The user's last connection in the room left: the room's members and users counts go down in one write.
    expect(updates[3]?.ExpressionAttributeNames).toMatchObject({ '#a0': 'members', '#a1': 'users' });
    expect(updates[3]?.ExpressionAttributeValues).toMatchObject({ ':d0': -1, ':d1': -1 });
    expect(updates[4]?.ExpressionAttributeValues).toEqual({ ':v0': -1 });
  });

  it('moves the room stats only when a room counter crosses between 0 and 1', async () => {
    doc.on(DeleteCommand).resolves({ Attributes: { connectionId: 'c', userId: 'u', expiresAt: later } });
    const statsUpdates = () =>
      doc.commandCalls(UpdateCommand).filter((c) => c.args[0].input.Key?.pk === 'STATS').length;

    doc.on(UpdateCommand).resolves({});
    // A leave racing a join: the counter passes through -1, then back to 0, never through 1→0.
    doc.on(UpdateCommand, { Key: { pk: 'ROOM#r', sk: '#META' } }).resolves({ Attributes: { members: -1 } });
    await store().removeMember('r', 'c');
    expect(statsUpdates()).toBe(0);

    doc.on(UpdateCommand, { Key: { pk: 'ROOM#r', sk: '#META' } }).resolves({ Attributes: { members: 0 } });
    await store().removeMember('r', 'c');
    expect(statsUpdates()).toBe(1);
  });

  it("joins with the membership, then the user's count in the room, then one write of the room's counts", async () => {
    doc.on(GetCommand).resolves({});
    doc.on(PutCommand).resolves({});
    const member = { room: 'r', connectionId: 'c', userId: 'u', joinedAt: NOW, expiresAt: later };
    const updates = () => doc.commandCalls(UpdateCommand).map((c) => c.args[0].input);

    // The user's first connection in the room: members and users move together.
    doc
      .on(UpdateCommand, { Key: { pk: 'ROOM#r', sk: 'USER#u' } })
      .resolves({ Attributes: { connections: 1 } });
    doc
      .on(UpdateCommand, { Key: { pk: 'ROOM#r', sk: '#META' } })
      .resolves({ Attributes: { members: 2, users: 2 } });
    expect(await store().addMember(member)).toEqual({
      room: 'r',
      connectionId: 'c',
      userId: 'u',
      userChanged: true,
      // The room's size after the join, from its counter (how large its announcement is).
      members: 2,
    });
    expect(updates().map((u) => u.Key)).toEqual([
      { pk: 'ROOM#r', sk: 'USER#u' },
      { pk: 'ROOM#r', sk: '#META' },
    ]);
    expect(updates()[1]?.UpdateExpression).toMatch(/^ADD #a0 :d0, #a1 :d1 /);
    expect(updates()[1]?.ExpressionAttributeNames).toMatchObject({ '#a0': 'members', '#a1': 'users' });
    expect(updates()[1]?.ExpressionAttributeValues).toMatchObject({ ':d0': 1, ':d1': 1 });

    // A second connection of the same user: only members moves; no stats (the room already existed).
    doc.resetHistory();
    doc
      .on(UpdateCommand, { Key: { pk: 'ROOM#r', sk: 'USER#u' } })
      .resolves({ Attributes: { connections: 2 } });
    expect((await store().addMember({ ...member, connectionId: 'c2' }))?.userChanged).toBe(false);
    expect(updates()).toHaveLength(2);
    expect(updates()[1]?.UpdateExpression).toMatch(/^ADD #a0 :d0 SET/);
    expect(updates()[1]?.ExpressionAttributeNames).not.toHaveProperty('#a1');
  });

  it('runs afterWrite once the membership is written, alongside the counters, and fails with it', async () => {
    doc.on(GetCommand).resolves({});
    doc.on(PutCommand).resolves({});
    doc.on(UpdateCommand).resolves({ Attributes: { connections: 1, members: 1, users: 1 } });
    const member = { room: 'r', connectionId: 'c', userId: 'u', joinedAt: NOW, expiresAt: later };
    const seen: number[] = [];
    const afterWrite = async () => {
      // The membership is written; the counters may or may not have started.
      seen.push(doc.commandCalls(PutCommand).length);
      throw new Error('read failed');
    };
    await expect(store().addMember(member, afterWrite)).rejects.toThrow('read failed');
    expect(seen).toEqual([1]);
    // The counters were still written: a failed check never leaves a membership uncounted.
    expect(doc.commandCalls(UpdateCommand).length).toBeGreaterThanOrEqual(2);
  });

  it('takes the room off the connection list before it deletes the membership (a rejoin racing the leave stays listed)', async () => {
    let release = () => {};
    doc.on(UpdateCommand, { Key: keys.everyoneItem(shardOf('c', EVERYONE_SHARDS), 'c') }).callsFake(
      () =>
        new Promise((resolve) => {
          release = () => resolve({});
        }),
    );
    doc.on(UpdateCommand, { Key: { pk: 'ROOM#r' } }).resolves({ Attributes: { connections: 0, members: 1 } });
    doc.on(DeleteCommand).resolves({ Attributes: { userId: 'u', expiresAt: later } });

    const leaving = store().removeMember('r', 'c');
    await new Promise((resolve) => setImmediate(resolve));
    expect(doc.commandCalls(DeleteCommand)).toHaveLength(0);
    release();
    expect(await leaving).toMatchObject({ room: 'r', userChanged: true });
    expect(doc.commandCalls(DeleteCommand)).toHaveLength(1);
  });

  it('leaves the membership as it was when the connection list cannot be written', async () => {
    doc.on(UpdateCommand).rejects(new Error('throttled'));
    await expect(store().removeMember('r', 'c')).rejects.toThrow('throttled');
    expect(doc.commandCalls(DeleteCommand)).toHaveLength(0);
  });

  it('lists a joined room on the connection entry; when the entry refuses (gone, full or restored) the connection item decides', async () => {
    doc.on(UpdateCommand).resolves({});
    expect(await store().recordRoom('c', 'r')).toBe(true);
    expect(doc.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      Key: keys.everyoneItem(shardOf('c', EVERYONE_SHARDS), 'c'),
      UpdateExpression: 'ADD #rooms :room',
      ConditionExpression:
        'attribute_exists(pk) AND attribute_not_exists(#restored) AND (attribute_not_exists(#rooms) OR size(#rooms) < :max)',
    });
    expect(doc.commandCalls(GetCommand)).toHaveLength(0);

    doc.reset();
    doc.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
    doc
      .on(GetCommand)
      .resolves({ Item: { ...keys.connection('c'), connectionId: 'c', userId: 'u', expiresAt: later } });
    expect(await store().recordRoom('c', 'r')).toBe(true);
    expect(doc.commandCalls(GetCommand)[0]?.args[0].input).toMatchObject({
      Key: keys.connection('c'),
      ConsistentRead: true,
    });

    doc.on(GetCommand).resolves({});
    expect(await store().recordRoom('c', 'r')).toBe(false);

    doc.on(UpdateCommand).rejects(new Error('throttled'));
    await expect(store().recordRoom('c', 'r')).rejects.toThrow('throttled');
  });

  describe('a room split over several partitions', () => {
    const member = { room: 'r', connectionId: 'c', userId: 'u', joinedAt: NOW, expiresAt: later };
    const home = { pk: 'ROOM#r', sk: 'CONN#c' };
    const own = keys.membership('r', 'c', splitPartitionOf('c'));
    /** The requests of the join, in order, as `Command key`. */
    const requests = () =>
      doc.calls().map((c) => {
        const command = c.args[0] as { constructor: { name: string }; input: { Key?: Item; Item?: Item } };
        const key = command.input.Key ?? command.input.Item;
        return `${command.constructor.name} ${key?.pk}/${key?.sk}`;
      });
    const room = (meta: Item, membersAfter: number) => {
      doc.on(GetCommand, { Key: { pk: 'ROOM#r', sk: '#META' } }).resolves({ Item: meta });
      doc
        .on(UpdateCommand, { Key: { pk: 'ROOM#r', sk: 'USER#u' } })
        .resolves({ Attributes: { connections: 1 } });
      doc
        .on(UpdateCommand, { Key: { pk: 'ROOM#r', sk: '#META' } })
        .resolves({ Attributes: { members: membersAfter, users: membersAfter } });
    };

    it('keeps a room in partition 0 up to ROOM_SPLIT_AFTER members, and marks it split when a join passes it', async () => {
      doc.on(PutCommand).resolves({});
      room({ members: 1 }, 2);
      await store(2).addMember(member);
      // From half the threshold on, a new membership reads #META again before counting (a twin?).
      expect(requests()).toEqual([
        'GetCommand ROOM#r/#META',
        'PutCommand ROOM#r/CONN#c',
        'GetCommand ROOM#r/#META',
        'UpdateCommand ROOM#r/USER#u',
        'UpdateCommand ROOM#r/#META',
      ]);

      doc.reset();
      doc.on(PutCommand).resolves({});
      room({ members: 2 }, 3);
      expect(await store(2).addMember(member)).toMatchObject({ room: 'r', userChanged: true });
      expect(requests().slice(1)).toEqual([
        'PutCommand ROOM#r/CONN#c',
        'GetCommand ROOM#r/#META',
        'UpdateCommand ROOM#r/USER#u',
        'UpdateCommand ROOM#r/#META',
        'UpdateCommand ROOM#r/#META',
      ]);
      expect(doc.commandCalls(UpdateCommand)[2]?.args[0].input.UpdateExpression).toBe('SET #split = :yes');
    });

    it("writes a join into a split room straight to its connection's partition, once: nothing moves", async () => {
      doc.on(PutCommand).resolves({});
      doc.on(GetCommand, { Key: home }).resolves({});
      room({ members: 5, split: 1 }, 6);
      expect(await store(2).addMember(member)).toMatchObject({ room: 'r', userChanged: true });
      expect(own.pk).toMatch(/^ROOM#r#([1-9]|1[0-5])$/);
      expect(requests()).toEqual([
        'GetCommand ROOM#r/#META',
        'GetCommand ROOM#r/CONN#c',
        `PutCommand ${own.pk}/${own.sk}`,
        // After the write, before counting: is there a copy in partition 0 after all?
        'GetCommand ROOM#r/CONN#c',
        'UpdateCommand ROOM#r/USER#u',
        'UpdateCommand ROOM#r/#META',
      ]);
      expect(doc.commandCalls(DeleteCommand)).toHaveLength(0);
    });

    it('keeps a repeated join of a connection that joined before the room was split in partition 0: no second copy, no count', async () => {
      doc.on(PutCommand).resolves({});
      doc.on(PutCommand, { Item: home }).resolves({ Attributes: { ...home, userId: 'u' } });
      doc.on(GetCommand, { Key: home }).resolves({ Item: { expiresAt: later } });
      room({ members: 5, split: 1 }, 6);
      const afterWrite = vi.fn(async () => undefined);
      expect(await store(2).addMember(member, afterWrite)).toBeUndefined();
      expect(doc.commandCalls(UpdateCommand)).toHaveLength(0);
      expect(doc.commandCalls(PutCommand).map((c) => c.args[0].input.Item?.pk)).toEqual(['ROOM#r']);
      expect(doc.commandCalls(DeleteCommand)).toHaveLength(0);
      expect(afterWrite).toHaveBeenCalledOnce();
    });

    it("deletes the twin in the connection's partition when its new membership in partition 0 finds the room split, and counts nothing", async () => {
      // The join read the room unsplit; by its re-read it is split: another join of c may have
      // written c's own partition. The delete returns that copy here, so that join's count stands.
      doc.on(PutCommand).resolves({});
      room({ members: 2 }, 3);
      doc
        .on(GetCommand, { Key: { pk: 'ROOM#r', sk: '#META' } })
        .resolvesOnce({ Item: { members: 2 } })
        .resolves({ Item: { members: 3, split: 1 } });
      doc.on(DeleteCommand, { Key: own }).resolves({ Attributes: { ...own, userId: 'u' } });

      expect(await store(2).addMember(member)).toBeUndefined();
      expect(requests()).toEqual([
        'GetCommand ROOM#r/#META',
        'PutCommand ROOM#r/CONN#c',
        'GetCommand ROOM#r/#META',
        `DeleteCommand ${own.pk}/${own.sk}`,
      ]);
      expect(doc.commandCalls(DeleteCommand)[0]?.args[0].input.ReturnValues).toBe('ALL_OLD');
    });

    it('deletes its own copy, counting nothing, when a copy in partition 0 appeared while it wrote', async () => {
      doc.on(PutCommand).resolves({});
      room({ members: 5, split: 1 }, 6);
      doc
        .on(GetCommand, { Key: home })
        .resolvesOnce({})
        .resolves({ Item: { expiresAt: later } });
      doc.on(DeleteCommand, { Key: own }).resolves({ Attributes: { ...own, userId: 'u' } });

      expect(await store(2).addMember(member)).toBeUndefined();
      expect(requests().slice(-2)).toEqual(['GetCommand ROOM#r/CONN#c', `DeleteCommand ${own.pk}/${own.sk}`]);
      expect(doc.commandCalls(UpdateCommand)).toHaveLength(0);
    });

    it('leaves from partition 0, or from its own partition when the membership is there', async () => {
      doc.on(UpdateCommand).resolves({ Attributes: { connections: 0, members: 5, users: 5 } });
      doc.on(DeleteCommand, { Key: home }).resolves({});
      doc.on(DeleteCommand, { Key: own }).resolves({ Attributes: { ...own, userId: 'u', expiresAt: later } });
      expect(await store(2).removeMember('r', 'c')).toMatchObject({ room: 'r', userChanged: true });
    });

    it('reads every partition of a split room (the split from the first page), and pages a listing through all of them', async () => {
      doc
        .on(GetCommand, { Key: { pk: 'ROOM#r', sk: '#META' } })
        .resolves({ Item: { members: 16, split: 1 } });
      // One member in each partition (a query resumed past it finds nothing more there).
      doc
        .on(QueryCommand)
        .callsFake((input: { ExpressionAttributeValues: Item; ExclusiveStartKey?: Item }) => {
          const pk = String(input.ExpressionAttributeValues[':pk']);
          if (input.ExclusiveStartKey) return { Items: [] };
          const first = input.ExpressionAttributeValues[':from'] ? [{ sk: '#META', split: 1 }] : [];
          return { Items: [...first, { pk, sk: `CONN#in-${pk}`, connectionId: `in-${pk}` }] };
        });
      const everyPartition = Array.from(
        { length: ROOM_PARTITIONS },
        (_, p) => `in-${keys.roomPartition('r', p)}`,
      );
      const ids = (await collect(store(2).roomConnectionIds('r'))).flat();
      expect(ids).toHaveLength(ROOM_PARTITIONS);
      expect(new Set(ids)).toEqual(new Set(everyPartition));
      expect(doc.commandCalls(GetCommand)).toHaveLength(0);

      const targets = await store(2).roomTargets('r');
      expect(targets.size).toBe(16);
      const sources = new Set<string>();
      const viaTargets: string[] = [];
      for await (const page of targets.pages) {
        sources.add(page.source);
        viaTargets.push(...page.ids);
      }
      expect(new Set(viaTargets)).toEqual(new Set(everyPartition));
      expect(sources.size).toBe(ROOM_PARTITIONS);

      const listed: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await store(2).listMembers('r', { limit: 3, ...(nextToken ? { nextToken } : {}) });
        listed.push(...page.items.map((m) => m.connectionId));
        nextToken = page.nextToken;
      } while (nextToken);
      expect(listed).toEqual(everyPartition);
    });

    it('finds a member in its partition when it is not in partition 0', async () => {
      doc.on(GetCommand).resolves({});
      doc.on(GetCommand, { Key: own }).resolves({ Item: { expiresAt: later } });
      expect(await store(2).isMember('r', 'c')).toBe(true);
      expect(await store(2).isMember('r', 'other')).toBe(false);
    });
  });
});

describe('interleave', () => {
  async function* source(name: string, pages: number, gate: Promise<void>, closed: string[]) {
    try {
      for (let i = 0; i < pages; i += 1) {
        if (i === 1) await gate;
        yield `${name}${i}`;
      }
    } finally {
      closed.push(name);
    }
  }

  it('yields every page of every source, a page as soon as its source has it', async () => {
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const closed: string[] = [];
    const out: string[] = [];
    for await (const page of interleave([
      source('a', 3, gate, closed),
      source('b', 1, Promise.resolve(), closed),
    ])) {
      out.push(page);
      // b finishes while a waits at its gate: a's later pages cannot have come before b's.
      if (out.length === 2) open();
    }
    expect(out.slice(0, 2).sort()).toEqual(['a0', 'b0']);
    expect(out.slice(2)).toEqual(['a1', 'a2']);
    expect(closed.sort()).toEqual(['a', 'b']);
  });

  it('closes the sources still reading when the reader stops early, and passes a failure on', async () => {
    const closed: string[] = [];
    for await (const _ of interleave([
      source('a', 5, Promise.resolve(), closed),
      source('b', 5, Promise.resolve(), closed),
    ])) {
      break;
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed.sort()).toEqual(['a', 'b']);

    async function* failing(): AsyncGenerator<string> {
      yield* [];
      throw new Error('throttled');
    }
    await expect(async () => {
      for await (const _ of interleave([source('c', 2, new Promise(() => {}), closed), failing()])) {
        // reading
      }
    }).rejects.toThrow('throttled');
  });
});
