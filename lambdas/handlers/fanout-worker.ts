import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { FanoutWorker } from '../domain/fanout-jobs.js';
import { JobTakenError, parseJob } from '../domain/fanout-jobs.js';
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
            // A post job's claim holds while this invocation can run (Lambda ends it at its timeout).
            const result = await worker.run(job, context?.getRemainingTimeInMillis());
            logger.debug('fan-out job done', { jobId: job.jobId, kind: job.kind, ...result });
          } catch (error) {
            if (error instanceof JobTakenError) {
              // Not a fault: the copy comes back after the visibility timeout and finds the job done.
              logger.info('fan-out job is running elsewhere; left for its redelivery', {
                messageId: record.messageId,
              });
              batchItemFailures.push({ itemIdentifier: record.messageId });
              continue;
            }
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
