import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { JobClaim, JobLedger } from '../domain/fanout-jobs.js';
import type { Clock } from '../domain/ports.js';
import { isConditionFailure, itemAtFailedCondition } from './conditions.js';
import { keys } from './table.js';

const DONE = 'done';
const LEASE = 'leaseUntil';

/**
 * Fan-out post jobs, one small item each, kept a day (SQS keeps an undelivered job at most 14 days;
 * redeliveries come within minutes): a claim with a lease while a worker posts, `done` once it
 * finished. A copy of the job delivered while one worker holds it (SQS delivers at least once)
 * finds the lease and waits for its own redelivery; one delivered after a worker died mid-job
 * finds the lease past and takes the job over.
 */
export class DynamoJobLedger implements JobLedger {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock,
    private readonly ttlSeconds = 24 * 3600,
  ) {}

  async claimJob(jobId: string, leaseUntilMs: number): Promise<JobClaim> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.fanoutJob(jobId),
          UpdateExpression: 'SET #lease = :until, #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(pk) OR (attribute_not_exists(#done) AND #lease < :now)',
          ExpressionAttributeNames: { '#lease': LEASE, '#ttl': 'expiresAt', '#done': DONE },
          ExpressionAttributeValues: {
            ':until': leaseUntilMs,
            ':ttl': this.expiresAt(),
            ':now': this.clock.now(),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'run';
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = await itemAtFailedCondition(this.doc, this.tableName, keys.fanoutJob(jobId), error);
      // Gone meanwhile (its day passed): taken, so the redelivery decides. An item with no lease was
      // written before jobs were claimed: done.
      if (!item) return 'taken';
      return DONE in item || !(LEASE in item) ? 'done' : 'taken';
    }
  }

  async releaseJob(jobId: string, leaseUntilMs: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.fanoutJob(jobId),
          UpdateExpression: 'SET #lease = :none',
          // Only this run's own claim, and only while the job is not done.
          ConditionExpression: '#lease = :mine AND attribute_not_exists(#done)',
          ExpressionAttributeNames: { '#lease': LEASE, '#done': DONE },
          ExpressionAttributeValues: { ':mine': leaseUntilMs, ':none': 0 },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async markJobDone(jobId: string): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.fanoutJob(jobId), [DONE]: 1, expiresAt: this.expiresAt() },
      }),
    );
  }

  private expiresAt(): number {
    return Math.floor(this.clock.now() / 1000) + this.ttlSeconds;
  }
}
