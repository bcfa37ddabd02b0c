import { createRequire } from 'node:module';
import { PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTable, type LocalDynamo, localDynamoClient, startDynalite } from '../../../local/dynamo.js';

// dynalite (patched at install, patches/dynalite+4.0.0.patch) must close the LevelDB iterator
// of every Query and Scan; left open, each keeps its snapshot and memory (RSS 119 -> 493 MB
// after 2,000 clients). Open iterators are counted where abstract-level tracks them.
const require = createRequire(import.meta.url);
const dynaliteRequire = createRequire(require.resolve('dynalite'));
const memoryLevelRequire = createRequire(dynaliteRequire.resolve('memory-level'));
const { AbstractLevel, AbstractIterator, AbstractKeyIterator, AbstractValueIterator } = memoryLevelRequire(
  'abstract-level',
) as Record<string, new (...args: unknown[]) => unknown> & {
  AbstractLevel: { prototype: Record<string, (resource: unknown) => void> };
};
const isIterator = (resource: unknown) =>
  [AbstractIterator, AbstractKeyIterator, AbstractValueIterator].some(
    (type) => type && resource instanceof type,
  );
const open = new Set<unknown>();
const original = {
  attach: AbstractLevel.prototype.attachResource,
  detach: AbstractLevel.prototype.detachResource,
};

let dynamo: LocalDynamo;
beforeAll(async () => {
  AbstractLevel.prototype.attachResource = function (this: unknown, resource: unknown) {
    if (isIterator(resource)) open.add(resource);
    return original.attach?.call(this, resource);
  };
  AbstractLevel.prototype.detachResource = function (this: unknown, resource: unknown) {
    open.delete(resource);
    return original.detach?.call(this, resource);
  };
  // The local endpoint takes any credentials (the local stack sets these the same way).
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  dynamo = await startDynalite();
});
afterAll(async () => {
  AbstractLevel.prototype.attachResource = original.attach as (resource: unknown) => void;
  AbstractLevel.prototype.detachResource = original.detach as (resource: unknown) => void;
  await dynamo?.close();
});

describe('embedded dynalite', () => {
  it('leaves no LevelDB iterator open after queries, read to the end or cut by Limit', async () => {
    const client = localDynamoClient(dynamo.endpoint, 'us-east-1');
    await ensureTable(client, 'iterators');
    for (let i = 0; i < 5; i += 1) {
      await client.send(
        new PutItemCommand({ TableName: 'iterators', Item: { pk: { S: 'ROOM#a' }, sk: { S: `CONN#${i}` } } }),
      );
    }
    const before = open.size;
    for (let i = 0; i < 40; i += 1) {
      await client.send(
        new QueryCommand({
          TableName: 'iterators',
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: 'ROOM#a' } },
          ...(i % 2 ? { Limit: 2 } : {}),
        }),
      );
    }
    client.destroy();
    expect(open.size - before).toBe(0);
  });
});
