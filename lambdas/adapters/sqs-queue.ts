import {
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  type SendMessageBatchRequestEntry,
} from '@aws-sdk/client-sqs';
import type { FanoutJob, FanoutQueue } from '../domain/fanout-jobs.js';

/** SQS takes at most 10 messages and 256 KiB in one SendMessageBatch. */
const MAX_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1024;
/** Rounds of re-sending the entries SQS refused before the enqueue fails. */
const ATTEMPTS = 3;

export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
}

/** Groups jobs into batches within SQS's count and size limits. */
export function batchesOf(
  jobs: readonly FanoutJob[],
  delaySeconds?: number,
): SendMessageBatchRequestEntry[][] {
  const batches: SendMessageBatchRequestEntry[][] = [];
  let current: SendMessageBatchRequestEntry[] = [];
  let bytes = 0;
  jobs.forEach((job, index) => {
    const body = JSON.stringify(job);
    const size = Buffer.byteLength(body);
    if (current.length === MAX_ENTRIES || (current.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push({
      Id: String(index),
      MessageBody: body,
      ...(delaySeconds ? { DelaySeconds: delaySeconds } : {}),
    });
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/** The fan-out queue on SQS: every job is sent, entries SQS refuses are sent again, or the call throws. */
export class SqsFanoutQueue implements FanoutQueue {
  constructor(
    private readonly sqs: { send(command: SendMessageBatchCommand): Promise<SendMessageBatchCommandOutput> },
    private readonly queueUrl: string,
  ) {}

  async enqueue(jobs: readonly FanoutJob[], options: { delaySeconds?: number } = {}): Promise<void> {
    await Promise.all(batchesOf(jobs, options.delaySeconds).map((batch) => this.sendBatch(batch)));
  }

  private async sendBatch(entries: SendMessageBatchRequestEntry[]): Promise<void> {
    let pending = entries;
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      let out: SendMessageBatchCommandOutput;
      try {
        out = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }));
      } catch (cause) {
        throw new QueueUnavailableError('the fan-out queue did not take the jobs', { cause });
      }
      const failed = new Set((out.Failed ?? []).map((f) => f.Id));
      pending = pending.filter((entry) => failed.has(entry.Id));
      if (pending.length > 0 && attempt >= ATTEMPTS) {
        throw new QueueUnavailableError(
          `the fan-out queue refused ${pending.length} job(s): ${out.Failed?.[0]?.Code ?? 'unknown'}`,
        );
      }
    }
  }
}
