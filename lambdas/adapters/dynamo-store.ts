import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../domain/errors.js';
import type {
  Clock,
  ConnectionRecord,
  ConnectionStore,
  MemberPage,
  MemberRecord,
  ReconcileReport,
  RemovedConnection,
  RoomChange,
  RoomPresence,
  RoomTargets,
  Settled,
  Stats,
  TargetPage,
} from '../domain/ports.js';
import {
  EVERYONE_SHARDS,
  keys,
  RESTORED_ATTRIBUTE,
  ROOM_PARTITIONS,
  ROOMS_ATTRIBUTE,
  ROOMS_LISTED_PER_CONNECTION,
  SPLIT_ATTRIBUTE,
  STATS_SHARDS,
  shardOf,
  splitPartitionOf,
  TABLE_SCHEMA,
} from './table.js';

type Item = Record<string, unknown>;

/** Recounts the table's counters (reconcileTable in dynamo-reconcile.ts). */
export type TableReconciler = (
  doc: DynamoDBDocumentClient,
  tableName: string,
  nowSeconds: number,
) => Promise<ReconcileReport>;

/**
 * Waits for every one of `promises`, whatever the others do (nothing is left running unawaited),
 * then throws the first failure in their order, or returns every value.
 */
async function allOrFirstFailure<const T extends readonly unknown[]>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const outcomes = await Promise.allSettled(promises);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
  return outcomes.map((o) => (o as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

const LIVE = '#ttl > :now';
const TTL_NAME = { '#ttl': TABLE_SCHEMA.ttlAttribute };

/**
 * The ConnectionStore over one DynamoDB table (see table.ts for the layout).
 * Every write is a single-item write; no transactions and no Scan. Items whose
 * TTL has passed are filtered out on read, because DynamoDB deletes them late.
 */
export class DynamoConnectionStore implements ConnectionStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock,
    /**
     * How long an untouched per-user or per-room counter item is kept: well past
     * the TTL of anything it counts, as DynamoDB's TTL deletes in no set order.
     */
    private readonly counterTtlSeconds = 7 * 24 * 3600,
    /**
     * The reconciliation (dynamo-reconcile.ts), given only where it runs (the reconcile
     * function, the local stack), so the other functions' bundles do not carry it.
     */
    private readonly reconciler?: TableReconciler,
    /** Members a room has before it is split over ROOM_PARTITIONS (ROOM_SPLIT_AFTER). */
    private readonly roomSplitAfter = 2000,
  ) {}

  async putConnection(c: ConnectionRecord): Promise<{ firstOfUser: boolean; version?: number }> {
    const [previous] = await Promise.all([
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.connection(c.connectionId),
            gsi1pk: keys.userIndex(c.userId),
            gsi1sk: keys.connectionIndex(c.connectionId),
            connectionId: c.connectionId,
            userId: c.userId,
            connectedAt: c.connectedAt,
            expiresAt: c.expiresAt,
          },
          ReturnValues: 'ALL_OLD',
        }),
      ),
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.everyoneItem(shardOf(c.connectionId, EVERYONE_SHARDS), c.connectionId),
            connectionId: c.connectionId,
            expiresAt: c.expiresAt,
          },
        }),
      ),
    ]);
    if (previous.Attributes) return { firstOfUser: false };
    // The user's counter only once the connection is stored and new: a count moved any earlier
    // (alongside the puts, and taken back when they fail) would be seen by the user's other
    // connects and disconnects in between, and their 0↔1 transitions would be misread.
    const { connections: userConnections = 0, version = 0 } = await this.addCounters(
      keys.userCounter(c.userId),
      {
        connections: 1,
        version: 1,
      },
    );
    await this.addStats(c.userId, { connections: 1, users: userConnections === 1 ? 1 : 0 });
    return { firstOfUser: userConnections === 1, version };
  }

  async getConnection(connectionId: string): Promise<ConnectionRecord | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.connection(connectionId), ConsistentRead: true }),
    );
    const item = out.Item;
    if (!item || !this.isLive(item)) return undefined;
    return toConnection(item);
  }

  async removeConnection(connectionId: string): Promise<Settled> {
    // The connection item goes first, the broadcast-list entry after it: a join that finds the
    // entry gone (and so falls back to reading the connection item) then finds the item gone too
    // and undoes itself; a join that recorded its room on the entry is in the list read below.
    const removed = await this.doc.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: keys.connection(connectionId),
        ReturnValues: 'ALL_OLD',
      }),
    );
    const old = removed.Attributes;
    // The rest at once (two round trips fewer than one after the other), each attempted whatever
    // the others do: the broadcast entry, and with it the rooms it lists (a join records its room
    // there only while the entry exists, so every join that did is in this list, whatever the
    // index shows yet); the memberships the index shows (joins past the list's bound, or whose
    // record failed); the user's counter and stats.
    const listed = this.doc
      .send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.everyoneItem(shardOf(connectionId, EVERYONE_SHARDS), connectionId),
          ReturnValues: 'ALL_OLD',
        }),
      )
      .then((out) => roomsListed(out.Attributes));
    const [fromList, fromIndex, connection] = await Promise.allSettled([
      listed.then((rooms) => this.removeMemberships(connectionId, rooms)),
      this.indexedRooms(connectionId).then(async (rooms) => {
        const known = new Set(await listed.catch(() => []));
        return this.removeMemberships(
          connectionId,
          rooms.filter((room) => !known.has(room)),
        );
      }),
      old ? this.connectionGone(connectionId, String(old.userId)) : Promise.resolve(undefined),
    ]);
    // Whatever was removed is reported, also when another part failed: its leaves are announced
    // once, now, or never (a retried close finds those memberships gone).
    const settled: Settled = { rooms: [] };
    const fail = (reason: unknown) => {
      if (!('failure' in settled)) settled.failure = reason;
    };
    for (const part of [fromList, fromIndex]) {
      if (part.status === 'rejected') fail(part.reason);
      else {
        settled.rooms.push(...part.value.changes);
        if (part.value.failed) fail(part.value.failure);
      }
    }
    if (connection.status === 'rejected') fail(connection.reason);
    else if (connection.value) settled.connection = connection.value;
    return settled;
  }

  /**
   * Records a just-written membership's room on its connection's "everyone" entry, only while
   * that entry exists: true when the connection is open. A join's check, after its membership
   * write: the close deletes the entry after the connection item and removes every room it
   * listed, so a join either is on that list or finds the entry gone. When the entry is gone, full
   * or one the reconciliation put back, the connection item decides (a consistent read), and such
   * a room is found by the index.
   */
  async recordRoom(connectionId: string, room: string): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.everyoneItem(shardOf(connectionId, EVERYONE_SHARDS), connectionId),
          UpdateExpression: 'ADD #rooms :room',
          ConditionExpression:
            'attribute_exists(pk) AND attribute_not_exists(#restored) AND (attribute_not_exists(#rooms) OR size(#rooms) < :max)',
          ExpressionAttributeNames: { '#rooms': ROOMS_ATTRIBUTE, '#restored': RESTORED_ATTRIBUTE },
          ExpressionAttributeValues: { ':room': new Set([room]), ':max': ROOMS_LISTED_PER_CONNECTION },
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return (await this.getConnection(connectionId)) !== undefined;
    }
  }

  /** Takes a room off the connection's list (a leave); nothing when the entry is gone. */
  private async forgetRoom(connectionId: string, room: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.everyoneItem(shardOf(connectionId, EVERYONE_SHARDS), connectionId),
          UpdateExpression: 'DELETE #rooms :room',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#rooms': ROOMS_ATTRIBUTE },
          ExpressionAttributeValues: { ':room': new Set([room]) },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /**
   * Settles the counters for an item DynamoDB's TTL deleted (from the table's
   * stream): a connection or membership that nothing removed in time.
   */
  async settleExpired(item: Record<string, unknown>): Promise<Settled> {
    const { pk, sk } = item;
    if (typeof pk !== 'string' || typeof sk !== 'string') return { rooms: [] };
    if (pk.startsWith(keys.connPrefix) && sk === keys.connection('').sk) {
      const connectionId = String(item.connectionId);
      return { connection: await this.connectionGone(connectionId, String(item.userId)), rooms: [] };
    }
    if (pk.startsWith(keys.roomPrefix) && sk.startsWith(keys.connPrefix)) {
      return {
        rooms: [await this.memberGone(String(item.room), String(item.connectionId), String(item.userId))],
      };
    }
    return { rooms: [] };
  }

  async noteExpiryLag(ageMs: number): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.expiryLag,
        UpdateExpression: 'SET #lag = :lag, #at = :at',
        ExpressionAttributeNames: { '#lag': 'lagMs', '#at': 'notedAt' },
        ExpressionAttributeValues: { ':lag': ageMs, ':at': this.clock.now() },
      }),
    );
  }

  private async connectionGone(connectionId: string, userId: string): Promise<RemovedConnection> {
    const { connections: left = 0, version = 0 } = await this.addCounters(keys.userCounter(userId), {
      connections: -1,
      version: 1,
    });
    const at = this.clock.now();
    await this.addStats(userId, { connections: -1, users: left === 0 ? -1 : 0 });
    return { connectionId, userId, lastOfUser: left === 0, at, version };
  }

  /** Settles the counters of a membership that is gone: the user's presence in the room, the room's counts, stats. */
  private async memberGone(room: string, connectionId: string, userId: string): Promise<RoomChange> {
    const userLeft =
      (await this.addCounter(keys.roomUser(room, userId), 'connections', -1, { room, userId })) === 0;
    const { members } = await this.addCounters(keys.roomMeta(room), {
      members: -1,
      users: userLeft ? -1 : 0,
    });
    if (members === 0) await this.addStats(room, { rooms: -1 });
    return { room, connectionId, userId, userChanged: userLeft, members: Math.max(0, members ?? 0) };
  }

  async userConnections(userId: string): Promise<ConnectionRecord[]> {
    const items = await this.queryAll({
      IndexName: TABLE_SCHEMA.gsi1.indexName,
      KeyConditionExpression: 'gsi1pk = :pk AND begins_with(gsi1sk, :conn)',
      ExpressionAttributeValues: { ':pk': keys.userIndex(userId), ':conn': keys.connPrefix },
    });
    return items.map(toConnection);
  }

  /**
   * A membership is written where it stays: partition 0 unless the room is split (read first,
   * consistently), its connection's partition then; a second copy written by a concurrent join of
   * the same connection is deleted before either counts it (tookTwin). Every reader reads the split
   * mark before the partitions, and the mark is set before any membership goes elsewhere than
   * partition 0.
   */
  async addMember(m: MemberRecord, afterWrite?: () => Promise<void>): Promise<RoomChange | undefined> {
    const { split } = await this.roomMetaOf(m.room);
    // In a split room, a connection that joined before the split has its membership in partition 0,
    // and a repeated join keeps it there: read first, so no second copy is written.
    const partition =
      split && !(await this.hasMembership(m.room, m.connectionId, 0)) ? splitPartitionOf(m.connectionId) : 0;
    const out = await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: this.membershipItem(m, partition),
        ReturnValues: 'ALL_OLD',
      }),
    );
    // Every new membership checks for a twin: a room read nearly empty can still fill past
    // ROOM_SPLIT_AFTER and split while this write waits (SDK retries take seconds).
    const added = async () =>
      (await this.tookTwin(m, partition, split)) ? undefined : this.memberCame(m, split);
    // The counters and `afterWrite` at once; each is attempted whatever the other does.
    const [counted] = await allOrFirstFailure([
      out.Attributes ? Promise.resolve(undefined) : added(),
      afterWrite ? afterWrite() : Promise.resolve(),
    ]);
    return counted;
  }

  /**
   * Two joins of one connection at once (a retry, a resume, a backend's POST /members) can each
   * write its membership somewhere else: one read the room before it was split (or meant to keep a
   * membership that a leave then took) and wrote partition 0, the other saw the room split and
   * partition 0 empty and wrote the connection's own partition. Each new membership checks after
   * its write and before counting (one consistent read of #META in a room that was not split): the
   * copy in partition 0 is kept and the one in the connection's partition deleted. Whichever join's delete returns that
   * copy (a delete returns an item once) counts nothing; the other counts the membership that
   * stays, so it is counted once and nothing is ever counted out. True when this join took it.
   */
  private async tookTwin(m: MemberRecord, partition: number, splitBefore: boolean): Promise<boolean> {
    const own = keys.membership(m.room, m.connectionId, splitPartitionOf(m.connectionId));
    if (partition === 0) {
      // A room is never unsplit: read #META again only when it was not split before the write.
      if (!splitBefore && !(await this.roomMetaOf(m.room)).split) return false;
    } else if (!(await this.hasMembership(m.room, m.connectionId, 0))) {
      return false;
    }
    const out = await this.doc.send(
      new DeleteCommand({ TableName: this.tableName, Key: own, ReturnValues: 'ALL_OLD' }),
    );
    return out.Attributes !== undefined;
  }

  /**
   * Counts a new membership: the user's count in the room first; then the room's member count
   * and, on the user's 0→1 transition, its users count, in one write; the stats only when the
   * room comes into being. The join that takes the room past ROOM_SPLIT_AFTER marks it split.
   */
  private async memberCame(m: MemberRecord, split: boolean): Promise<RoomChange> {
    const userJoined =
      (await this.addCounter(keys.roomUser(m.room, m.userId), 'connections', 1, {
        room: m.room,
        userId: m.userId,
      })) === 1;
    const { members = 0 } = await this.addCounters(keys.roomMeta(m.room), {
      members: 1,
      users: userJoined ? 1 : 0,
    });
    if (members === 1) await this.addStats(m.room, { rooms: 1 });
    if (!split && members > this.roomSplitAfter) {
      // Several joins at the threshold may each set it: the same value.
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.roomMeta(m.room),
          UpdateExpression: 'SET #split = :yes',
          ExpressionAttributeNames: { '#split': SPLIT_ATTRIBUTE },
          ExpressionAttributeValues: { ':yes': 1 },
        }),
      );
    }
    return {
      room: m.room,
      connectionId: m.connectionId,
      userId: m.userId,
      userChanged: userJoined,
      members: Math.max(0, members),
    };
  }

  private membershipItem(m: MemberRecord, partition = 0): Item {
    return {
      ...keys.membership(m.room, m.connectionId, partition),
      gsi1pk: keys.connectionIndex(m.connectionId),
      gsi1sk: keys.roomPartition(m.room),
      room: m.room,
      connectionId: m.connectionId,
      userId: m.userId,
      joinedAt: m.joinedAt,
      expiresAt: m.expiresAt,
    };
  }

  async removeMember(room: string, connectionId: string): Promise<RoomChange | undefined> {
    // Off the connection's list first, then the membership: a join of the same room racing this
    // leave writes its membership before it lists the room, so whatever membership outlives the
    // leave is listed (at worst the list names a room the connection left, which a close skips).
    // Both at once could list nothing for a membership that stays (the join's ADD between the
    // leave's delete and its list DELETE). And a failed list write leaves the membership as it was.
    await this.forgetRoom(connectionId, room);
    return this.deleteMembership(room, connectionId);
  }

  /** Deletes one membership and settles its counters (a close's cleanup: its list goes with it). */
  private async deleteMembership(room: string, connectionId: string): Promise<RoomChange | undefined> {
    // Partition 0 first; then, when it is not there, its connection's partition of a split room.
    const remove = (partition: number) =>
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.membership(room, connectionId, partition),
          ReturnValues: 'ALL_OLD',
        }),
      );
    let out = await remove(0);
    if (!out.Attributes) out = await remove(splitPartitionOf(connectionId));
    if (!out.Attributes) return undefined;
    const change = await this.memberGone(room, connectionId, String(out.Attributes.userId));
    return this.isLive(out.Attributes) ? change : undefined;
  }

  async isMember(room: string, connectionId: string): Promise<boolean> {
    // Partition 0 first (every member of a room that is not split); a second read for the others.
    return (
      (await this.hasMembership(room, connectionId, 0)) ||
      (await this.hasMembership(room, connectionId, splitPartitionOf(connectionId)))
    );
  }

  async roomUserConnections(room: string, userId: string): Promise<number> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.roomUser(room, userId),
        ConsistentRead: true,
        ProjectionExpression: '#connections',
        ExpressionAttributeNames: { '#connections': 'connections' },
      }),
    );
    return Math.max(0, Number(out.Item?.connections ?? 0));
  }

  private async hasMembership(room: string, connectionId: string, partition: number): Promise<boolean> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.membership(room, connectionId, partition),
        ConsistentRead: true,
        ProjectionExpression: '#ttl',
        ExpressionAttributeNames: TTL_NAME,
      }),
    );
    return out.Item !== undefined && this.isLive(out.Item);
  }

  /**
   * A room's members, page by page. Partition 0 is read from the room's `#META` item on (it sorts
   * before the memberships), so the first page says whether the room is split with no read of its
   * own; the other partitions are then read at once.
   */
  async *roomConnectionIds(room: string): AsyncIterable<TargetPage> {
    const meta = keys.roomMeta(room).sk;
    let split = false;
    let resumeAt: Item | undefined;
    const isConnection = (item: Item) => {
      if (item.sk !== meta) return true;
      split = Boolean(item[SPLIT_ATTRIBUTE]);
      return false;
    };
    for await (const page of this.targetPages(keys.roomPartition(room), '0', {
      from: meta,
      onItem: isConnection,
    })) {
      yield { source: page.source, ids: page.ids };
      if (split) {
        // The rest of partition 0 is read alongside the other partitions.
        resumeAt = page.lastKey;
        break;
      }
    }
    if (!split) return;
    yield* interleave([
      ...(resumeAt
        ? [
            this.targetPages(keys.roomPartition(room), '0', {
              from: meta,
              onItem: isConnection,
              startKey: resumeAt,
            }),
          ]
        : []),
      ...partitionsAfterFirst().map((partition) =>
        this.targetPages(keys.roomPartition(room, partition), String(partition)),
      ),
    ]);
  }

  async roomTargets(room: string): Promise<RoomTargets> {
    const { members, split } = await this.roomMetaOf(room);
    const pages = async function* (this: DynamoConnectionStore): AsyncGenerator<TargetPage> {
      yield* interleave(
        partitionsOf(split).map((partition) =>
          this.targetPages(keys.roomPartition(room, partition), String(partition)),
        ),
      );
    };
    return { size: members, pages: pages.call(this) };
  }

  /** A room's member count and whether it is split: one consistent read of its `#META`. */
  private async roomMetaOf(room: string): Promise<{ members: number; split: boolean }> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.roomMeta(room),
        ConsistentRead: true,
        ProjectionExpression: 'members, #split',
        ExpressionAttributeNames: { '#split': SPLIT_ATTRIBUTE },
      }),
    );
    return {
      members: Math.max(0, Number(out.Item?.members ?? 0)),
      split: Boolean(out.Item?.[SPLIT_ATTRIBUTE]),
    };
  }

  async *allConnectionIds(): AsyncIterable<TargetPage> {
    for (let shard = 0; shard < EVERYONE_SHARDS; shard += 1) {
      yield* this.targetPages(keys.everyone(shard), String(shard));
    }
  }

  async listMembers(room: string, options: { limit: number; nextToken?: string }): Promise<MemberPage> {
    const resume = options.nextToken === undefined ? undefined : decodeToken(options.nextToken, room);
    const from = resume ? partitionOfKey(room, String(resume.pk)) : 0;
    const { members: counted, split } = await this.roomMetaOf(room);
    // A token that names a split partition came from a split room's listing: go on through all of them.
    const partitions = partitionsOf(split || from > 0);
    let index = from;
    let start: Item | undefined = resume;
    // Read one live member past the page, so that a nextToken always leads to a non-empty page.
    const found: Item[] = [];
    while (index < partitions.length && found.length <= options.limit) {
      const out = await this.doc.send(
        new QueryCommand({
          ...this.liveConnectionsIn(keys.roomPartition(room, partitions[index])),
          Limit: options.limit + 1 - found.length,
          ExclusiveStartKey: start,
        }),
      );
      found.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
      if (!start) index += 1;
    }
    const page = found.slice(0, options.limit);
    const last = page.at(-1);
    const items = page.map(toMember);
    return found.length > options.limit && last
      ? { items, nextToken: encodeToken({ pk: last.pk, sk: last.sk }), counted }
      : { items, counted };
  }

  async countMembers(room: string): Promise<number> {
    let count = 0;
    for (const partition of partitionsOf((await this.roomMetaOf(room)).split)) {
      let start: Item | undefined;
      do {
        const out = await this.doc.send(
          new QueryCommand({
            ...this.liveConnectionsIn(keys.roomPartition(room, partition)),
            Select: 'COUNT',
            ExclusiveStartKey: start,
          }),
        );
        count += out.Count ?? 0;
        start = out.LastEvaluatedKey;
      } while (start);
    }
    return count;
  }

  async stats(): Promise<Stats> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        ConsistentRead: true,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.statsShard(0).pk },
      }),
    );
    const total: Stats = { connections: 0, users: 0, rooms: 0 };
    for (const item of out.Items ?? []) {
      total.connections += Number(item.connections ?? 0);
      total.users += Number(item.users ?? 0);
      total.rooms += Number(item.rooms ?? 0);
    }
    return {
      connections: Math.max(0, total.connections),
      users: Math.max(0, total.users),
      rooms: Math.max(0, total.rooms),
    };
  }

  async roomPresence(room: string, limit: number): Promise<RoomPresence> {
    const [meta, users] = await Promise.all([
      this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: keys.roomMeta(room), ConsistentRead: true }),
      ),
      this.presenceUsers(room, limit),
    ]);
    const counted = Math.max(0, Number(meta.Item?.users ?? 0));
    // The counter may lag a listing that is still short of the limit: the listing is then the truth.
    return { count: users.length < limit ? users.length : Math.max(counted, users.length), users };
  }

  private async presenceUsers(room: string, limit: number): Promise<RoomPresence['users']> {
    const users: RoomPresence['users'] = [];
    let start: Item | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          ConsistentRead: true,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :user)',
          FilterExpression: '#c > :zero',
          ProjectionExpression: 'userId, #c',
          ExpressionAttributeNames: { '#c': 'connections' },
          ExpressionAttributeValues: {
            ':pk': keys.roomPartition(room),
            ':user': keys.userPrefix,
            ':zero': 0,
          },
          Limit: limit - users.length,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        users.push({ userId: String(item.userId), connections: Number(item.connections) });
      }
      start = out.LastEvaluatedKey;
    } while (start && users.length < limit);
    return users;
  }

  async reconcile(): Promise<ReconcileReport> {
    if (!this.reconciler) throw new Error('this store was built without its reconciler (see createStore)');
    return this.reconciler(this.doc, this.tableName, this.nowSeconds());
  }

  async checkHealth(): Promise<void> {
    await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.statsShard(0) }));
  }

  /** A consistent Query for the unexpired `CONN#` items of one partition (a room's members, an everyone shard). */
  private liveConnectionsIn(partition: string) {
    return {
      TableName: this.tableName,
      ConsistentRead: true,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :conn)',
      FilterExpression: LIVE,
      ExpressionAttributeNames: TTL_NAME,
      ExpressionAttributeValues: { ':pk': partition, ':conn': keys.connPrefix, ':now': this.nowSeconds() },
    };
  }

  private nowSeconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  private isLive(item: Item): boolean {
    const expiresAt = item[TABLE_SCHEMA.ttlAttribute];
    return typeof expiresAt !== 'number' || expiresAt > this.nowSeconds();
  }

  /**
   * The connection ids of one partition's unexpired `CONN#` items, page by page, each page named
   * by `source`. With `from`, the query starts at that sort key (a room's `#META`), and `onItem`
   * sees every item and says which are connections.
   */
  private async *targetPages(
    partition: string,
    source: string,
    options: { from?: string; onItem?: (item: Item) => boolean; startKey?: Item } = {},
  ): AsyncGenerator<TargetPage & { lastKey?: Item }> {
    let start: Item | undefined = options.startKey;
    const live = this.liveConnectionsIn(partition);
    const query =
      options.from === undefined
        ? { ...live, ProjectionExpression: 'connectionId' }
        : {
            ...live,
            // From `from` to the last `CONN#` key ('$' sorts right after '#').
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :connEnd',
            // The room's #META counts however old it is: its split mark must never be missed.
            FilterExpression: `${LIVE} OR attribute_exists(#split)`,
            ProjectionExpression: 'sk, connectionId, #split',
            ExpressionAttributeNames: { ...live.ExpressionAttributeNames, '#split': SPLIT_ATTRIBUTE },
            ExpressionAttributeValues: {
              ':pk': partition,
              ':from': options.from,
              ':connEnd': `${keys.connPrefix.slice(0, -1)}$`,
              ':now': this.nowSeconds(),
            },
          };
    do {
      const out = await this.doc.send(new QueryCommand({ ...query, ExclusiveStartKey: start }));
      const items = out.Items ?? [];
      const ids = (options.onItem ? items.filter(options.onItem) : items).map((item) =>
        String(item.connectionId),
      );
      start = out.LastEvaluatedKey;
      if (ids.length > 0 || start) yield start ? { source, ids, lastKey: start } : { source, ids };
    } while (start);
  }

  private async queryAll(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          ...input,
          TableName: this.tableName,
          FilterExpression: LIVE,
          ExpressionAttributeNames: { ...input.ExpressionAttributeNames, ...TTL_NAME },
          ExpressionAttributeValues: { ...input.ExpressionAttributeValues, ':now': this.nowSeconds() },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** The rooms the membership index shows for a connection (eventually consistent on AWS). */
  private async indexedRooms(connectionId: string): Promise<string[]> {
    const memberships = await this.queryAll({
      IndexName: TABLE_SCHEMA.gsi1.indexName,
      KeyConditionExpression: 'gsi1pk = :pk AND begins_with(gsi1sk, :room)',
      ExpressionAttributeValues: { ':pk': keys.connectionIndex(connectionId), ':room': keys.roomPrefix },
    });
    return memberships.map((m) => String(m.room));
  }

  /** Removes each membership whatever the others do: the changes made, and the first failure. */
  private async removeMemberships(
    connectionId: string,
    rooms: string[],
  ): Promise<{ changes: RoomChange[]; failed: boolean; failure?: unknown }> {
    const outcomes = await Promise.allSettled(rooms.map((room) => this.deleteMembership(room, connectionId)));
    const changes: RoomChange[] = [];
    let failed = false;
    let failure: unknown;
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') {
        if (outcome.value) changes.push(outcome.value);
      } else if (!failed) {
        failed = true;
        failure = outcome.reason;
      }
    }
    return { changes, failed, failure };
  }

  /**
   * Atomically adds to a per-user or per-room counter and returns its new value.
   * Stats move only on the transitions 0→1 and 1→0, so racing joins and leaves
   * (or connects and disconnects) always net out. The item expires once nothing
   * has touched it for a connection's lifetime.
   */
  private async addCounter(key: Item, attribute: string, delta: number, labels: Item = {}): Promise<number> {
    return (await this.addCounters(key, { [attribute]: delta }, labels))[attribute] ?? 0;
  }

  /**
   * Adds to several counters of one item at once and returns their new values.
   * Counters are never floored here: a leave that races a join for the same
   * membership passes through -1 and back to 0, so the transitions still net out.
   * Readers clamp at 0, and the reconciler sets whatever drifted back to the truth.
   */
  private async addCounters(
    key: Item,
    deltas: Record<string, number>,
    labels: Item = {},
  ): Promise<Record<string, number>> {
    const entries = Object.entries(deltas);
    const names: Record<string, string> = { ...TTL_NAME };
    const values: Item = { ':ttl': this.nowSeconds() + this.counterTtlSeconds };
    const adds: string[] = [];
    entries.forEach(([name, delta], i) => {
      if (delta === 0) return;
      names[`#a${i}`] = name;
      values[`:d${i}`] = delta;
      adds.push(`#a${i} :d${i}`);
    });
    const sets = ['#ttl = :ttl'];
    Object.entries(labels).forEach(([name, value], i) => {
      names[`#l${i}`] = name;
      values[`:l${i}`] = value;
      sets.push(`#l${i} = :l${i}`);
    });
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: `${adds.length > 0 ? `ADD ${adds.join(', ')} ` : ''}SET ${sets.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Object.fromEntries(entries.map(([name]) => [name, Number(out.Attributes?.[name] ?? 0)]));
  }

  /** Moves the stats shard of `seed`: a connection's user id, or a room's name (see STATS_SHARDS). */
  private async addStats(seed: string, deltas: Partial<Stats>): Promise<void> {
    const entries = Object.entries(deltas).filter(([, value]) => value !== 0);
    if (entries.length === 0) return;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.statsShard(shardOf(seed, STATS_SHARDS)),
        UpdateExpression: `ADD ${entries.map((_, i) => `#a${i} :v${i}`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(entries.map(([name], i) => [`#a${i}`, name])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([, value], i) => [`:v${i}`, value])),
      }),
    );
  }
}

function toConnection(item: Item): ConnectionRecord {
  return {
    connectionId: String(item.connectionId),
    userId: String(item.userId),
    connectedAt: Number(item.connectedAt),
    expiresAt: Number(item.expiresAt),
  };
}

function toMember(item: Item): MemberRecord {
  return {
    room: String(item.room),
    connectionId: String(item.connectionId),
    userId: String(item.userId),
    joinedAt: Number(item.joinedAt),
    expiresAt: Number(item.expiresAt),
  };
}

function encodeToken(key: Item): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The longest sort key DynamoDB stores. */
const MAX_SORT_KEY_BYTES = 1024;

function decodeToken(token: string, room: string): Item {
  const invalid = () => new ValidationError('nextToken is not one this room listing returned');
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof key !== 'object' || key === null) throw invalid();
  const { pk, sk } = key as Item;
  if (
    typeof pk !== 'string' ||
    partitionOfKey(room, pk) < 0 ||
    typeof sk !== 'string' ||
    !sk.startsWith(keys.connPrefix) ||
    // DynamoDB's bound for a sort key: a longer one is no key a listing returned.
    Buffer.byteLength(sk) > MAX_SORT_KEY_BYTES
  )
    throw invalid();
  return { pk, sk };
}

/** The rooms an "everyone" entry lists (a string set; the document client reads it as a Set). */
function roomsListed(item: Item | undefined): string[] {
  const rooms = item?.[ROOMS_ATTRIBUTE];
  return rooms instanceof Set ? [...rooms].map(String) : [];
}

/** The partitions a room's memberships are in, in listing order. */
function partitionsOf(split: boolean): number[] {
  return split ? [0, ...partitionsAfterFirst()] : [0];
}

/** Partitions 1 to ROOM_PARTITIONS - 1 (those of a split room besides partition 0). */
function partitionsAfterFirst(): number[] {
  return Array.from({ length: ROOM_PARTITIONS - 1 }, (_, i) => i + 1);
}

/** Which partition of `room` the key `pk` is, or -1 when it is none of them. */
function partitionOfKey(room: string, pk: string): number {
  for (let partition = 0; partition < ROOM_PARTITIONS; partition += 1) {
    if (keys.roomPartition(room, partition) === pk) return partition;
  }
  return -1;
}

/**
 * Pages from several sources read at once, each page as soon as it arrives (each source asks for
 * its next page as soon as it gave one). Stopping early, or a failure, closes every source.
 */
export async function* interleave<T>(sources: readonly AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number) => {
    const next = (iterators[index] as AsyncIterator<T>).next().then((result) => ({ index, result }));
    // Awaited through Promise.race below; this only keeps a failure left behind from being unhandled.
    next.catch(() => undefined);
    pending.set(index, next);
  };
  for (const index of iterators.keys()) pull(index);
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      pull(index);
      yield result.value;
    }
  } finally {
    for (const index of pending.keys()) {
      (iterators[index] as AsyncIterator<T>).return?.()?.catch(() => undefined);
    }
  }
}
