import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoRateLimiter } from '../../../lambdas/adapters/dynamo-rate-limiter.js';
import { EVERYONE_SHARDS, keys, shardOf } from '../../../lambdas/adapters/table.js';

const doc = mockClient(DynamoDBDocumentClient);
const NOW = 1_790_000_000_000;
const POLICY = { perSecond: 20, burst: 40 };
const limiter = () =>
  new DynamoRateLimiter(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), 'tbl');

/** The failure DynamoDB answers a failed condition with, carrying the item as it is (ReturnValuesOnConditionCheckFailure). */
const failed = (tat?: number) =>
  new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(tat === undefined ? {} : { Item: { rateTat: { N: String(tat) } } }),
  });

beforeEach(() => doc.reset());

describe('DynamoRateLimiter', () => {
  it('lets a frame from a quiet connection through with one conditional UpdateItem on its unindexed item', async () => {
    doc.on(UpdateCommand).resolves({});
    expect(await limiter().take('c1', POLICY, NOW)).toEqual({ allowed: true });
    const calls = doc.calls();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({
      TableName: 'tbl',
      Key: keys.everyoneItem(shardOf('c1', EVERYONE_SHARDS), 'c1'),
      UpdateExpression: 'SET #tat = :next',
      ExpressionAttributeValues: { ':next': NOW + 50, ':now': NOW },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('refuses a frame over the limit with one UpdateItem, from the state the failed condition returns', async () => {
    doc.on(UpdateCommand).rejects(failed(NOW + 2000));
    expect(await limiter().take('c1', POLICY, NOW)).toEqual({ allowed: false, retryAfterMs: 50 });
    expect(doc.calls()).toHaveLength(1);
  });

  it('takes a frame within the burst allowance with a second UpdateItem that adds one interval', async () => {
    doc
      .on(UpdateCommand)
      .rejectsOnce(failed(NOW + 500))
      .resolves({});
    expect(await limiter().take('c1', POLICY, NOW)).toEqual({ allowed: true });
    const calls = doc.calls();
    expect(calls).toHaveLength(2);
    expect(calls[1]?.args[0].input).toMatchObject({
      UpdateExpression: 'SET #tat = #tat + :interval',
      ExpressionAttributeValues: { ':interval': 50, ':now': NOW, ':limit': NOW + 1950 },
    });
  });

  it('reads the state when the store returns no item with a failed condition (dynalite)', async () => {
    doc.on(UpdateCommand).rejects(failed());
    doc.on(GetCommand).resolves({ Item: { rateTat: NOW + 3000 } });
    expect(await limiter().take('c1', POLICY, NOW)).toEqual({ allowed: false, retryAfterMs: 1050 });
  });

  it('lets a frame of a connection that is no longer stored through to its route', async () => {
    doc.on(UpdateCommand).rejects(failed());
    doc.on(GetCommand).resolves({});
    expect(await limiter().take('gone', POLICY, NOW)).toEqual({ allowed: true });
  });
});
