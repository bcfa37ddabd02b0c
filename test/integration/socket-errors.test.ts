import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { connect, startTestStack } from './harness.js';
import { logsDuring } from './logs.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({ logLevel: 'INFO' });
});
afterAll(() => stack?.close());

describe('client-caused socket errors', () => {
  it.each([
    ['a text frame that is not UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 1007],
    ['a frame over 512 KiB', Buffer.alloc(600 * 1024, 0x61), 1009],
  ])('logs %s at INFO without a stack, and closes the socket', async (_, payload, code) => {
    const logs = await logsDuring(async () => {
      const client = await connect(stack, 'rude');
      client.ws.send(payload, { binary: false });
      // ws logs the error in the same tick as it sends the close frame, so it is written by now.
      expect((await client.closed).code).toBe(code);
    });
    const about = logs.filter((l) => String(l.message).startsWith('websocket'));
    expect(about).toHaveLength(1);
    expect(about[0]).toMatchObject({ level: 'INFO', reason: expect.any(String) });
    expect(logs.filter((l) => l.level === 'ERROR')).toEqual([]);
    expect(JSON.stringify(logs)).not.toMatch(/"stack"/);
  });
});
