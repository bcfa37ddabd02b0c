import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { announceExpired } from '../domain/lifecycle.js';
import { closeDeps, type LifecycleRuntime } from '../runtime.js';
import { instrumented } from './wrapper.js';

/** Whether a stream record is a deletion by DynamoDB's TTL (not by a handler). */
export function isTtlDeletion(record: DynamoDBRecord): boolean {
  return (
    record.eventName === 'REMOVE' &&
    record.userIdentity?.type === 'Service' &&
    record.userIdentity?.principalId === 'dynamodb.amazonaws.com'
  );
}

/**
 * Tells the reconciliation how old the oldest TTL deletion in this batch is (DynamoDB's
 * ApproximateCreationDateTime): while the consumer is further behind than the reconciliation's
 * wait, a deletion not settled yet would look like drift to it. A failed note is logged, no more.
 */
async function noteLag(
  runtime: LifecycleRuntime,
  records: readonly DynamoDBRecord[],
  logger: { warn: (message: string, extra: { error: string }) => void },
): Promise<void> {
  const created = records
    .filter(isTtlDeletion)
    .map((r) => r.dynamodb?.ApproximateCreationDateTime)
    .filter((t): t is number => typeof t === 'number');
  if (created.length === 0) return;
  const ageMs = Math.max(0, runtime.clock.now() - Math.min(...created) * 1000);
  try {
    await runtime.store.noteExpiryLag(ageMs);
  } catch (error) {
    logger.warn('noting the expiry consumer lag failed', { error: (error as Error).message });
  }
}

/**
 * The table's stream consumer: when TTL deletes a connection or membership that
 * no handler removed (a lost `$disconnect`), the stats counters are settled, and
 * presence rooms and backends are told the connection or membership left.
 * Records are settled in order and processing stops at the first failure: that
 * record and every later one are reported as batchItemFailures, so Lambda
 * resumes the shard from there and never replays a record that already succeeded.
 */
export function createExpiryHandler(runtime: LifecycleRuntime) {
  const deps = closeDeps(runtime);
  return (event: DynamoDBStreamEvent, context?: Context): Promise<DynamoDBBatchResponse> =>
    instrumented(runtime, 'expiry', { requestId: context?.awsRequestId }, context, async ({ logger }) => {
      const batchItemFailures: DynamoDBBatchResponse['batchItemFailures'] = [];
      const records = event.Records;
      await noteLag(runtime, records, logger);
      for (const [index, record] of records.entries()) {
        if (!isTtlDeletion(record) || !record.dynamodb?.OldImage) continue;
        try {
          const item = unmarshall(record.dynamodb.OldImage as Record<string, AttributeValue>);
          // Counters first; then the backends and the presence rooms are told (a lost frame is not retried).
          await announceExpired(deps, await runtime.store.settleExpired(item));
        } catch (error) {
          logger.error('settling an expired item failed; stopping the batch here', error as Error);
          for (const rest of records.slice(index)) {
            batchItemFailures.push({ itemIdentifier: rest.dynamodb?.SequenceNumber ?? '' });
          }
          break;
        }
      }
      return { batchItemFailures };
    });
}
