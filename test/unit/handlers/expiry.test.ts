import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createExpiryHandler, isTtlDeletion } from '../../../lambdas/handlers/expiry.js';
import { fakeRuntime } from '../fakes.js';

const ttl = { type: 'Service', principalId: 'dynamodb.amazonaws.com' };
function record(
  eventName: 'REMOVE' | 'MODIFY',
  userIdentity: typeof ttl | undefined,
  seq: string,
): DynamoDBRecord {
  return {
    eventName,
    ...(userIdentity ? { userIdentity } : {}),
    dynamodb: {
      SequenceNumber: seq,
      OldImage: {
        pk: { S: 'CONN#abc=' },
        sk: { S: 'META' },
        connectionId: { S: 'abc=' },
        userId: { S: 'alice' },
        expiresAt: { N: '1' },
      },
    },
  };
}

describe('expiry handler', () => {
  it('settles only deletions made by TTL, with the unmarshalled old image', async () => {
    const { runtime, store } = fakeRuntime();
    const settled: Record<string, unknown>[] = [];
    store.settleExpired = async (item) => {
      settled.push(item);
      return { rooms: [] };
    };
    const handler = createExpiryHandler(runtime);

    const answer = await handler({
      Records: [record('REMOVE', ttl, '1'), record('REMOVE', undefined, '2'), record('MODIFY', ttl, '3')],
    });

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(settled).toEqual([
      { pk: 'CONN#abc=', sk: 'META', connectionId: 'abc=', userId: 'alice', expiresAt: 1 },
    ]);
  });

  it('reports the records that failed so only they are retried', async () => {
    const { runtime, store } = fakeRuntime();
    store.settleExpired = async () => {
      throw new Error('throttled');
    };
    const answer = await createExpiryHandler(runtime)({ Records: [record('REMOVE', ttl, '7')] });
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: '7' }] });
  });

  it('stops at the first failure and reports it and every later record, settling nothing after it', async () => {
    const { runtime, store } = fakeRuntime();
    const settled: unknown[] = [];
    let calls = 0;
    store.settleExpired = async (item) => {
      calls += 1;
      if (calls === 2) throw new Error('throttled');
      settled.push(item);
      return { rooms: [] };
    };
    const answer = await createExpiryHandler(runtime)({
      Records: [
        record('REMOVE', ttl, '1'),
        record('REMOVE', ttl, '2'),
        record('REMOVE', ttl, '3'),
        record('MODIFY', ttl, '4'),
      ],
    });
    expect(answer).toEqual({
      batchItemFailures: [{ itemIdentifier: '2' }, { itemIdentifier: '3' }, { itemIdentifier: '4' }],
    });
    expect(settled).toHaveLength(1);
    expect(calls).toBe(2);
  });

  it('tells TTL deletions from deletions by a handler', () => {
    expect(isTtlDeletion(record('REMOVE', ttl, '1'))).toBe(true);
    expect(isTtlDeletion(record('REMOVE', { type: 'Service', principalId: 'someone' }, '1'))).toBe(false);
  });

  it("notes how old the batch's oldest TTL deletion is, for the reconciliation", async () => {
    const { runtime, store, clock } = fakeRuntime();
    const deletedAt = (seconds: number, r: DynamoDBRecord): DynamoDBRecord => ({
      ...r,
      dynamodb: { ...r.dynamodb, ApproximateCreationDateTime: seconds },
    });
    const now = clock.now() / 1000;
    await createExpiryHandler(runtime)({
      Records: [
        deletedAt(now - 90, record('REMOVE', ttl, '1')),
        deletedAt(now - 30, record('REMOVE', ttl, '2')),
        deletedAt(now - 600, record('REMOVE', undefined, '3')), // a handler's delete: not TTL's
      ],
    });
    expect(store.expiryLags).toEqual([90_000]);
  });
});
