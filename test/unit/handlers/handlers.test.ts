import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { hs256Verifier } from '../../../lambdas/adapters/auth.js';
import { createAuthorizerHandler } from '../../../lambdas/handlers/authorizer.js';
import { createConnectHandler } from '../../../lambdas/handlers/connect.js';
import { createDisconnectHandler } from '../../../lambdas/handlers/disconnect.js';
import { createMessageHandler } from '../../../lambdas/handlers/message.js';
import { createPushHandler } from '../../../lambdas/handlers/push.js';
import type { WsEvent } from '../../../lambdas/handlers/wrapper.js';
import { fakeRuntime } from '../fakes.js';

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../fixtures/${name}.json`, import.meta.url), 'utf8')) as T;
}
const CID = 'Yx2bXc4hjoECJ-w=';

describe('authorizer', () => {
  const sign = (sub: string) =>
    new SignJWT({ rooms: ['private-ops'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('handler-secret'));

  function authorizer(env: Record<string, string> = {}) {
    const { runtime } = fakeRuntime(env);
    return createAuthorizerHandler(
      runtime,
      hs256Verifier(async () => ['handler-secret']),
    );
  }

  it('allows a valid token with the identity as string context', async () => {
    const event = fixture<APIGatewayRequestAuthorizerEvent>('authorizer-request');
    event.queryStringParameters = { token: await sign('alice') };
    const result = await authorizer()(event);
    expect(result.principalId).toBe('alice');
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow', Resource: event.methodArn });
    expect(result.context).toEqual({ userId: 'alice', rooms: '["private-ops"]' });
  });

  it('throws Unauthorized for a bad or missing token, so API Gateway answers 401', async () => {
    const event = fixture<APIGatewayRequestAuthorizerEvent>('authorizer-request');
    await expect(authorizer()(event)).rejects.toThrow('Unauthorized');
    event.queryStringParameters = {};
    await expect(authorizer()(event)).rejects.toThrow('Unauthorized');
  });

  it('denies an origin outside the allowed list, so API Gateway answers 403', async () => {
    const event = fixture<APIGatewayRequestAuthorizerEvent>('authorizer-request');
    event.queryStringParameters = { token: await sign('alice') };
    const result = await authorizer({ ALLOWED_ORIGINS: 'https://other.example.com' })(event);
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny' });
    const allowed = await authorizer({ ALLOWED_ORIGINS: 'https://app.example.com' })(event);
    expect(allowed.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
  });
});

describe('connect, message and disconnect', () => {
  it('stores the connection on $connect, joins on a join frame, and forgets it on $disconnect', async () => {
    const { runtime, store, gateway } = fakeRuntime();

    expect(await createConnectHandler(runtime)(fixture<WsEvent>('connect'))).toEqual({ statusCode: 200 });
    expect(store.connections.get(CID)).toMatchObject({ userId: 'alice', connectedAt: 1795255200000 });

    const joined = await createMessageHandler(runtime)(fixture<WsEvent>('message-join'));
    // Two-way route: the answer is the returned body, not a PostToConnection.
    expect(joined).toEqual({ statusCode: 200, body: JSON.stringify({ type: 'ack', id: 'c1', ok: true }) });
    expect(gateway.framesTo(CID)).toEqual([]);
    expect(await store.isMember('private-ops', CID)).toBe(true);
    // The frame's requestContext.connectedAt gave the membership its connection's expiry.
    expect(store.members.get('private-ops')?.get(CID)?.expiresAt).toBe(store.connections.get(CID)?.expiresAt);

    expect(await createDisconnectHandler(runtime)(fixture<WsEvent>('disconnect'))).toEqual({
      statusCode: 200,
    });
    expect(store.connections.size).toBe(0);
    expect(await store.countMembers('private-ops')).toBe(0);
  });

  it('answers a bad frame with an error frame carrying the id, and still 200', async () => {
    const { runtime, gateway } = fakeRuntime();
    const event = fixture<WsEvent>('message-join');
    event.body = '{"action":"join","id":"c9","room":"bad room"}';
    const answer = await createMessageHandler(runtime)(event);
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(answer.body ?? '')).toEqual({
      type: 'error',
      id: 'c9',
      code: 'VALIDATION_ERROR',
      message: expect.stringContaining('room must be'),
    });
    expect(gateway.posts).toHaveLength(0);
  });

  it('answers an internal fault with INTERNAL and the request id, never the error itself', async () => {
    const { runtime, store, gateway } = fakeRuntime();
    await createConnectHandler(runtime)(fixture<WsEvent>('connect'));
    store.addMember = async () => {
      throw new Error('DynamoDB exploded at line 42');
    };
    const answer = await createMessageHandler(runtime)(fixture<WsEvent>('message-join'));
    const frame = JSON.parse(answer.body ?? '{}') as Record<string, unknown>;
    expect(gateway.posts).toHaveLength(0);
    expect(frame).toMatchObject({ type: 'error', id: 'c1', code: 'INTERNAL' });
    expect(String(frame?.message)).toContain('Yx2cbHZ8DoEFpXQ=');
    expect(String(frame?.message)).not.toContain('exploded');
  });
});

describe('push', () => {
  it('decodes a base64 body, authenticates the key and pushes', async () => {
    const { runtime, service, gateway, clock } = fakeRuntime();
    await service.connect('p1', 'alice', clock.now());
    const handler = createPushHandler(runtime, async () => ['test-key']);

    const res = await handler(fixture<APIGatewayProxyEventV2>('http-push'));

    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body ?? '')).toMatchObject({ delivered: 1, pruned: 0, failed: 0 });
    expect(gateway.framesTo('p1')[0]).toMatchObject({ type: 'message', event: 'notify', data: { n: 1 } });
  });

  it('answers a wrong key with 401 in the contract shape', async () => {
    const { runtime } = fakeRuntime();
    const event = fixture<APIGatewayProxyEventV2>('http-push');
    event.headers.authorization = 'Bearer nope';
    const res = await createPushHandler(runtime, async () => ['test-key'])(event);
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body ?? '')).toEqual({
      error: {
        code: 'UNAUTHORIZED',
        message: 'the API key is not valid',
        timestamp: expect.any(String),
        requestId: 'Yx3AAhVFjoEEMqw=',
      },
    });
  });

  it('lets IAM-authenticated requests through without a key', async () => {
    const { runtime } = fakeRuntime({ PUSH_AUTH: 'iam' });
    const event = fixture<APIGatewayProxyEventV2>('http-push');
    delete event.headers.authorization;
    const res = await createPushHandler(runtime, undefined)(event);
    expect(res.statusCode).toBe(200);
  });

  it('answers 503 naming the store when health fails', async () => {
    const { runtime, store } = fakeRuntime();
    store.checkHealth = async () => {
      throw new Error('unreachable');
    };
    const event = fixture<APIGatewayProxyEventV2>('http-push');
    event.rawPath = '/v1/health';
    event.requestContext.http.method = 'GET';
    const res = await createPushHandler(runtime, async () => ['test-key'])(event);
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body ?? '')).toMatchObject({ status: 'unavailable', failing: 'store' });
  });
});

describe('push batch', () => {
  it('answers a message that hit an internal fault with INTERNAL in its slot and still delivers the rest', async () => {
    const { runtime, service, store, gateway, clock } = fakeRuntime();
    await service.connect('p1', 'alice', clock.now());
    const userConnections = store.userConnections.bind(store);
    store.userConnections = async (userId) => {
      if (userId === 'broken') throw new Error('store fell over');
      return userConnections(userId);
    };
    const event = fixture<APIGatewayProxyEventV2>('http-push');
    event.rawPath = '/v1/push/batch';
    event.isBase64Encoded = false;
    event.body = JSON.stringify({
      messages: [
        { userId: 'broken', event: 'e', data: 1 },
        { userId: 'alice', event: 'e', data: 2 },
      ],
    });

    const res = await createPushHandler(runtime, async () => ['test-key'])(event);

    expect(res.statusCode).toBe(200);
    const { results } = JSON.parse(res.body ?? '');
    expect(results[0].error).toMatchObject({ code: 'INTERNAL', status: 500 });
    expect(results[0].error.message).not.toContain('fell over');
    expect(results[1]).toMatchObject({ delivered: 1 });
    expect(gateway.framesTo('p1')).toHaveLength(1);
  });
});
