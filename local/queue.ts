import { createHash, randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { FanoutJob, FanoutQueue } from '../lambdas/domain/fanout-jobs.js';

export interface LocalQueueOptions {
  /** Worker invocations running at once (Lambda's concurrency for the event source). */
  workers: number;
  /** Records per invocation, as the event source's batch size. */
  batchSize: number;
  /** Deliveries of one job before it is dead-lettered (the redrive policy's maxReceiveCount). */
  maxReceives: number;
  region: string;
  queueArn: string;
  onDeadLetter?: (record: SQSRecord) => void;
}

interface Pending {
  messageId: string;
  body: string;
  sentAt: number;
  receives: number;
}

/**
 * The fan-out queue of the local stack: SQS's semantics that matter here,
 * in-process. Jobs are handed to the same worker handler as on AWS, as
 * SQS-shaped events, several invocations at once; the ids a handler reports
 * in `batchItemFailures` (or every id, when it throws) are delivered again
 * until `maxReceives`, then dead-lettered.
 */
export class LocalFanoutQueue implements FanoutQueue {
  private readonly pending: Pending[] = [];
  private readonly deadLetters: SQSRecord[] = [];
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  /** Jobs enqueued with a delay, not yet visible. */
  private readonly delayed = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly consume: (event: SQSEvent) => Promise<SQSBatchResponse | undefined>,
    private readonly options: LocalQueueOptions,
  ) {}

  async enqueue(jobs: readonly FanoutJob[], options: { delaySeconds?: number } = {}): Promise<void> {
    const now = Date.now();
    const items = jobs.map((job) => ({
      messageId: randomUUID(),
      body: JSON.stringify(job),
      sentAt: now,
      receives: 0,
    }));
    if (!options.delaySeconds) {
      this.pending.push(...items);
      this.pump();
      return;
    }
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      this.pending.push(...items);
      this.pump();
    }, options.delaySeconds * 1000);
    timer.unref();
    this.delayed.add(timer);
  }

  /**
   * For a closing stack: waits for the jobs waiting or running, then drops the delayed ones (like
   * messages of a deleted queue), also any a job queues later.
   */
  async close(): Promise<void> {
    await this.idle();
    this.closed = true;
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
  }

  /** Jobs that failed `maxReceives` times. */
  get deadLettered(): readonly SQSRecord[] {
    return this.deadLetters;
  }

  /** Resolves once no job is waiting or running (delayed jobs, not visible yet, are not waited for). */
  idle(): Promise<void> {
    if (this.pending.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running < this.options.workers && this.pending.length > 0) {
      const batch = this.pending.splice(0, this.options.batchSize);
      this.running += 1;
      void this.invoke(batch).finally(() => {
        this.running -= 1;
        this.pump();
        if (this.pending.length === 0 && this.running === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const resolve of waiters) resolve();
        }
      });
    }
  }

  private async invoke(batch: Pending[]): Promise<void> {
    for (const item of batch) item.receives += 1;
    const records = batch.map((item) => this.record(item));
    let failed: Set<string>;
    try {
      const answer = await this.consume({ Records: records });
      failed = new Set((answer?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch {
      failed = new Set(batch.map((item) => item.messageId));
    }
    batch.forEach((item, index) => {
      if (!failed.has(item.messageId)) return;
      if (item.receives >= this.options.maxReceives) {
        const record = records[index] as SQSRecord;
        this.deadLetters.push(record);
        this.options.onDeadLetter?.(record);
      } else {
        this.pending.push(item);
      }
    });
  }

  private record(item: Pending): SQSRecord {
    return {
      messageId: item.messageId,
      receiptHandle: `${item.messageId}#${item.receives}`,
      body: item.body,
      attributes: {
        ApproximateReceiveCount: String(item.receives),
        SentTimestamp: String(item.sentAt),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: createHash('md5').update(item.body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: this.options.queueArn,
      awsRegion: this.options.region,
    };
  }
}
