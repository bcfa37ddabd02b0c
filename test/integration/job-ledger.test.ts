import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobLedger } from '../../lambdas/adapters/dynamo-ledger.js';
import { keys } from '../../lambdas/adapters/table.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from './harness.js';

let stack: LocalStack;
let doc: DynamoDBDocumentClient;
let now = 1_800_000_000_000;
let ledger: DynamoJobLedger;

beforeAll(async () => {
  stack = await startTestStack();
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: stack.dynamoEndpoint, region: 'us-east-1', credentials }),
  );
  ledger = new DynamoJobLedger(doc, stack.tableName, { now: () => now });
});
afterAll(async () => {
  doc?.destroy();
  await stack?.close();
});

describe('the fan-out job ledger (DynamoJobLedger) on the real store', () => {
  it('gives a job to one worker at a time, to none once done, and to another once a lease has passed', async () => {
    expect(await ledger.claimJob('j1', now + 60_000)).toBe('run');
    // A copy of the job while the first worker holds it.
    expect(await ledger.claimJob('j1', now + 60_000)).toBe('taken');
    await ledger.markJobDone('j1');
    expect(await ledger.claimJob('j1', now + 60_000)).toBe('done');

    // A worker that died mid-job: its lease passes, and the next delivery takes the job over.
    expect(await ledger.claimJob('j2', now + 60_000)).toBe('run');
    now += 60_001;
    expect(await ledger.claimJob('j2', now + 60_000)).toBe('run');
    expect(await ledger.claimJob('j2', now + 60_000)).toBe('taken');
  });

  it("lets a run give its own claim up (it failed), not another run's, and not a finished job's", async () => {
    expect(await ledger.claimJob('j4', now + 60_000)).toBe('run');
    await ledger.releaseJob('j4', now + 1); // not this claim
    expect(await ledger.claimJob('j4', now + 60_000)).toBe('taken');
    await ledger.releaseJob('j4', now + 60_000);
    expect(await ledger.claimJob('j4', now + 60_000)).toBe('run');
    await ledger.markJobDone('j4');
    await ledger.releaseJob('j4', now + 60_000);
    expect(await ledger.claimJob('j4', now + 60_000)).toBe('done');
  });

  it('reads a job recorded as finished before jobs were claimed (no lease) as done', async () => {
    await doc.send(
      new PutCommand({ TableName: stack.tableName, Item: { ...keys.fanoutJob('old'), expiresAt: 1 } }),
    );
    expect(await ledger.claimJob('old', now + 60_000)).toBe('done');
  });

  it('lets exactly one of many workers claiming at once run the job', async () => {
    const claims = await Promise.all(Array.from({ length: 8 }, () => ledger.claimJob('j3', now + 60_000)));
    expect(claims.filter((c) => c === 'run')).toHaveLength(1);
    expect(claims.filter((c) => c === 'taken')).toHaveLength(7);
  });
});
