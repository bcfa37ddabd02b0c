import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueUnavailableError, SqsFanoutQueue } from '../../../lambdas/adapters/sqs-queue.js';
import { createSqsClient } from '../../../lambdas/runtime.js';

describe('the fan-out queue client', () => {
  // Accepts connections and never answers: an SQS that hangs.
  let server: Server;
  const sockets: Socket[] = [];
  let queueUrl: string;
  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID ??= 'test';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
    server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    // SQS sends each request to its queue URL's host.
    queueUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/123456789012/fanout`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('gives up on an enqueue that never answers instead of holding the function until its timeout', async () => {
    const queue = new SqsFanoutQueue(
      createSqsClient({
        region: 'eu-west-1',
        dynamoTimeouts: { connectMs: 500, requestMs: 500, maxAttempts: 1 },
      }),
      queueUrl,
    );

    const failure = await queue
      .enqueue([{ kind: 'post', jobId: 'm.0', messageId: 'm', payload: 'f', targets: ['c'] }])
      .catch((error: Error) => error);

    expect(failure).toBeInstanceOf(QueueUnavailableError);
    expect(((failure as Error).cause as Error).name).toBe('TimeoutError');
    expect(sockets.length).toBeGreaterThan(0);
  }, 15_000);
});
