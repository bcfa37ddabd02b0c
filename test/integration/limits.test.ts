import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { connect, connectRaw, startTestStack, token } from './harness.js';

describe('per-connection rate limit', () => {
  let stack: LocalStack;
  // One frame per 10 s sustained, bursts of 5: a burst of 12 gets exactly 5 through, however slow the machine.
  beforeAll(async () => {
    stack = await startTestStack({ rateLimit: { perSecond: 0.1, burst: 5 } });
  });
  afterAll(() => stack?.close());

  it('refuses a burst past the limit with RATE_LIMITED and retryAfterMs; the others get exactly the allowed messages', async () => {
    const sender = await connect(stack, 'flooder');
    const receiver = await connect(stack, 'listener');
    await sender.request({ action: 'join', room: 'flood' });
    await receiver.request({ action: 'join', room: 'flood' });

    const ids = Array.from({ length: 12 }, (_, i) => `f${i}`);
    for (const id of ids) {
      sender.ws.send(JSON.stringify({ action: 'send', id, room: 'flood', event: 'chat', data: { id } }));
    }
    const answers = await Promise.all(ids.map((id) => sender.next((f) => f.id === id)));
    const acks = answers.filter((a) => a.type === 'ack');
    const refused = answers.filter((a) => a.type === 'error');
    expect(acks).toHaveLength(5);
    expect(refused).toHaveLength(7);
    for (const error of refused) {
      expect(error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: expect.any(Number) });
      expect(error.retryAfterMs as number).toBeGreaterThan(0);
      // One interval, give or take the clock moving between concurrent frames.
      expect(error.retryAfterMs as number).toBeLessThan(20_000);
    }

    // A frame to the receiver's socket posted after every fan-out: its pong comes after them.
    await receiver.request({ action: 'ping' });
    const delivered = receiver.messages().map((m) => m.messageId);
    expect(delivered.sort()).toEqual(acks.map((a) => a.messageId).sort());

    // direct draws on the same bucket; join and ping are not limited.
    expect(
      await sender.request({ action: 'direct', userId: 'listener', event: 'dm', data: 1 }),
    ).toMatchObject({
      code: 'RATE_LIMITED',
    });
    expect(await sender.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await sender.request({ action: 'join', room: 'other' })).toMatchObject({ type: 'ack' });
    await receiver.request({ action: 'ping' });
    expect(receiver.messages()).toHaveLength(5);

    // Another connection of the same user has its own bucket.
    const second = await connect(stack, 'flooder');
    await second.request({ action: 'join', room: 'flood' });
    expect(await second.request({ action: 'send', room: 'flood', event: 'chat', data: 2 })).toMatchObject({
      type: 'ack',
    });
    await Promise.all([sender.close(), receiver.close(), second.close()]);
  });
});

describe('origins', () => {
  let stack: LocalStack;
  let strict: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack({ allowedOrigins: ['https://app.example.com'] });
    strict = await startTestStack({ allowedOrigins: ['https://app.example.com'], allowNoOrigin: false });
  });
  afterAll(async () => {
    await stack?.close();
    await strict?.close();
  });

  it('lets clients that send no Origin connect by default, and refuses other origins', async () => {
    const jwt = await token('no-origin');
    const server = await connectRaw(`${stack.urls.websocket}?token=${jwt}`);
    expect(await server.request({ action: 'ping' })).toMatchObject({ type: 'pong', userId: 'no-origin' });
    await server.close();
    await expect(
      connectRaw(`${stack.urls.websocket}?token=${jwt}`, { origin: 'https://evil.example.com' }),
    ).rejects.toMatchObject({ status: 403 });
  });

  it('refuses clients without Origin with 403 when ALLOW_NO_ORIGIN is false', async () => {
    const jwt = await token('no-origin');
    await expect(connectRaw(`${strict.urls.websocket}?token=${jwt}`)).rejects.toMatchObject({ status: 403 });
    const browser = await connectRaw(`${strict.urls.websocket}?token=${jwt}`, {
      origin: 'https://app.example.com',
    });
    await browser.close();
  });
});
