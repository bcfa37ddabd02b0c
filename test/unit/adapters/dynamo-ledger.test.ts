import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoJobLedger } from '../../../lambdas/adapters/dynamo-ledger.js';
import { fixedClock } from '../fakes.js';

const doc = mockClient(DynamoDBDocumentClient);
const ledger = () =>
  new DynamoJobLedger(
    DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
    'tbl',
    fixedClock(),
  );
/** A failed claim, with the item DynamoDB returns with it (in its own form, as the SDK passes it on). */
const failedOn = (Item: Record<string, { N: string }>) =>
  new ConditionalCheckFailedException({ message: 'held', $metadata: {}, Item });

beforeEach(() => doc.reset());

// The store side (dynalite and DynamoDB Local, which return no item) is test/integration/job-ledger.test.ts.
describe('DynamoJobLedger.claimJob, from the item DynamoDB returns with a failed claim', () => {
  it('tells a finished job from a held one without reading it back', async () => {
    doc
      .on(UpdateCommand)
      .rejectsOnce(failedOn({ done: { N: '1' }, leaseUntil: { N: '5' } }))
      .rejectsOnce(failedOn({ leaseUntil: { N: '1790000060000' } }));
    expect(await ledger().claimJob('j', 10)).toBe('done');
    expect(await ledger().claimJob('j', 10)).toBe('taken');
    expect(doc.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(doc.commandCalls(GetCommand)).toHaveLength(0);
  });
});
