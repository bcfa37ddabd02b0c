import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { JobLedger } from '../domain/fanout-jobs.js';
import type { Clock } from '../domain/ports.js';
import { keys } from './table.js';

/** Finished fan-out jobs, one small item each, kept a day (SQS keeps an undelivered job at most 14 days; redeliveries come within minutes). */
export class DynamoJobLedger implements JobLedger {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock,
    private readonly ttlSeconds = 24 * 3600,
  ) {}

  async isJobDone(jobId: string): Promise<boolean> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.fanoutJob(jobId), ConsistentRead: true }),
    );
    return out.Item !== undefined;
  }

  async markJobDone(jobId: string): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keys.fanoutJob(jobId), expiresAt: Math.floor(this.clock.now() / 1000) + this.ttlSeconds },
      }),
    );
  }
}
