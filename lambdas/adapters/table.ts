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
  membership: (room: string, connectionId: string) => ({ pk: `ROOM#${room}`, sk: `CONN#${connectionId}` }),
  roomPartition: (room: string) => `ROOM#${room}`,
  roomMeta: (room: string) => ({ pk: `ROOM#${room}`, sk: '#META' }),
  userCounter: (userId: string) => ({ pk: `USER#${userId}`, sk: '#COUNT' }),
  /** A user's connections in a room (presence), beside the room's memberships. */
  roomUser: (room: string, userId: string) => ({ pk: `ROOM#${room}`, sk: `USER#${userId}` }),
  userPrefix: 'USER#',
  everyone: (shard: number) => `ALL#${shard}`,
  everyoneItem: (shard: number, connectionId: string) => ({ pk: `ALL#${shard}`, sk: `CONN#${connectionId}` }),
  statsShard: (shard: number) => ({ pk: 'STATS', sk: `SHARD#${shard}` }),
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
/** Shards of the stats counters, so that busy connects do not all write one item. */
export const STATS_SHARDS = 4;

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
