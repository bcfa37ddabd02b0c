import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lambdas/config.js';
import { createDocumentClient } from '../../lambdas/runtime.js';

describe('a DynamoDB endpoint that accepts and never answers', () => {
  it('fails every call within the configured bounds instead of hanging (the test timeout is the clock)', async () => {
    const sockets: Socket[] = [];
    const hung = createServer((socket) => {
      sockets.push(socket);
    });
    hung.listen(0, '127.0.0.1');
    await once(hung, 'listening');
    const { port } = hung.address() as { port: number };
    try {
      const config = loadConfig({
        AWS_REGION: 'us-east-1',
        DYNAMODB_ENDPOINT: `http://127.0.0.1:${port}`,
        DYNAMODB_REQUEST_TIMEOUT_MS: '300',
        DYNAMODB_MAX_ATTEMPTS: '2',
      });
      process.env.AWS_ACCESS_KEY_ID ??= 'local';
      process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
      const client = createDocumentClient(config);
      await expect(
        client.send(new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'b' } })),
      ).rejects.toThrow();
      expect(sockets.length).toBeGreaterThanOrEqual(2);
      client.destroy();
    } finally {
      for (const socket of sockets) socket.destroy();
      hung.close();
    }
  }, 15_000);
});
