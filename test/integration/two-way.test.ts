import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, startTestStack, type TestClient } from './harness.js';

/** `history` answers with its own frame type, not an ack. */
async function history(client: TestClient, room: string, query: Record<string, unknown> = {}) {
  const id = `h${client.frames.length}`;
  client.ws.send(JSON.stringify({ action: 'history', id, room, ...query }));
  return client.next((f) => f.type === 'history' && f.id === id);
}

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack?.close());

describe('two-way routes', () => {
  it('answers frames with the route response: no PostToConnection for acks, pongs, errors, history or resume', async () => {
    const solo = await connect(stack, 'solo');
    const before = stack.gateway.postsReceived;

    const answers = [
      await solo.request({ action: 'ping' }),
      await solo.request({ action: 'join', room: 'quiet-room' }),
      await solo.request({ action: 'send', room: 'quiet-room', event: 'e', data: 1 }),
      await history(solo, 'quiet-room'),
      await solo.request({ action: 'resume', rooms: { 'quiet-room': 1 } }),
      await solo.request({ action: 'leave', room: 'quiet-room' }),
      await solo.request({ action: 'join', room: 'bad room' }),
      await solo.request({ action: 'nope' }),
    ];

    expect(answers.map((a) => a.type)).toEqual([
      'pong',
      'ack',
      'ack',
      'history',
      'ack',
      'ack',
      'error',
      'error',
    ]);
    expect(stack.gateway.postsReceived - before).toBe(0);
    await solo.close();
  });

  it('still posts each delivery to the other members', async () => {
    const a = await connect(stack, 'pair-a');
    const b = await connect(stack, 'pair-b');
    await a.request({ action: 'join', room: 'pair' });
    await b.request({ action: 'join', room: 'pair' });
    const before = stack.gateway.postsReceived;

    const ack = await a.request({ action: 'send', room: 'pair', event: 'e', data: 1 });
    await b.next((f) => f.type === 'message' && f.messageId === ack.messageId);

    expect(stack.gateway.postsReceived - before).toBe(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('keeps a history answer within one 128 KiB frame, cutting a page of large messages and saying more', async () => {
    const reader = await connect(stack, 'big-reader');
    const big = 'x'.repeat(32 * 1024 - 2); // data at the 32 KiB limit, serialized with its quotes
    for (let i = 0; i < 5; i += 1) {
      const pushed = await api(stack, 'POST', '/v1/push', { body: { room: 'bulky', event: 'e', data: big } });
      expect(pushed.status).toBe(200);
    }

    const latest = await history(reader, 'bulky', { limit: 5 });
    const oldest = await history(reader, 'bulky', { since: 0, limit: 5 });

    for (const page of [latest, oldest]) {
      expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThanOrEqual(128 * 1024);
      expect(page.more).toBe(true);
    }
    const seqs = (page: Record<string, unknown>) => (page.messages as { seq: number }[]).map((m) => m.seq);
    expect(seqs(latest)).toEqual([3, 4, 5]);
    expect(seqs(oldest)).toEqual([1, 2, 3]);
    await reader.close();
  });
});
