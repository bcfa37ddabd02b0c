import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store.js';
import { systemClock } from '../../lambdas/runtime.js';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, connectionIdsOf, eventually, startTestStack } from './harness.js';

let stack: LocalStack;
let management: ApiGatewayManagementApiClient;
let store: DynamoConnectionStore;

beforeAll(async () => {
  stack = await startTestStack();
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  management = new ApiGatewayManagementApiClient({
    endpoint: `http://127.0.0.1:${stack.port}`,
    region: 'us-east-1',
    credentials,
  });
  const doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: stack.dynamoEndpoint, region: 'us-east-1', credentials }),
  );
  store = new DynamoConnectionStore(doc, stack.tableName, systemClock);
});
afterAll(async () => {
  management?.destroy();
  await stack?.close();
});

describe('@connections with the real AWS SDK client', () => {
  it('posts to, gets and deletes a live connection, then throws GoneException', async () => {
    const client = await connect(stack, 'sdk-user');
    const [id] = await connectionIdsOf(stack, 'sdk-user');
    const ConnectionId = id ?? '';

    await management.send(
      new PostToConnectionCommand({ ConnectionId, Data: Buffer.from('{"type":"hello"}') }),
    );
    expect(await client.next((f) => f.type === 'hello')).toEqual({ type: 'hello' });

    const info = await management.send(new GetConnectionCommand({ ConnectionId }));
    expect(info.Identity?.SourceIp).toBe('127.0.0.1');
    expect(info.ConnectedAt).toBeInstanceOf(Date);
    expect(info.LastActiveAt).toBeInstanceOf(Date);

    await management.send(new DeleteConnectionCommand({ ConnectionId }));
    expect((await client.closed).code).toBe(1000);

    await expect(
      management.send(new PostToConnectionCommand({ ConnectionId, Data: Buffer.from('x') })),
    ).rejects.toBeInstanceOf(GoneException);
    await expect(management.send(new GetConnectionCommand({ ConnectionId }))).rejects.toBeInstanceOf(
      GoneException,
    );
    await expect(management.send(new DeleteConnectionCommand({ ConnectionId }))).rejects.toBeInstanceOf(
      GoneException,
    );
  });

  it('accepts the stage prefix in the path', async () => {
    const client = await connect(stack, 'stage-user');
    const [id] = await connectionIdsOf(stack, 'stage-user');
    const staged = new ApiGatewayManagementApiClient({
      endpoint: `http://127.0.0.1:${stack.port}/local`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await staged.send(
      new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('{"type":"staged"}') }),
    );
    await client.next((f) => f.type === 'staged');
    staged.destroy();
    await client.close();
  });

  it('answers an unknown connection id with GoneException', async () => {
    await expect(
      management.send(
        new PostToConnectionCommand({ ConnectionId: 'bm9ib2R5LWhlcmU=', Data: Buffer.from('x') }),
      ),
    ).rejects.toBeInstanceOf(GoneException);
  });
});

describe('connection lifecycle', () => {
  it('removes a closed connection from every room and from the user within a second', async () => {
    const client = await connect(stack, 'closer');
    await client.request({ action: 'join', room: 'r1' });
    await client.request({ action: 'join', room: 'r2' });
    await client.close();

    await eventually(async () => {
      expect(await connectionIdsOf(stack, 'closer')).toEqual([]);
      expect((await api(stack, 'GET', '/v1/rooms/r1')).body).toMatchObject({ count: 0, members: [] });
      expect((await api(stack, 'GET', '/v1/rooms/r2')).body).toMatchObject({ count: 0, members: [] });
    }, 1000);
  });

  it('prunes a stored connection whose $disconnect never came, on the first delivery that meets it', async () => {
    const live = await connect(stack, 'half-gone');
    await live.request({ action: 'join', room: 'stale-room' });
    // A connection that AWS dropped without running $disconnect: stored, in the room, but gone.
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    await store.putConnection({
      connectionId: 'c3RhbGUtY29ubg=',
      userId: 'half-gone',
      connectedAt: Date.now(),
      expiresAt,
    });
    await store.addMember({
      room: 'stale-room',
      connectionId: 'c3RhbGUtY29ubg=',
      userId: 'half-gone',
      joinedAt: Date.now(),
      expiresAt,
    });
    expect(await connectionIdsOf(stack, 'half-gone')).toHaveLength(2);

    const res = await api(stack, 'POST', '/v1/push', { body: { room: 'stale-room', event: 'e', data: 1 } });

    expect(res.body).toMatchObject({ delivered: 1, pruned: 1, failed: 0 });
    expect(await connectionIdsOf(stack, 'half-gone')).toHaveLength(1);
    expect((await api(stack, 'GET', '/v1/rooms/stale-room')).body.count).toBe(1);
    await live.close();
  });

  it('ignores stored items whose TTL has passed, and the sweeper deletes them', async () => {
    const past = Math.floor(Date.now() / 1000) - 10;
    await store.putConnection({
      connectionId: 'ZXhwaXJlZC1jb25u',
      userId: 'expired-user',
      connectedAt: 0,
      expiresAt: past,
    });
    await store.addMember({
      room: 'expired-room',
      connectionId: 'ZXhwaXJlZC1jb25u',
      userId: 'expired-user',
      joinedAt: 0,
      expiresAt: past,
    });

    expect(await connectionIdsOf(stack, 'expired-user')).toEqual([]);
    expect((await api(stack, 'GET', '/v1/rooms/expired-room')).body).toMatchObject({ count: 0, members: [] });
    const pushed = await api(stack, 'POST', '/v1/push', {
      body: { room: 'expired-room', event: 'e', data: 1 },
    });
    expect(pushed.body).toMatchObject({ delivered: 0, pruned: 0 });

    expect(await stack.sweep()).toBeGreaterThanOrEqual(2);
    expect(await store.getConnection('ZXhwaXJlZC1jb25u')).toBeUndefined();
  });
});

describe('API Gateway limits', () => {
  let limited: LocalStack;
  beforeAll(async () => {
    limited = await startTestStack({ limits: { idleTimeoutMs: 300, maxLifetimeMs: 1200 } });
  });
  afterAll(() => limited?.close());

  it('closes an idle connection after the idle timeout and cleans it up', async () => {
    const client = await connect(limited, 'idler');
    const closed = await client.closed;
    expect(closed.code).toBe(1001);
    expect(closed.reason).toContain('idle');
    await eventually(async () => expect(await connectionIdsOf(limited, 'idler')).toEqual([]));
  });

  it('keeps a busy connection past the idle timeout but closes it at the lifetime limit', async () => {
    const client = await connect(limited, 'busy');
    const keepAlive = setInterval(() => client.ws.send('{"action":"ping"}'), 100);
    try {
      const closed = await client.closed;
      expect(closed.code).toBe(1001);
      expect(closed.reason).toContain('lifetime');
    } finally {
      clearInterval(keepAlive);
    }
  });
});
