import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, connectionIdsOf, startTestStack, type TestClient } from './harness.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack?.close());

async function joined(userId: string, room: string): Promise<TestClient> {
  const client = await connect(stack, userId);
  await client.request({ action: 'join', room });
  return client;
}

describe('room listing pages', () => {
  it('gives no nextToken when a room holds exactly limit members, so no page is empty', async () => {
    const clients = await Promise.all(Array.from({ length: 4 }, (_, i) => joined(`exact-${i}`, 'exact')));
    const whole = await api(stack, 'GET', '/v1/rooms/exact?limit=4');
    expect(whole.body.members).toHaveLength(4);
    expect(whole.body).not.toHaveProperty('nextToken');

    const first = await api(stack, 'GET', '/v1/rooms/exact?limit=2');
    expect(first.body.members).toHaveLength(2);
    expect(first.body.nextToken).toEqual(expect.any(String));
    const last = await api(stack, 'GET', `/v1/rooms/exact?limit=2&nextToken=${first.body.nextToken}`);
    expect(last.body.members).toHaveLength(2);
    expect(last.body).not.toHaveProperty('nextToken');
    const ids = [...first.body.members, ...last.body.members].map((m: { userId: string }) => m.userId);
    expect(new Set(ids)).toEqual(new Set(clients.map((_, i) => `exact-${i}`)));

    // A member that leaves after the token was given leaves the next page short, never wrong.
    await clients[3]?.request({ action: 'leave', room: 'exact' });
    await clients[2]?.request({ action: 'leave', room: 'exact' });
    const none = await api(stack, 'GET', '/v1/rooms/exact?limit=2');
    expect(none.body.members).toHaveLength(2);
    expect(none.body).not.toHaveProperty('nextToken');
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('server-side join and removal', () => {
  it('tells each connection of the user that a backend joined it to a room and removed it', async () => {
    const phone = await connect(stack, 'managed-user');
    const laptop = await connect(stack, 'managed-user');
    const other = await connect(stack, 'bystander');

    const join = await api(stack, 'POST', '/v1/rooms/support/members', { body: { userId: 'managed-user' } });
    expect(join.body).toEqual({ joined: 2 });
    const joinedFrame = { type: 'room', event: 'joined', room: 'support', by: 'server' };
    expect(await phone.next((f) => f.type === 'room')).toEqual(joinedFrame);
    expect(await laptop.next((f) => f.type === 'room')).toEqual(joinedFrame);

    const leave = await api(stack, 'DELETE', '/v1/rooms/support/members/managed-user');
    expect(leave.body).toEqual({ left: 2 });
    const leftFrame = { type: 'room', event: 'left', room: 'support', by: 'server' };
    expect(await phone.next((f) => f.type === 'room' && f.event === 'left')).toEqual(leftFrame);
    expect(await laptop.next((f) => f.type === 'room' && f.event === 'left')).toEqual(leftFrame);

    // Nothing for a bystander; a removal from a room the user is not in tells no one.
    expect((await api(stack, 'DELETE', '/v1/rooms/support/members/managed-user')).body).toEqual({ left: 0 });
    expect(await other.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await phone.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect(other.frames.filter((f) => f.type === 'room')).toEqual([]);
    expect(phone.frames.filter((f) => f.type === 'room')).toHaveLength(2);
    await Promise.all([phone.close(), laptop.close(), other.close()]);
  });
});

describe('pong', () => {
  it('tells a client its own connection id, which a backend can use as exceptConnectionId', async () => {
    const a = await joined('self-a', 'self-room');
    const b = await joined('self-b', 'self-room');
    const pong = await a.request({ action: 'ping' });
    expect(pong).toMatchObject({
      connectionId: (await connectionIdsOf(stack, 'self-a'))[0],
      userId: 'self-a',
    });
    const push = await api(stack, 'POST', '/v1/push', {
      body: { room: 'self-room', event: 'e', data: 1, exceptConnectionId: pong.connectionId },
    });
    expect(push.body.delivered).toBe(1);
    await b.next((f) => f.type === 'message');
    await Promise.all([a.close(), b.close()]);
  });
});
