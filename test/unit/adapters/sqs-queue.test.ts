import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { batchesOf, QueueUnavailableError, SqsFanoutQueue } from '../../../lambdas/adapters/sqs-queue.js';
import type { FanoutJob } from '../../../lambdas/domain/fanout-jobs.js';

const sqs = mockClient(SQSClient);
const URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/roomcast-dev-fanout';

function post(i: number, payloadBytes = 10): FanoutJob {
  return {
    kind: 'post',
    jobId: `m.${i}`,
    messageId: 'm',
    payload: 'x'.repeat(payloadBytes),
    targets: [`c${i}`],
  };
}

beforeEach(() => sqs.reset());

describe('the SQS fan-out queue', () => {
  it('sends jobs in batches of at most 10 messages and 256 KiB', () => {
    const small = batchesOf(Array.from({ length: 23 }, (_, i) => post(i)));
    expect(small.map((b) => b.length)).toEqual([10, 10, 3]);

    const large = batchesOf(Array.from({ length: 5 }, (_, i) => post(i, 100 * 1024)));
    expect(large.map((b) => b.length)).toEqual([2, 2, 1]);
  });

  it('sends a delay with each message when asked (a retry of failed posts), none otherwise', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [] });
    await new SqsFanoutQueue(new SQSClient({ region: 'eu-west-1' }), URL).enqueue([post(1)], {
      delaySeconds: 2,
    });
    await new SqsFanoutQueue(new SQSClient({ region: 'eu-west-1' }), URL).enqueue([post(2)]);
    const sent = sqs
      .commandCalls(SendMessageBatchCommand)
      .map((c) => c.args[0].input.Entries?.[0]?.DelaySeconds);
    expect(sent).toEqual([2, undefined]);
  });

  it('sends again the entries SQS refused in a partial failure', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [{ Id: '1', Code: 'InternalError', SenderFault: false }] })
      .resolves({ Successful: [] });
    const queue = new SqsFanoutQueue(new SQSClient({ region: 'eu-west-1' }), URL);

    await queue.enqueue([post(0), post(1)]);

    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]?.args[0].input.Entries?.map((e) => e.Id)).toEqual(['1']);
    expect(calls[0]?.args[0].input.QueueUrl).toBe(URL);
  });

  it('fails the enqueue when SQS keeps refusing or cannot be reached', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolves({ Successful: [], Failed: [{ Id: '0', Code: 'KmsThrottled', SenderFault: false }] });
    const queue = new SqsFanoutQueue(new SQSClient({ region: 'eu-west-1' }), URL);
    await expect(queue.enqueue([post(0)])).rejects.toBeInstanceOf(QueueUnavailableError);

    sqs.reset();
    sqs.on(SendMessageBatchCommand).rejects(new Error('connect ECONNREFUSED'));
    await expect(queue.enqueue([post(0)])).rejects.toThrow(/did not take the jobs/);
  });
});
