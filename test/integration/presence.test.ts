import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store.js';
import { systemClock } from '../../lambdas/runtime.js';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, connectionIdsOf, eventually, startTestStack, type TestClient } from './harness.js';

let stack: LocalStack;
let store: DynamoConnectionStore;

beforeAll(async () => {
  stack = await startTestStack();
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  store = new DynamoConnectionStore(
    DynamoDBDocumentClient.from(
      new DynamoDBClient({ endpoint: stack.dynamoEndpoint, region: 'us-east-1', credentials }),
    ),
    stack.tableName,
    systemClock,
  );
});
afterAll(() => stack?.close());

type Frame = Record<string, unknown>;
const presenceFrames = (c: TestClient, room: string) =>
  c.frames.filter((f) => f.type === 'presence' && f.room === room && f.event !== undefined);
const announced = (c: TestClient, room: string, event: 'join' | 'leave', userId: string) =>
  c.next((f: Frame) => f.type === 'presence' && f.room === room && f.event === event && f.userId === userId);
const presenceOf = async (room: string) =>
  (await api(stack, 'GET', `/v1/rooms/${encodeURIComponent(room)}/presence`)).body;

/** A watcher in the room, and the user whose coming and going it sees. */
async function watched(room: string, userId: string) {
  const watcher = await connect(stack, `watcher-of-${userId}`);
  await watcher.request({ action: 'join', room });
  const first = await connect(stack, userId);
  await first.request({ action: 'join', room });
  await announced(watcher, room, 'join', userId);
  return { watcher, first };
}

/** Exactly one join and one leave of the user reached the watcher; the user's own connections got none. */
function assertOnce(watcher: TestClient, room: string, userId: string, own: TestClient[]) {
  const seen = presenceFrames(watcher, room).filter((f) => f.userId === userId);
  expect(seen.map((f) => f.event)).toEqual(['join', 'leave']);
  expect(seen[0]).toEqual({ type: 'presence', room, event: 'join', userId });
  for (const c of own) expect(presenceFrames(c, room).filter((f) => f.userId === userId)).toEqual([]);
}

describe('presence frames in presence- rooms', () => {
  it('announces a join on the first connection and a leave on the last `leave`, once each', async () => {
    const room = 'presence-leave';
    const { watcher, first } = await watched(room, 'p-leave');
    const second = await connect(stack, 'p-leave');
    await second.request({ action: 'join', room });
    expect((await presenceOf(room)).users).toContainEqual({ userId: 'p-leave', connections: 2 });

    await first.request({ action: 'leave', room });
    await second.request({ action: 'leave', room });
    await announced(watcher, room, 'leave', 'p-leave');

    assertOnce(watcher, room, 'p-leave', [first, second]);
    expect(await presenceOf(room)).toEqual({
      room,
      count: 1,
      users: [{ userId: 'watcher-of-p-leave', connections: 1 }],
    });
    await Promise.all([watcher.close(), first.close(), second.close()]);
  });

  it('announces a leave when the last connection closes', async () => {
    const room = 'presence-close';
    const { watcher, first } = await watched(room, 'p-close');
    await first.close();
    await announced(watcher, room, 'leave', 'p-close');
    assertOnce(watcher, room, 'p-close', []);
    await watcher.close();
  });

  it("announces a leave on a backend's removal (DELETE /v1/rooms/{room}/members/{userId})", async () => {
    const room = 'private-presence-removal';
    const watcher = await connect(stack, 'watcher-r', [room]);
    await watcher.request({ action: 'join', room });
    const first = await connect(stack, 'p-removed', [room]);
    await first.request({ action: 'join', room });
    await announced(watcher, room, 'join', 'p-removed');

    const res = await api(stack, 'DELETE', `/v1/rooms/${room}/members/p-removed`);
    expect(res.body).toEqual({ left: 1 });
    await announced(watcher, room, 'leave', 'p-removed');
    assertOnce(watcher, room, 'p-removed', [first]);
    await Promise.all([watcher.close(), first.close()]);
  });

  it("announces a leave on a backend's close (DELETE /v1/connections/{id})", async () => {
    const room = 'presence-closed-by-server';
    const { watcher, first } = await watched(room, 'p-server');
    const [id] = await connectionIdsOf(stack, 'p-server');
    expect((await api(stack, 'DELETE', `/v1/connections/${encodeURIComponent(String(id))}`)).status).toBe(
      204,
    );
    await announced(watcher, room, 'leave', 'p-server');
    await first.closed;
    assertOnce(watcher, room, 'p-server', [first]);
    await watcher.close();
  });

  it('announces a leave when a delivery prunes a connection whose socket died without $disconnect', async () => {
    const room = 'presence-prune';
    const watcher = await connect(stack, 'watcher-prune');
    await watcher.request({ action: 'join', room });
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const ghost = { connectionId: 'Z2hvc3QtY29ubmVjdGlvbg=', userId: 'p-ghost' };
    await store.putConnection({ ...ghost, connectedAt: Date.now(), expiresAt });
    await store.addMember({ ...ghost, room, joinedAt: Date.now(), expiresAt });
    expect((await presenceOf(room)).users).toContainEqual({ userId: 'p-ghost', connections: 1 });

    const pushed = await api(stack, 'POST', '/v1/push', { body: { room, event: 'e', data: 1 } });
    expect(pushed.body).toMatchObject({ delivered: 1, pruned: 1 });

    await announced(watcher, room, 'leave', 'p-ghost');
    expect(presenceFrames(watcher, room).filter((f) => f.userId === 'p-ghost')).toHaveLength(1);
    expect((await presenceOf(room)).users).toEqual([{ userId: 'watcher-prune', connections: 1 }]);
    await watcher.close();
  });

  it('announces a leave when a delivery prunes a membership its connection left behind (item already gone)', async () => {
    // What a $disconnect that stopped after deleting the connection item leaves, or one that read the
    // membership index before it showed a join (on AWS the index is eventually consistent).
    const room = 'presence-left-behind';
    const watcher = await connect(stack, 'watcher-left-behind');
    await watcher.request({ action: 'join', room });
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const ghost = { connectionId: 'bGVmdC1iZWhpbmQtY29ubg=', userId: 'p-left-behind' };
    await store.addMember({ ...ghost, room, joinedAt: Date.now(), expiresAt });
    expect(await store.getConnection(ghost.connectionId)).toBeUndefined();
    expect((await presenceOf(room)).users).toContainEqual({ userId: 'p-left-behind', connections: 1 });

    const pushed = await api(stack, 'POST', '/v1/push', { body: { room, event: 'e', data: 1 } });
    expect(pushed.body).toMatchObject({ delivered: 1, pruned: 1 });

    await announced(watcher, room, 'leave', 'p-left-behind');
    expect(presenceFrames(watcher, room).filter((f) => f.userId === 'p-left-behind')).toHaveLength(1);
    expect(await presenceOf(room)).toEqual({
      room,
      count: 1,
      users: [{ userId: 'watcher-left-behind', connections: 1 }],
    });
    await watcher.close();
  });

  it('announces a leave when TTL expiry deletes a membership nothing removed', async () => {
    const room = 'presence-expiry';
    const watcher = await connect(stack, 'watcher-expiry');
    await watcher.request({ action: 'join', room });
    const past = Math.floor(Date.now() / 1000) - 10;
    const old = { connectionId: 'b2xkLWNvbm5lY3Rpb24=', userId: 'p-expired' };
    await store.putConnection({ ...old, connectedAt: 0, expiresAt: past });
    await store.addMember({ ...old, room, joinedAt: 0, expiresAt: past });

    expect(await stack.sweep()).toBeGreaterThanOrEqual(2);

    await announced(watcher, room, 'leave', 'p-expired');
    expect(presenceFrames(watcher, room).filter((f) => f.userId === 'p-expired')).toHaveLength(1);
    expect(await presenceOf(room)).toEqual({
      room,
      count: 1,
      users: [{ userId: 'watcher-expiry', connections: 1 }],
    });
    await watcher.close();
  });

  it('sends no presence frames in rooms that are not presence rooms', async () => {
    const watcher = await connect(stack, 'watcher-plain');
    await watcher.request({ action: 'join', room: 'plain-room' });
    const other = await connect(stack, 'p-plain');
    await other.request({ action: 'join', room: 'plain-room' });
    await other.request({ action: 'leave', room: 'plain-room' });
    // The watcher's own ping answers after anything the leave sent it.
    await watcher.request({ action: 'ping' });
    expect(watcher.frames.filter((f) => f.type === 'presence')).toEqual([]);
    await Promise.all([watcher.close(), other.close()]);
  });
});

describe('the presence frame and GET /v1/rooms/{room}/presence', () => {
  it('answers users with their connection counts and the total', async () => {
    const a = await connect(stack, 'q-ann');
    const b = await connect(stack, 'q-ann');
    const c = await connect(stack, 'q-bob');
    for (const client of [a, b, c]) await client.request({ action: 'join', room: 'q-room' });

    a.ws.send(JSON.stringify({ action: 'presence', id: 'p1', room: 'q-room' }));
    const answer = await a.next((f) => f.id === 'p1');
    expect(answer).toMatchObject({ type: 'presence', id: 'p1', room: 'q-room', count: 2 });
    expect(answer.users).toEqual(
      expect.arrayContaining([
        { userId: 'q-ann', connections: 2 },
        { userId: 'q-bob', connections: 1 },
      ]),
    );
    expect(await presenceOf('q-room')).toEqual({ room: 'q-room', count: 2, users: answer.users });
    expect(await presenceOf('q-empty')).toEqual({ room: 'q-empty', count: 0, users: [] });
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('refuses a private room the token does not allow with FORBIDDEN, and a bad room name', async () => {
    const client = await connect(stack, 'q-outsider');
    expect(await client.request({ action: 'presence', room: 'private-presence-ops' })).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
    });
    expect(await client.request({ action: 'presence', room: 'bad room' })).toMatchObject({
      type: 'error',
      code: 'VALIDATION_ERROR',
    });
    expect((await api(stack, 'GET', '/v1/rooms/bad%20room/presence')).status).toBe(400);
    await client.close();
  });

  it('counts exactly after churn by 100 connections of 20 users', async () => {
    const room = 'presence-churn';
    const users = Array.from({ length: 20 }, (_, i) => `churn-user-${i}`);
    const clients = await Promise.all(
      Array.from({ length: 100 }, (_, i) => connect(stack, users[i % 20] as string)),
    );
    await Promise.all(clients.map((c) => c.request({ action: 'join', room })));
    const full = await presenceOf(room);
    expect(full.count).toBe(20);
    expect(full.users).toHaveLength(20);
    for (const u of full.users) expect(u.connections).toBe(5);

    // Users 0-9 close every connection; users 10-19 leave with two of their five, one by `leave`, one by closing.
    const closing = clients.filter((_, i) => i % 20 < 10);
    const leaving = clients.filter((_, i) => i % 20 >= 10 && i < 20);
    const closingToo = clients.filter((_, i) => i % 20 >= 10 && i >= 20 && i < 40);
    await Promise.all(leaving.map((c) => c.request({ action: 'leave', room })));
    await Promise.all([...closing, ...closingToo].map((c) => c.close()));

    await eventually(async () => {
      const after = await presenceOf(room);
      expect(after.count).toBe(10);
      expect([...after.users].sort((x, y) => x.userId.localeCompare(y.userId))).toEqual(
        users.slice(10).map((userId) => ({ userId, connections: 3 })),
      );
    });
    await Promise.all(clients.map((c) => c.close()));
    await eventually(async () => expect(await presenceOf(room)).toEqual({ room, count: 0, users: [] }));
  });
});
