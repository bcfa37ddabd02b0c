import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { createTableInput, TABLE_SCHEMA } from '../lambdas/adapters/table.js';

export interface LocalDynamo {
  endpoint: string;
  /** Whether this process started the database (and so stops it on close). */
  embedded: boolean;
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
    embedded: true,
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
 * (dynalite has none). A Scan is fine here: this is housekeeping, not a hot path.
 */
export async function sweepExpired(
  client: DynamoDBClient,
  tableName: string,
  nowSeconds: number,
): Promise<number> {
  const doc = DynamoDBDocumentClient.from(client);
  let removed = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: '#ttl <= :now',
        ProjectionExpression: '#pk, #sk',
        ExpressionAttributeNames: {
          '#ttl': TABLE_SCHEMA.ttlAttribute,
          '#pk': TABLE_SCHEMA.partitionKey,
          '#sk': TABLE_SCHEMA.sortKey,
        },
        ExpressionAttributeValues: { ':now': nowSeconds },
        ExclusiveStartKey: start,
      }),
    );
    const items = out.Items ?? [];
    for (let i = 0; i < items.length; i += 25) {
      const chunk = items.slice(i, i + 25);
      await doc.send(
        new BatchWriteCommand({
          RequestItems: { [tableName]: chunk.map((Key) => ({ DeleteRequest: { Key } })) },
        }),
      );
      removed += chunk.length;
    }
    start = out.LastEvaluatedKey;
  } while (start);
  return removed;
}
