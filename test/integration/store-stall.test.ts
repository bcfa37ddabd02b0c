import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type LocalDynamo, startDynalite } from '../../local/dynamo.js';
import type { LocalStack } from '../../local/stack.js';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { api, connect, startTestStack, type TestClient } from './harness.js';

// A DynamoDB that accepts connections and never answers: every route still
// answers, with the contract's error, and the service is normal the moment the
// store answers again. Nothing here measures time: the test timeout is the clock.
let dynamo: LocalDynamo | undefined;
let proxy: FaultProxy;
let stack: LocalStack;
beforeAll(async () => {
  const useDynamoDbLocal = process.env.ROOMCAST_TEST_DYNAMO === 'dynamodb-local';
  if (!useDynamoDbLocal) dynamo = await startDynalite();
  proxy = await startFaultProxy(
    useDynamoDbLocal ? inject('dynamoEndpoint') : (dynamo as LocalDynamo).endpoint,
  );
  stack = await startTestStack({
    dynamoEndpoint: proxy.url,
    dynamoTimeoutMs: 1000,
    tableName: `roomcast-stall-${randomUUID().slice(0, 8)}`,
  });
});
afterAll(async () => {
  await stack?.close();
  await proxy?.close();
  await dynamo?.close();
});

async function handshakeStatus(userId: string): Promise<number> {
  try {
    const client = await connect(stack, userId);
    await client.close();
    return 101;
  } catch (error) {
    return (error as { status: number }).status;
  }
}

describe('a store that accepts connections and never answers', () => {
  it('answers health 503, push 503, send INTERNAL, $connect 503; then serves normally once the store answers', {
    timeout: 60_000,
  }, async () => {
    const alice: TestClient = await connect(stack, 'alice');
    expect((await alice.request({ action: 'join', room: 'lobby' })).type).toBe('ack');

    proxy.mode = 'stall';
    alice.ws.send(JSON.stringify({ action: 'send', room: 'lobby', event: 'chat', data: 1, id: 'stalled' }));
    const [health, push, send, newcomer] = await Promise.all([
      api(stack, 'GET', '/v1/health'),
      api(stack, 'POST', '/v1/push', { body: { room: 'lobby', event: 'e', data: 1 } }),
      alice.next((f) => f.id === 'stalled' && (f.type === 'ack' || f.type === 'error'), 50_000),
      handshakeStatus('bob'),
    ]).finally(() => {
      proxy.mode = 'pass'; // whatever happened, the next test gets a store that answers
    });
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'unavailable', failing: 'store' });
    // CONTRACT section 4: 503 when the store does not answer within a few seconds.
    expect(push.status).toBe(503);
    expect(push.body).toMatchObject({
      error: { code: 'INTERNAL', message: expect.stringContaining('retry') },
    });
    expect(send).toMatchObject({ type: 'error', code: 'INTERNAL' });
    expect(newcomer).toBe(503);

    expect((await api(stack, 'GET', '/v1/health')).status).toBe(200);
    const bob = await connect(stack, 'bob');
    expect((await bob.request({ action: 'join', room: 'lobby' })).type).toBe('ack');
    expect((await alice.request({ action: 'send', room: 'lobby', event: 'chat', data: 2 })).type).toBe('ack');
    await bob.next((f) => f.type === 'message' && f.data === 2);
    expect(
      (await api(stack, 'POST', '/v1/push', { body: { room: 'lobby', event: 'e', data: 3 } })).status,
    ).toBe(200);
    await bob.next((f) => f.type === 'message' && f.data === 3);
    await alice.close();
    await bob.close();
  });
});

describe('the health check with a store whose calls would wait for minutes', () => {
  it('answers 503 on its own budget, before the store call gives up', { timeout: 60_000 }, async () => {
    const patient = await startTestStack({
      dynamoEndpoint: proxy.url,
      dynamoTimeoutMs: 600_000,
      tableName: `roomcast-stall-${randomUUID().slice(0, 8)}`,
    });
    try {
      proxy.mode = 'stall';
      const health = await api(patient, 'GET', '/v1/health');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: 'unavailable', failing: 'store' });
    } finally {
      proxy.mode = 'pass';
      await patient.close();
    }
  });
});
