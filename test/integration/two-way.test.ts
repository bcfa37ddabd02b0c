import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { connect, startTestStack, type TestClient } from './harness.js';

/** `history` answers with its own frame type, not an ack. */
async function history(client: TestClient, room: string) {
  client.ws.send(JSON.stringify({ action: 'history', id: 'h1', room }));
  return client.next((f) => f.type === 'history' && f.id === 'h1');
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
});
