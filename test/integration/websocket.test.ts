import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, connectionIdsOf, connectRaw, settledStats, startTestStack, token } from './harness.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({ allowedOrigins: [] });
});
afterAll(() => stack?.close());

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

describe('client authentication', () => {
  it('accepts a valid token and stores the connection', async () => {
    const client = await connect(stack, 'auth-ok');
    expect(await connectionIdsOf(stack, 'auth-ok')).toHaveLength(1);
    await client.close();
  });

  it.each([
    ['a missing token', async () => ''],
    ['a malformed token', async () => 'not-a-jwt'],
    ['a token signed with another secret', () => token('mallory', { secret: 'other-secret' })],
    ['an expired token', () => token('late', { expiresIn: '-1h' })],
    ['a token without sub', () => token(undefined)],
  ])('refuses the handshake with 401 for %s and stores nothing', async (_, makeToken) => {
    const before = await settledStats(stack);
    const value = await makeToken();
    const url = value ? `${stack.urls.websocket}?token=${value}` : stack.urls.websocket;
    await expect(connectRaw(url)).rejects.toMatchObject({ status: 401 });
    expect(await settledStats(stack)).toEqual(before);
  });

  it('refuses an origin outside the allowed list with 403', async () => {
    const strict = await startTestStack({ allowedOrigins: ['https://app.example.com'] });
    try {
      const jwt = await token('origin-user');
      await expect(
        connectRaw(`${strict.urls.websocket}?token=${jwt}`, { origin: 'https://evil.example.com' }),
      ).rejects.toMatchObject({ status: 403 });
      const ok = await connectRaw(`${strict.urls.websocket}?token=${jwt}`, {
        origin: 'https://app.example.com',
      });
      await ok.close();
    } finally {
      await strict.close();
    }
  });
});

describe('rooms and messages', () => {
  it('delivers a room message to every other member, once, and acks the sender with the same messageId', async () => {
    const alice = await connect(stack, 'alice');
    const bob = await connect(stack, 'bob');
    const carol = await connect(stack, 'carol');
    for (const c of [alice, bob, carol]) {
      expect(await c.request({ action: 'join', room: 'lobby' })).toMatchObject({ type: 'ack', ok: true });
    }

    const ack = await alice.request({ action: 'send', room: 'lobby', event: 'chat', data: { text: 'hi' } });

    expect(ack).toMatchObject({ type: 'ack', ok: true });
    expect(ack.messageId).toMatch(ULID);
    expect(typeof ack.ts).toBe('number');
    for (const receiver of [bob, carol]) {
      const message = await receiver.next((f) => f.type === 'message' && f.messageId === ack.messageId);
      expect(message).toEqual({
        type: 'message',
        room: 'lobby',
        seq: ack.seq,
        event: 'chat',
        data: { text: 'hi' },
        from: 'alice',
        messageId: ack.messageId,
        ts: ack.ts,
      });
    }
    // A ping round-trip orders after the fan-out: the sender got nothing, and nobody got it twice.
    await Promise.all([alice, bob, carol].map((c) => c.request({ action: 'ping' })));
    expect(alice.messages()).toHaveLength(0);
    expect(bob.messages().filter((m) => m.messageId === ack.messageId)).toHaveLength(1);
    await Promise.all([alice.close(), bob.close(), carol.close()]);
  });

  it('stops delivering to a connection that left the room', async () => {
    const a = await connect(stack, 'leaver-a');
    const b = await connect(stack, 'leaver-b');
    await a.request({ action: 'join', room: 'quiet' });
    await b.request({ action: 'join', room: 'quiet' });
    expect(await b.request({ action: 'leave', room: 'quiet' })).toMatchObject({ type: 'ack', ok: true });

    const ack = await a.request({ action: 'send', room: 'quiet', event: 'e', data: 1 });
    await b.request({ action: 'ping' });

    expect(ack.type).toBe('ack');
    expect(b.messages()).toHaveLength(0);
    await Promise.all([a.close(), b.close()]);
  });

  it('forbids sending to a room the connection has not joined', async () => {
    const c = await connect(stack, 'outsider');
    const answer = await c.request({ action: 'send', room: 'lobby-x', event: 'e', data: null });
    expect(answer).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(answer.message).toContain('join room lobby-x');
    await c.close();
  });

  it('lets a private room be joined only when the rooms claim allows it, exactly or by prefix', async () => {
    const ops = await connect(stack, 'op', ['private-ops', 'private-team-*']);
    const guest = await connect(stack, 'guest');

    expect(await ops.request({ action: 'join', room: 'private-ops' })).toMatchObject({ type: 'ack' });
    expect(await ops.request({ action: 'join', room: 'private-team-blue' })).toMatchObject({ type: 'ack' });
    expect(await ops.request({ action: 'join', room: 'private-opsx' })).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
    });
    const denied = await guest.request({ action: 'join', id: 'c7', room: 'private-ops' });
    expect(denied).toEqual({
      type: 'error',
      id: 'c7',
      code: 'FORBIDDEN',
      message: "room private-ops is not in your token's rooms claim",
    });
    const members = await api(stack, 'GET', '/v1/rooms/private-ops');
    expect(members.body.members.map((m: { userId: string }) => m.userId)).toEqual(['op']);
    await Promise.all([ops.close(), guest.close()]);
  });

  it('delivers a direct message to every connection of the user but not back to the sending connection', async () => {
    const sender = await connect(stack, 'dm-sender');
    const senderOtherTab = await connect(stack, 'dm-sender');
    const phone = await connect(stack, 'dm-target');
    const laptop = await connect(stack, 'dm-target');

    const ack = await sender.request({ action: 'direct', userId: 'dm-target', event: 'dm', data: 'psst' });

    expect(ack).toMatchObject({ type: 'ack', ok: true, messageId: expect.stringMatching(ULID) });
    for (const device of [phone, laptop]) {
      const message = await device.next((f) => f.messageId === ack.messageId);
      expect(message).toEqual({
        type: 'message',
        seq: ack.seq,
        event: 'dm',
        data: 'psst',
        from: 'dm-sender',
        messageId: ack.messageId,
        ts: ack.ts,
      });
    }
    const self = await sender.request({ action: 'direct', userId: 'dm-sender', event: 'note', data: 1 });
    await senderOtherTab.next((f) => f.messageId === self.messageId);
    await sender.request({ action: 'ping' });
    expect(sender.messages()).toHaveLength(0);
    await Promise.all([sender.close(), senderOtherTab.close(), phone.close(), laptop.close()]);
  });

  it('keeps a direct message to a user with no connections in the mailbox and acks it with its seq', async () => {
    const c = await connect(stack, 'lonely');
    expect(await c.request({ action: 'direct', userId: 'nobody-home', event: 'e', data: 1 })).toMatchObject({
      type: 'ack',
      seq: 1,
    });
    await c.close();
  });

  it('answers ping with pong carrying the id, a timestamp, and the connection and user ids', async () => {
    const c = await connect(stack, 'pinger');
    const before = Date.now();
    const pong = await c.request({ action: 'ping', id: 'p-1' });
    const [connectionId] = await connectionIdsOf(stack, 'pinger');
    expect(pong).toEqual({ type: 'pong', id: 'p-1', ts: expect.any(Number), connectionId, userId: 'pinger' });
    expect(pong.ts as number).toBeGreaterThanOrEqual(before - 1000);
    await c.close();
  });
});

describe('bad frames', () => {
  it.each([
    ['text that is not JSON', 'hello', 'VALIDATION_ERROR', 'frame is not valid JSON'],
    ['a JSON array', '[1,2]', 'VALIDATION_ERROR', 'frame must be a JSON object'],
    ['a frame without action', '{"room":"x"}', 'VALIDATION_ERROR', 'no "action"'],
    ['an unknown action', '{"action":"explode","id":"u1"}', 'UNKNOWN_ACTION', 'unknown action "explode"'],
    ['a bad room name', '{"action":"join","room":"no spaces!"}', 'VALIDATION_ERROR', 'room must be'],
    ['a missing room', '{"action":"join"}', 'VALIDATION_ERROR', 'room'],
    [
      'a bad event name',
      '{"action":"send","room":"lobby","event":"","data":1}',
      'VALIDATION_ERROR',
      'event must be',
    ],
    ['an unknown field', '{"action":"ping","colour":"red"}', 'VALIDATION_ERROR', 'colour'],
    [
      'an id longer than 64 characters',
      `{"action":"ping","id":"${'x'.repeat(65)}"}`,
      'VALIDATION_ERROR',
      'id must be',
    ],
  ])('answers %s with an error frame and keeps the connection open', async (_, text, code, words) => {
    const c = await connect(stack, 'sloppy');
    await c.request({ action: 'join', room: 'bad-frames' });
    const before = await api(stack, 'GET', '/v1/rooms/bad-frames');

    const error = await c.sendRaw(text);

    expect(error.code).toBe(code);
    expect(error.message).toContain(words);
    expect(JSON.stringify(error)).not.toMatch(/at .*\.ts:\d+/);
    expect(await c.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect((await api(stack, 'GET', '/v1/rooms/bad-frames')).body).toEqual(before.body);
    await c.close();
  });

  it('echoes the client id on an error, and leaves it off when the frame had none', async () => {
    const c = await connect(stack, 'echo');
    const error = await c.sendRaw('{"action":"join","id":"echo-7","room":""}');
    expect(error).toEqual({
      type: 'error',
      id: 'echo-7',
      code: 'VALIDATION_ERROR',
      message: expect.stringContaining('room must be'),
    });
    const anonymous = await c.sendRaw('{"action":"join","room":""}');
    expect(anonymous).not.toHaveProperty('id');
    await c.close();
  });

  it('refuses data larger than 32 KiB with PAYLOAD_TOO_LARGE and delivers nothing', async () => {
    const a = await connect(stack, 'big-a');
    const b = await connect(stack, 'big-b');
    await a.request({ action: 'join', room: 'big' });
    await b.request({ action: 'join', room: 'big' });

    const error = await a.request({ action: 'send', room: 'big', event: 'e', data: 'x'.repeat(33 * 1024) });
    const fits = await a.request({ action: 'send', room: 'big', event: 'e', data: 'x'.repeat(30 * 1024) });

    expect(error).toMatchObject({ type: 'error', code: 'PAYLOAD_TOO_LARGE' });
    expect(error.message).toMatch(/limit is 32768 bytes/);
    await b.next((f) => f.messageId === fits.messageId);
    expect(b.messages()).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('refuses a frame larger than 128 KiB with PAYLOAD_TOO_LARGE and keeps the connection open', async () => {
    const c = await connect(stack, 'huge');
    const error = await c.sendRaw(JSON.stringify({ action: 'ping', pad: 'x'.repeat(130 * 1024) }));
    expect(error).toMatchObject({ type: 'error', code: 'PAYLOAD_TOO_LARGE' });
    expect(await c.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    await c.close();
  });
});
