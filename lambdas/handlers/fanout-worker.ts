import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { FanoutWorker } from '../domain/fanout-jobs.js';
import { parseJob } from '../domain/fanout-jobs.js';
import type { Runtime } from '../runtime.js';
import { instrumented } from './wrapper.js';

/**
 * The fan-out worker: runs queued jobs (SQS on AWS, the in-memory queue
 * locally). Each failed job is reported alone, so only it is delivered again;
 * after the queue's receive limit it goes to the dead-letter queue.
 */
export function createFanoutWorkerHandler(runtime: Pick<Runtime, 'observability'>, worker: FanoutWorker) {
  return (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> =>
    instrumented(
      runtime,
      'fanout-worker',
      { requestId: context?.awsRequestId },
      context,
      async ({ logger }) => {
        const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
        for (const record of event.Records) {
          try {
            const job = parseJob(record.body);
            const result = await worker.run(job);
            logger.debug('fan-out job done', { jobId: job.jobId, kind: job.kind, ...result });
          } catch (error) {
            logger.error('fan-out job failed', {
              messageId: record.messageId,
              receiveCount: record.attributes?.ApproximateReceiveCount,
              error: (error as Error).message,
            });
            batchItemFailures.push({ itemIdentifier: record.messageId });
          }
        }
        return { batchItemFailures };
      },
    );
}
