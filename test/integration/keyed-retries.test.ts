import { afterEach, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, startProxiedStack, type TestClient } from './harness.js';

/**
 * A keyed publish that fails after its message was stored (section 6: a stored message takes one
 * seq; a repeat with the same key is not stored again). Its 503 "retry shortly" invites the retry,
 * which delivers the stored message (same seq and messageId) instead of storing a second one. And a
 * user message reaches a device that connects and resumes while the message is being stored.
 */
let close: (() => Promise<void>) | undefined;
const clients: TestClient[] = [];
const held: (() => void)[] = [];
afterEach(async () => {
  for (const release of held.splice(0)) release();
  for (const c of clients.splice(0)) await c.close();
  await close?.();
  close = undefined;
});

/** A stack whose reads of one room's member pages hang while `hanging.on` (the store stops answering them). */
async function start(room: string, hanging: { on: boolean }): Promise<LocalStack> {
  const started = await startProxiedStack(
    'keyed-retries',
    {
      fault: (operation, body) => {
        const values = body.ExpressionAttributeValues as Record<string, { S?: string }> | undefined;
        if (hanging.on && operation === 'Query' && values?.[':pk']?.S === `ROOM#${room}`) {
          return new Promise<void>((resolve) => held.push(resolve));
        }
        return undefined;
      },
    },
    // Short per-call timeouts, so the hung read gives up (503) quickly.
    { dynamoTimeoutMs: 300 },
  );
  close = started.close;
  return started.stack;
}

describe('a keyed publish that fails after its message was stored', () => {
  it('push: the retry with the same Idempotency-Key does not store (and deliver) the message a second time', async () => {
    const room = 'idem-fault';
    const hanging = { on: false };
    const stack = await start(room, hanging);
    const member = await connect(stack, 'member');
    clients.push(member);
    expect(await member.request({ action: 'join', room })).toMatchObject({ type: 'ack' });

    const body = { room, event: 'order', data: { id: 42 } };
    const headers = { 'idempotency-key': 'order-42' };
    hanging.on = true;
    const first = await api(stack, 'POST', '/v1/push', { body, headers });
    hanging.on = false;
    // The member pages could not be read: the push failed, as a "retry shortly".
    expect(first.status).toBe(503);
    expect(first.body.error.message).toContain('retry shortly');

    const retry = await api(stack, 'POST', '/v1/push', { body, headers });
    expect(retry.status).toBe(200);

    // The one push is one stored message: a resuming client must not get it twice under two seqs.
    const history = await api(stack, 'GET', `/v1/rooms/${room}/history`);
    const stored = history.body.messages as { seq: number; messageId: string; data: unknown }[];
    expect(stored.map((m) => m.data)).toEqual([{ id: 42 }]);
    expect(retry.body).toMatchObject({ seq: stored[0]?.seq, messageId: stored[0]?.messageId, delivered: 1 });
    // The retry delivered that message, the one the failed attempt never got to.
    await member.request({ action: 'ping' });
    expect(member.messages().map((m) => [m.seq, m.messageId])).toEqual([
      [stored[0]?.seq, stored[0]?.messageId],
    ]);
    // And a third time the key answers what the retry answered.
    const again = await api(stack, 'POST', '/v1/push', { body, headers });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(retry.body);
  });

  it('send: the retry with the same idempotencyKey does not store the message a second time', async () => {
    const room = 'idem-fault-send';
    const hanging = { on: false };
    const stack = await start(room, hanging);
    const sender = await connect(stack, 'sender');
    clients.push(sender);
    expect(await sender.request({ action: 'join', room })).toMatchObject({ type: 'ack' });

    const frame = { action: 'send', room, event: 'chat', data: { text: 'hi' }, idempotencyKey: 'm-1' };
    hanging.on = true;
    const first = await sender.request(frame);
    hanging.on = false;
    expect(first).toMatchObject({ type: 'error', code: 'INTERNAL' });

    const retry = await sender.request(frame);
    expect(retry).toMatchObject({ type: 'ack', ok: true });

    const history = await api(stack, 'GET', `/v1/rooms/${room}/history`);
    const stored = history.body.messages as { seq: number; data: unknown }[];
    expect(stored.map((m) => m.data)).toEqual([{ text: 'hi' }]);
  });
});

describe('a user message stored while a device of the user connects and resumes', () => {
  it('reaches the device: live, or in its resume (nothing published meanwhile is lost)', async () => {
    const userId = 'late-device';
    // Holds the message's put into the user's stream until released: the moment between the push
    // reading the user's connections and storing the message (on AWS also the index's lag).
    let holdPut: { on: boolean; reached?: () => void; release?: () => void } = { on: true };
    const reached = new Promise<void>((resolve) => {
      holdPut.reached = resolve;
    });
    const started = await startProxiedStack('user-late-device', {
      fault: (operation, body) => {
        const item = body.Item as Record<string, { S?: string }> | undefined;
        if (holdPut.on && operation === 'PutItem' && item?.pk?.S === `STREAM#USER#${userId}`) {
          holdPut.on = false;
          return new Promise<void>((resolve) => {
            holdPut.release = resolve;
            held.push(resolve);
            holdPut.reached?.();
          });
        }
        return undefined;
      },
    });
    close = started.close;
    const stack = started.stack;

    // The user is offline: the push finds no connection and goes to store the message.
    const push = api(stack, 'POST', '/v1/push', { body: { userId, event: 'notify', data: { n: 1 } } });
    await reached;
    // Meanwhile a device connects and resumes its user stream.
    const device = await connect(stack, userId);
    clients.push(device);
    const resumed = await device.request({ action: 'resume', user: 0 });
    expect(resumed).toMatchObject({ type: 'ack', ok: true });
    holdPut.release?.();
    const answer = await push;
    expect(answer.status).toBe(200);
    expect(answer.body.seq).toBe(1);

    // The push has answered, so its fan-out is over; a ping round trip flushes the socket.
    await device.request({ action: 'ping' });
    expect(device.messages().map((m) => m.seq)).toEqual([1]);
    holdPut = { on: false };
  });
});
