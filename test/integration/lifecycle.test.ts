import net from 'node:net';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store.js';
import { EVERYONE_SHARDS, keys, shardOf } from '../../lambdas/adapters/table.js';
import { systemClock } from '../../lambdas/runtime.js';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, connectionIdsOf, eventually, settledStats, startTestStack, token } from './harness.js';

let stack: LocalStack;
let management: ApiGatewayManagementApiClient;
let store: DynamoConnectionStore;
/** The table itself, through the real SDK, for what no handler would write. */
let raw: DynamoDBDocumentClient;

/** The store the handlers use, reached through the real SDK, to set up what clients cannot. */
function storeFor(target: LocalStack): DynamoConnectionStore {
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: target.dynamoEndpoint, region: 'us-east-1', credentials }),
  );
  return new DynamoConnectionStore(doc, target.tableName, systemClock);
}

beforeAll(async () => {
  stack = await startTestStack();
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  management = new ApiGatewayManagementApiClient({
    endpoint: `http://127.0.0.1:${stack.port}`,
    region: 'us-east-1',
    credentials,
  });
  store = storeFor(stack);
  raw = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: stack.dynamoEndpoint, region: 'us-east-1', credentials }),
  );
});
afterAll(async () => {
  raw?.destroy();
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

  it('answers a connection id that is not valid percent-encoding with 400', async () => {
    const res = await fetch(`http://127.0.0.1:${stack.port}/@connections/%E0%A4%A`, {
      method: 'POST',
      body: 'x',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('BadRequestException');
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
});

describe('the reconciliation', () => {
  it('announces the leave of a membership a half-done $disconnect left behind when it deletes it', async () => {
    const room = 'presence-orphaned';
    const watcher = await connect(stack, 'orphan-watcher');
    await watcher.request({ action: 'join', room });
    const leaving = await connect(stack, 'orphan-leaver');
    await leaving.request({ action: 'join', room });
    await watcher.next((f) => f.type === 'presence' && f.event === 'join' && f.userId === 'orphan-leaver');
    const [id] = await connectionIdsOf(stack, 'orphan-leaver');
    // Its $disconnect stopped after deleting its connection item and broadcast entry: the membership
    // stays, and nothing lists the connection any more, so no delivery will meet it.
    for (const key of [
      keys.connection(String(id)),
      keys.everyoneItem(shardOf(String(id), EVERYONE_SHARDS), String(id)),
    ]) {
      await raw.send(new DeleteCommand({ TableName: stack.tableName, Key: key }));
    }

    expect(await stack.reconcile()).toMatchObject({ orphansDeleted: 1 });

    expect(await watcher.next((f) => f.type === 'presence' && f.event === 'leave')).toEqual({
      type: 'presence',
      room,
      event: 'leave',
      userId: 'orphan-leaver',
    });
    const presence = await api(stack, 'GET', `/v1/rooms/${room}/presence`);
    expect(presence.body).toMatchObject({ count: 1, users: [{ userId: 'orphan-watcher', connections: 1 }] });
    await watcher.close();
    await leaving.close();
  });
});

describe('TTL', () => {
  let expiring: LocalStack;
  let expiringStore: DynamoConnectionStore;
  beforeAll(async () => {
    expiring = await startTestStack();
    expiringStore = storeFor(expiring);
  });
  afterAll(() => expiring?.close());

  it('ignores stored items whose TTL has passed; their deletion settles the stats', async () => {
    const before = await settledStats(expiring);
    const past = Math.floor(Date.now() / 1000) - 10;
    await expiringStore.putConnection({
      connectionId: 'ZXhwaXJlZC1jb25u',
      userId: 'expired-user',
      connectedAt: 0,
      expiresAt: past,
    });
    await expiringStore.addMember({
      room: 'expired-room',
      connectionId: 'ZXhwaXJlZC1jb25u',
      userId: 'expired-user',
      joinedAt: 0,
      expiresAt: past,
    });

    expect(await connectionIdsOf(expiring, 'expired-user')).toEqual([]);
    expect((await api(expiring, 'GET', '/v1/rooms/expired-room')).body).toMatchObject({
      count: 0,
      members: [],
    });
    const pushed = await api(expiring, 'POST', '/v1/push', {
      body: { room: 'expired-room', event: 'e', data: 1 },
    });
    expect(pushed.body).toMatchObject({ delivered: 0, pruned: 0 });

    expect((await api(expiring, 'GET', '/v1/stats')).body).toEqual({
      connections: before.connections + 1,
      users: before.users + 1,
      rooms: before.rooms + 1,
    });

    expect(await expiring.sweep()).toBeGreaterThanOrEqual(2);
    expect(await expiringStore.getConnection('ZXhwaXJlZC1jb25u')).toBeUndefined();
    expect((await api(expiring, 'GET', '/v1/stats')).body).toEqual(before);
  });
});

describe('races', () => {
  it('does not take a broadcast entry the reconciliation put back as proof that its connection is open', async () => {
    // The reconciliation reads a connection, the connection closes (its item and entry deleted),
    // then the reconciliation puts back the entry it found missing: a join must still see it closed.
    const client = await connect(stack, 'restored-user');
    const [id] = await connectionIdsOf(stack, 'restored-user');
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: stack.dynamoEndpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    );
    const entry = keys.everyoneItem(shardOf(String(id), EVERYONE_SHARDS), String(id));
    await doc.send(new DeleteCommand({ TableName: stack.tableName, Key: entry }));
    expect((await stack.reconcile()).countersFixed).toBe(1);
    expect(await store.recordRoom(String(id), 'restored-room')).toBe(true);
    await doc.send(new DeleteCommand({ TableName: stack.tableName, Key: keys.connection(String(id)) }));

    expect(await store.recordRoom(String(id), 'restored-room')).toBe(false);
    doc.destroy();
    await client.close();
    await stack.reconcile();
  });

  it('leaves no member behind when clients join and close at once', async () => {
    const before = await settledStats(stack);
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(stack, `racer-${i}`)));
    for (const c of clients) {
      c.ws.send('{"action":"join","room":"race-room"}');
      c.ws.close();
    }
    await Promise.all(clients.map((c) => c.closed));
    await eventually(async () => {
      expect((await api(stack, 'GET', '/v1/rooms/race-room')).body).toMatchObject({ count: 0, members: [] });
      expect(await settledStats(stack)).toEqual(before);
    });
  });

  it('keeps the stats exact when joins and leaves of one room interleave', async () => {
    const before = await settledStats(stack);
    const clients = await Promise.all(Array.from({ length: 6 }, (_, i) => connect(stack, `churn-${i}`)));
    await Promise.all(
      clients.map(async (c) => {
        for (let round = 0; round < 15; round += 1) {
          await c.request({ action: 'join', room: 'churn-room' });
          await c.request({ action: 'leave', room: 'churn-room' });
        }
      }),
    );
    expect((await api(stack, 'GET', '/v1/stats')).body.rooms).toBe(before.rooms);
    await Promise.all(clients.map((c) => c.close()));
    await eventually(async () => expect(await settledStats(stack)).toEqual(before));
  });

  it('runs $disconnect for a client that hangs up during the handshake', async () => {
    const jwt = await token('half-open');
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(stack.port, '127.0.0.1', () => {
        socket.end(
          `GET /?token=${jwt} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
      });
      socket.on('error', reject);
      socket.on('close', () => resolve());
      socket.resume();
    });
    await eventually(async () => {
      expect(await connectionIdsOf(stack, 'half-open')).toEqual([]);
      expect((await api(stack, 'GET', '/v1/stats')).body.connections).toBe(stack.gateway.connectionCount);
    });
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
