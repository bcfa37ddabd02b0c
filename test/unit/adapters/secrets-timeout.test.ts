import { createServer, type Server, type Socket } from 'node:net';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretsClient } from '../../../lambdas/runtime.js';

describe('Secrets Manager client', () => {
  // Accepts connections and never answers: a Secrets Manager that hangs.
  let server: Server;
  const sockets: Socket[] = [];
  let endpoint: string;
  beforeAll(async () => {
    server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('gives up on a read that never answers instead of hanging until the function times out', async () => {
    const client = createSecretsClient(
      { region: 'eu-west-1' },
      { endpoint, maxAttempts: 1, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } },
    );

    const failure = await client
      .send(new GetSecretValueCommand({ SecretId: 'roomcast/push-api-keys' }))
      .catch((error: Error) => error);

    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).name).toBe('TimeoutError');
    expect(sockets.length).toBeGreaterThan(0);
  }, 15_000);
});
