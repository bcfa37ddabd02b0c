/**
 * The one DynamoDB table's key schema. The CDK stack and the local stack both
 * build the table from this definition, so they cannot drift apart.
 */
export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  gsi1: { indexName: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
  ttlAttribute: 'expiresAt',
} as const;

/** Key builders for the single-table layout. */
export const keys = {
  connection: (connectionId: string) => ({ pk: `CONN#${connectionId}`, sk: 'META' }),
  userIndex: (userId: string) => `USER#${userId}`,
  connectionIndex: (connectionId: string) => `CONN#${connectionId}`,
  /** A membership, in partition 0 of its room unless the room is split (see ROOM_PARTITIONS). */
  membership: (room: string, connectionId: string, partition = 0) => ({
    pk: keys.roomPartition(room, partition),
    sk: `CONN#${connectionId}`,
  }),
  /** A room's partition: `ROOM#{room}` (0, which also holds its counters), `ROOM#{room}#{n}` (1 to 15). */
  roomPartition: (room: string, partition = 0): string =>
    partition === 0 ? `ROOM#${room}` : `ROOM#${room}#${partition}`,
  roomMeta: (room: string) => ({ pk: `ROOM#${room}`, sk: '#META' }),
  userCounter: (userId: string) => ({ pk: `USER#${userId}`, sk: '#COUNT' }),
  /** A user's connections in a room (presence), beside the room's memberships. */
  roomUser: (room: string, userId: string) => ({ pk: `ROOM#${room}`, sk: `USER#${userId}` }),
  userPrefix: 'USER#',
  everyone: (shard: number) => `ALL#${shard}`,
  everyoneItem: (shard: number, connectionId: string) => ({ pk: `ALL#${shard}`, sk: `CONN#${connectionId}` }),
  statsShard: (shard: number) => ({ pk: 'STATS', sk: `SHARD#${shard}` }),
  /** How far behind the table's stream the expiry consumer last was (the reconciliation waits while it is). */
  expiryLag: { pk: 'EXPIRY', sk: 'LAG' },
  /** A fan-out post job that finished (so a redelivery is skipped). */
  fanoutJob: (jobId: string) => ({ pk: `JOB#${jobId}`, sk: 'DONE' }),
  connPrefix: 'CONN#',
  roomPrefix: 'ROOM#',
} as const;

/** Partitions that list every connection, for broadcast without a Scan. */
export const EVERYONE_SHARDS = 8;
/**
 * Rooms a connection's "everyone" entry lists (attribute `rooms`, a string set) so that its close
 * finds its latest joins on the table itself, not only on the eventually consistent index. Past
 * this many, further joins are found through the index alone; the bound keeps the entry small
 * (broadcast reads it and the rate limiter writes it).
 */
export const ROOMS_LISTED_PER_CONNECTION = 50;
/** The attribute of the "everyone" entry that lists its connection's rooms. */
export const ROOMS_ATTRIBUTE = 'rooms';
/**
 * Set on an "everyone" entry the reconciliation put back: such an entry may belong to a connection
 * that closed while the reconciliation ran, so it is no proof that its connection is open.
 */
export const RESTORED_ATTRIBUTE = 'restored';
/**
 * Partitions a large room's memberships are spread over, so that reading them for a fan-out is
 * neither bound by one partition's read throughput (about 3,000 RCU/s) nor by one Query chain:
 * partition 0 (`ROOM#{room}`) holds a room's first members; the join that takes the room past
 * `ROOM_SPLIT_AFTER` members marks it split (attribute `split` on its `#META` item), and every later
 * join writes its membership to the partition its connection id hashes to, 1 to 15, where it
 * stays. Readers read partition 0, and the others at once when the room is split.
 */
export const ROOM_PARTITIONS = 16;
/** The attribute of a room's `#META` item that says its memberships are spread over ROOM_PARTITIONS. */
export const SPLIT_ATTRIBUTE = 'split';
/** The partition (1 to ROOM_PARTITIONS - 1) a connection's membership of a split room is written to. */
export function splitPartitionOf(connectionId: string): number {
  return 1 + shardOf(connectionId, ROOM_PARTITIONS - 1);
}

/**
 * Shards of the stats counters: a connection and its user count on the shard of its user id, a
 * room on the shard of its name, so each shard's truth is a part of the table of its own and the
 * reconciliation corrects a shard when its part was quiet between its two looks. With 256, a
 * connect or disconnect every second leaves a given shard quiet over the 70 s between the looks
 * more often than not ((255/256)^140 = 0.58). Busy connects do not all write one item either.
 * `/v1/stats` reads them all: one Query of at most 256 small items (~16 KB).
 */
export const STATS_SHARDS = 256;

/** A stable shard for a connection id (FNV-1a). */
export function shardOf(id: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i += 1) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

/** The CreateTable input for this schema (used by the local stack and tests). */
export function createTableInput(tableName: string) {
  const { partitionKey, sortKey, gsi1 } = TABLE_SCHEMA;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [partitionKey, sortKey, gsi1.partitionKey, gsi1.sortKey].map((name) => ({
      AttributeName: name,
      AttributeType: 'S' as const,
    })),
    KeySchema: [
      { AttributeName: partitionKey, KeyType: 'HASH' as const },
      { AttributeName: sortKey, KeyType: 'RANGE' as const },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: gsi1.indexName,
        KeySchema: [
          { AttributeName: gsi1.partitionKey, KeyType: 'HASH' as const },
          { AttributeName: gsi1.sortKey, KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: 'ALL' as const },
      },
    ],
  };
}
