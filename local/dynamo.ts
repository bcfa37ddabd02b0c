import type { AddressInfo } from 'node:net';
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import dynalite from 'dynalite';
import { createTableInput, TABLE_SCHEMA } from '../lambdas/adapters/table.js';

export interface LocalDynamo {
  endpoint: string;
  close(): Promise<void>;
}

/** Starts dynalite in memory on a free loopback port. */
export async function startDynalite(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function localDynamoClient(endpoint: string, region: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region });
}

/** Creates the table from the shared schema unless it exists, and waits until it is active. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (error) {
    if (
      !(error instanceof ResourceNotFoundException) &&
      (error as Error).name !== 'ResourceNotFoundException'
    ) {
      throw error;
    }
  }
  await client.send(new CreateTableCommand(createTableInput(tableName)));
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const out = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (out.Table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
    if (out.Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`table ${tableName} did not become active`);
}

/**
 * Deletes items whose TTL attribute has passed, as DynamoDB's TTL would
 * (dynalite has none), and hands each deleted item's old image to `onExpired`
 * as the table's stream would. A Scan is fine here: this is housekeeping, not
 * a hot path.
 */
export async function sweepExpired(
  client: DynamoDBClient,
  tableName: string,
  nowSeconds: number,
  onExpired: (records: DynamoDBRecord[]) => Promise<unknown> = async () => undefined,
): Promise<number> {
  const names = {
    '#ttl': TABLE_SCHEMA.ttlAttribute,
    '#pk': TABLE_SCHEMA.partitionKey,
    '#sk': TABLE_SCHEMA.sortKey,
  };
  const expired: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: '#ttl <= :now',
        ProjectionExpression: '#pk, #sk',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ':now': { N: String(nowSeconds) } },
        ExclusiveStartKey: start,
      }),
    );
    expired.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);

  const records: DynamoDBRecord[] = [];
  for (const key of expired) {
    try {
      const out = await client.send(
        new DeleteItemCommand({
          TableName: tableName,
          Key: key,
          // An item refreshed since the scan is not expired any more.
          ConditionExpression: '#ttl <= :now',
          ExpressionAttributeNames: { '#ttl': TABLE_SCHEMA.ttlAttribute },
          ExpressionAttributeValues: { ':now': { N: String(nowSeconds) } },
          ReturnValues: 'ALL_OLD',
        }),
      );
      if (out.Attributes) records.push(ttlRecord(key, out.Attributes, records.length, nowSeconds));
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    }
  }
  if (records.length > 0) await onExpired(records);
  return records.length;
}

/** A stream record shaped as DynamoDB Streams reports a TTL deletion. */
function ttlRecord(
  key: Record<string, AttributeValue>,
  oldImage: Record<string, AttributeValue>,
  sequence: number,
  deletedAt: number,
): DynamoDBRecord {
  return {
    eventName: 'REMOVE',
    eventSource: 'aws:dynamodb',
    userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' },
    dynamodb: {
      Keys: key as never,
      OldImage: oldImage as never,
      SequenceNumber: String(sequence),
      ApproximateCreationDateTime: deletedAt,
      StreamViewType: 'OLD_IMAGE',
    },
  };
}
