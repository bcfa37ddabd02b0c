import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import {
  api,
  connect,
  connectionIdsOf,
  eventually,
  settledStats,
  startTestStack,
  type TestClient,
} from './harness.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({ apiKeys: ['integration-key', 'next-key'] });
});
afterAll(() => stack?.close());

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

function expectErrorBody(body: { error: Record<string, unknown> }, code: string) {
  expect(body.error).toMatchObject({ code, message: expect.any(String), requestId: expect.any(String) });
  expect(new Date(body.error.timestamp as string).toISOString()).toBe(body.error.timestamp);
  expect(JSON.stringify(body)).not.toMatch(/at .*\.(ts|js):\d+/);
}

async function joined(userId: string, room: string): Promise<TestClient> {
  const client = await connect(stack, userId);
  await client.request({ action: 'join', room });
  return client;
}

describe('authentication', () => {
  it('serves health without a key', async () => {
    const res = await api(stack, 'GET', '/v1/health', { key: null });
    expect(res).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('refuses a missing key with 401 and says how to send one', async () => {
    const res = await api(stack, 'GET', '/v1/stats', { key: null });
    expect(res.status).toBe(401);
    expectErrorBody(res.body, 'UNAUTHORIZED');
    expect(res.body.error.message).toContain('Authorization: Bearer');
  });

  it('refuses a wrong key with 401', async () => {
    const res = await api(stack, 'POST', '/v1/push', { key: 'wrong', body: { broadcast: true, event: 'e' } });
    expect(res.status).toBe(401);
    expectErrorBody(res.body, 'UNAUTHORIZED');
  });

  it('accepts every active key, so a key can be rotated without downtime', async () => {
    expect((await api(stack, 'GET', '/v1/stats', { key: 'integration-key' })).status).toBe(200);
    expect((await api(stack, 'GET', '/v1/stats', { key: 'next-key' })).status).toBe(200);
  });
});

describe('push', () => {
  it('pushes to a room: every member gets the frame without from, and the answer counts deliveries', async () => {
    const a = await joined('push-room-a', 'news');
    const b = await joined('push-room-b', 'news');

    const res = await api(stack, 'POST', '/v1/push', {
      body: { room: 'news', event: 'headline', data: { n: 1 } },
    });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      messageId: expect.stringMatching(ULID),
      seq: 1,
      delivered: 2,
      pruned: 0,
      failed: 0,
    });
    for (const c of [a, b]) {
      expect(await c.next((f) => f.messageId === res.body.messageId)).toEqual({
        type: 'message',
        room: 'news',
        seq: 1,
        event: 'headline',
        data: { n: 1 },
        messageId: res.body.messageId,
        ts: expect.any(Number),
      });
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('skips exceptConnectionId', async () => {
    const a = await joined('except-a', 'except-room');
    const b = await joined('except-b', 'except-room');
    const [aId] = await connectionIdsOf(stack, 'except-a');

    const res = await api(stack, 'POST', '/v1/push', {
      body: { room: 'except-room', event: 'e', data: 1, exceptConnectionId: aId },
    });

    expect(res.body.delivered).toBe(1);
    await b.next((f) => f.messageId === res.body.messageId);
    await a.request({ action: 'ping' });
    expect(a.messages()).toHaveLength(0);
    await Promise.all([a.close(), b.close()]);
  });

  it('pushes to a user on all of their devices, without room', async () => {
    const phone = await connect(stack, 'devices');
    const laptop = await connect(stack, 'devices');
    const res = await api(stack, 'POST', '/v1/push', {
      body: { userId: 'devices', event: 'notify', data: 'hi' },
    });
    expect(res.body.delivered).toBe(2);
    for (const c of [phone, laptop]) {
      const frame = await c.next((f) => f.messageId === res.body.messageId);
      expect(frame).not.toHaveProperty('room');
      expect(frame).not.toHaveProperty('from');
    }
    await Promise.all([phone.close(), laptop.close()]);
  });

  it('answers a push to an offline user with zero deliveries', async () => {
    const res = await api(stack, 'POST', '/v1/push', {
      body: { userId: 'offline-user', event: 'e', data: 1 },
    });
    expect(res.body).toMatchObject({ delivered: 0, pruned: 0, failed: 0 });
  });

  it('pushes to one connection', async () => {
    const phone = await connect(stack, 'single');
    const laptop = await connect(stack, 'single');
    const [first] = await connectionIdsOf(stack, 'single');
    const res = await api(stack, 'POST', '/v1/push', { body: { connectionId: first, event: 'e', data: 1 } });
    expect(res.body.delivered).toBe(1);
    const receivers = await Promise.race([
      phone.next((f) => f.messageId === res.body.messageId).then(() => phone),
      laptop.next((f) => f.messageId === res.body.messageId).then(() => laptop),
    ]);
    const other = receivers === phone ? laptop : phone;
    await other.request({ action: 'ping' });
    expect(other.messages()).toHaveLength(0);
    await Promise.all([phone.close(), laptop.close()]);
  });

  it('broadcasts to everyone connected', async () => {
    const clients = await Promise.all(['b1', 'b2', 'b3'].map((u) => connect(stack, u)));
    const res = await api(stack, 'POST', '/v1/push', {
      body: { broadcast: true, event: 'maintenance', data: null },
    });
    expect(res.body.delivered).toBeGreaterThanOrEqual(3);
    await Promise.all(clients.map((c) => c.next((f) => f.messageId === res.body.messageId)));
    await Promise.all(clients.map((c) => c.close()));
  });

  it('reports a push to a closed connection as pruned', async () => {
    const client = await connect(stack, 'ghost');
    const [id] = await connectionIdsOf(stack, 'ghost');
    await client.close();
    const res = await api(stack, 'POST', '/v1/push', { body: { connectionId: id, event: 'e', data: 1 } });
    expect(res.body).toMatchObject({ delivered: 0, pruned: 1, failed: 0 });
  });

  it.each([
    ['no target', { event: 'e', data: 1 }, 'exactly one of userId, room, connectionId, broadcast'],
    [
      'two targets',
      { userId: 'u', room: 'r', event: 'e' },
      'exactly one of userId, room, connectionId, broadcast',
    ],
    ['broadcast false', { broadcast: false, event: 'e' }, 'broadcast must be true'],
    ['a bad room', { room: 'a room', event: 'e' }, 'room must be'],
    ['a missing event', { room: 'r' }, 'event'],
    ['an unknown field', { room: 'r', event: 'e', colour: 1 }, 'colour'],
  ])('answers a body with %s with 400 and details', async (_, body, words) => {
    const res = await api(stack, 'POST', '/v1/push', { body });
    expect(res.status).toBe(400);
    expectErrorBody(res.body, 'VALIDATION_ERROR');
    expect(res.body.error.message).toContain(words);
    expect(res.body.error.details.length).toBeGreaterThan(0);
  });

  it('answers a body that is not JSON with 400', async () => {
    const res = await api(stack, 'POST', '/v1/push', { rawBody: '{nope' });
    expect(res.status).toBe(400);
    expectErrorBody(res.body, 'VALIDATION_ERROR');
    expect(res.body.error.message).toBe('request body is not valid JSON');
  });

  it('answers data over the limit with 413', async () => {
    const res = await api(stack, 'POST', '/v1/push', {
      body: { broadcast: true, event: 'e', data: 'x'.repeat(40_000) },
    });
    expect(res.status).toBe(413);
    expectErrorBody(res.body, 'PAYLOAD_TOO_LARGE');
  });

  it('batch-pushes up to 25 messages, answering each in order, errors included', async () => {
    const c = await joined('batcher', 'batch-room');
    const res = await api(stack, 'POST', '/v1/push/batch', {
      body: {
        messages: [
          { room: 'batch-room', event: 'one', data: 1 },
          { room: 'batch-room', event: 'bad name!', data: 2 },
          { userId: 'batcher', event: 'three', data: 3 },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.results).toHaveLength(3);
    expect(res.body.results[0]).toMatchObject({ delivered: 1, messageId: expect.stringMatching(ULID) });
    expect(res.body.results[1].error).toMatchObject({ code: 'VALIDATION_ERROR', status: 400 });
    expect(res.body.results[2]).toMatchObject({ delivered: 1 });
    await c.next((f) => f.event === 'three');
    expect(
      c
        .messages()
        .map((m) => m.event)
        .sort(),
    ).toEqual(['one', 'three']);
    await c.close();
  });

  it('takes a full batch of maximum-size messages written with \\u escapes (2 to 3 times their compact size)', async () => {
    // 30 002 bytes of data compact (3-byte characters), 60 002 as json.dumps writes it; the whole batch is 1.5 MB.
    const escaped = JSON.stringify({ room: 'escaped-room', event: 'e', data: '中'.repeat(10_000) }).replace(
      /[\u0080-\uffff]/g,
      (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
    const res = await api(stack, 'POST', '/v1/push/batch', {
      rawBody: `{"messages":[${Array(25).fill(escaped).join(',')}]}`,
    });
    expect(res.status).toBe(200);
    expect(res.body.results).toHaveLength(25);
    for (const result of res.body.results) expect(result).toMatchObject({ delivered: 0 });
  });

  it('answers a body over 5 MiB with 413', async () => {
    const res = await api(stack, 'POST', '/v1/push', {
      rawBody: JSON.stringify({ broadcast: true, event: 'e', data: null, pad: ' '.repeat(5 * 1024 * 1024) }),
    });
    expect(res.status).toBe(413);
    expectErrorBody(res.body, 'PAYLOAD_TOO_LARGE');
  });

  it('refuses a batch of more than 25 or of none', async () => {
    const many = Array.from({ length: 26 }, () => ({ broadcast: true, event: 'e' }));
    const tooMany = await api(stack, 'POST', '/v1/push/batch', { body: { messages: many } });
    const none = await api(stack, 'POST', '/v1/push/batch', { body: { messages: [] } });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toContain('at most 25');
    expect(none.status).toBe(400);
  });
});

describe('presence and membership', () => {
  it('tells who is online with each connection', async () => {
    const a = await connect(stack, 'presence');
    const b = await connect(stack, 'presence');
    const res = await api(stack, 'GET', '/v1/users/presence');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ userId: 'presence', online: true });
    expect(res.body.connections).toHaveLength(2);
    expect(res.body.connections[0]).toEqual({
      connectionId: expect.any(String),
      connectedAt: expect.any(Number),
    });
    await Promise.all([a.close(), b.close()]);
    const offline = await eventually(async () => {
      const r = await api(stack, 'GET', '/v1/users/presence');
      expect(r.body.online).toBe(false);
      return r;
    });
    expect(offline.body).toEqual({ userId: 'presence', online: false, connections: [] });
  });

  it('pages room members with limit and nextToken', async () => {
    const clients = await Promise.all(Array.from({ length: 5 }, (_, i) => joined(`pager-${i}`, 'paged')));
    const first = await api(stack, 'GET', '/v1/rooms/paged?limit=2');
    expect(first.body).toMatchObject({ room: 'paged', count: 5 });
    expect(first.body.members).toHaveLength(2);
    expect(first.body.members[0]).toEqual({
      userId: expect.any(String),
      connectionId: expect.any(String),
      joinedAt: expect.any(Number),
    });
    const seen = [...first.body.members];
    let next = first.body.nextToken as string | undefined;
    while (next) {
      const page = await api(stack, 'GET', `/v1/rooms/paged?limit=2&nextToken=${encodeURIComponent(next)}`);
      seen.push(...page.body.members);
      next = page.body.nextToken;
    }
    expect(new Set(seen.map((m) => m.userId))).toEqual(new Set(clients.map((_, i) => `pager-${i}`)));
    await Promise.all(clients.map((c) => c.close()));
  });

  it('answers a forged nextToken or a bad limit with 400', async () => {
    const forged = Buffer.from(JSON.stringify({ pk: 'ROOM#other', sk: 'CONN#x' })).toString('base64url');
    expect((await api(stack, 'GET', `/v1/rooms/paged?nextToken=${forged}`)).status).toBe(400);
    expect((await api(stack, 'GET', '/v1/rooms/paged?nextToken=%%%')).status).toBe(400);
    // The room's own partition, but a sort key longer than DynamoDB allows: no token a listing gave.
    const oversize = Buffer.from(
      JSON.stringify({ pk: 'ROOM#paged', sk: `CONN#${'x'.repeat(1400)}` }),
    ).toString('base64url');
    const refused = await api(stack, 'GET', `/v1/rooms/paged?nextToken=${oversize}`);
    expect([refused.status, refused.body.error?.code]).toEqual([400, 'VALIDATION_ERROR']);
    expect((await api(stack, 'GET', '/v1/rooms/paged?limit=0')).status).toBe(400);
    expect((await api(stack, 'GET', '/v1/rooms/paged?limit=abc')).status).toBe(400);
  });

  it('joins and removes every connection of a user from the server side', async () => {
    const phone = await connect(stack, 'managed');
    const laptop = await connect(stack, 'managed');

    const join = await api(stack, 'POST', '/v1/rooms/support/members', { body: { userId: 'managed' } });
    expect(join).toMatchObject({ status: 200, body: { joined: 2 } });
    const pushed = await api(stack, 'POST', '/v1/push', { body: { room: 'support', event: 'e', data: 1 } });
    expect(pushed.body.delivered).toBe(2);

    const leave = await api(stack, 'DELETE', '/v1/rooms/support/members/managed');
    expect(leave).toMatchObject({ status: 200, body: { left: 2 } });
    expect((await api(stack, 'GET', '/v1/rooms/support')).body).toMatchObject({ count: 0, members: [] });
    await Promise.all([phone.close(), laptop.close()]);
  });

  it('reports stats for connections, users and rooms', async () => {
    // Wait until earlier tests' $disconnects have landed: stored connections match live sockets.
    const before = await settledStats(stack);
    const a = await joined('stats-user', 'stats-room');
    const b = await connect(stack, 'stats-user');
    const during = (await api(stack, 'GET', '/v1/stats')).body;
    expect(during).toEqual({
      connections: before.connections + 2,
      users: before.users + 1,
      rooms: before.rooms + 1,
    });
    await Promise.all([a.close(), b.close()]);
    await eventually(async () => expect((await api(stack, 'GET', '/v1/stats')).body).toEqual(before));
  });
});

describe('disconnecting from the server side', () => {
  it('closes one connection (204) and forgets it; an unknown one is 404', async () => {
    const c = await connect(stack, 'kicked');
    const [id] = await connectionIdsOf(stack, 'kicked');
    const res = await api(stack, 'DELETE', `/v1/connections/${encodeURIComponent(id ?? '')}`);
    expect(res.status).toBe(204);
    expect((await c.closed).code).toBe(1000);
    expect(await connectionIdsOf(stack, 'kicked')).toEqual([]);
    const again = await api(stack, 'DELETE', `/v1/connections/${encodeURIComponent(id ?? '')}`);
    expect(again.status).toBe(404);
    expectErrorBody(again.body, 'NOT_FOUND');
  });

  it('closes every connection of a user', async () => {
    const clients = await Promise.all([connect(stack, 'banned'), connect(stack, 'banned')]);
    const res = await api(stack, 'DELETE', '/v1/users/banned/connections');
    expect(res).toMatchObject({ status: 200, body: { disconnected: 2 } });
    await Promise.all(clients.map((c) => c.closed));
    expect(await connectionIdsOf(stack, 'banned')).toEqual([]);
  });
});

describe('unknown routes', () => {
  it('answers an unknown /v1 path with 404 and an unsupported method with 404 naming the right one', async () => {
    const unknown = await api(stack, 'GET', '/v1/nothing-here');
    expect(unknown.status).toBe(404);
    expectErrorBody(unknown.body, 'NOT_FOUND');
    const wrongMethod = await api(stack, 'GET', '/v1/push');
    expect(wrongMethod.status).toBe(404);
    expect(wrongMethod.body.error.message).toContain('use POST');
  });

  it('answers a path outside /v1 with 404 in the same error shape', async () => {
    const res = await api(stack, 'GET', '/elsewhere', { key: null });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
  });

  it('answers bad path parameters with 400', async () => {
    expect((await api(stack, 'GET', '/v1/rooms/bad%20room')).status).toBe(400);
    expect((await api(stack, 'DELETE', '/v1/connections/%E0%A4%A')).status).toBe(400);
  });
});
