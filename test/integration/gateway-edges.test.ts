/**
 * Hostile input at the edges of the local stack (found by a review): request targets the URL parser
 * reads as hosts, a long unknown path, user ids with unpaired surrogates, binary frames. Bad input
 * gets the contract's error: never a 500, a stack trace, or an error body over 1 KiB.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, connectRaw, rawRequest, startTestStack, token } from './harness.js';
import { logsDuring } from './logs.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({ logLevel: 'INFO' });
});
afterAll(() => stack?.close());

const KIB = 1024;

/** 'open' (then closed again), or the HTTP status that refused the handshake. */
async function handshake(url: string): Promise<string> {
  try {
    const client = await connectRaw(url);
    await client.close();
    return 'open';
  } catch (error) {
    return String((error as { status?: number }).status ?? (error as Error).message);
  }
}

describe('request targets the URL parser refuses', () => {
  it('answers an HTTP request for "//a:b/v1/stats" or "//" with a 4xx in the contract shape, never a 500 with an ERROR log', async () => {
    const answers: { target: string; status: number; text: string }[] = [];
    const logs = await logsDuring(async () => {
      for (const target of ['//a:b/v1/stats', '//', '//[']) {
        answers.push({ target, ...(await rawRequest(stack, 'GET', target)) });
      }
    });
    for (const { target, status, text } of answers) {
      expect(status, `${target}: ${text}`).toBeGreaterThanOrEqual(400);
      expect(status, `${target}: ${text}`).toBeLessThan(500);
      expect(JSON.parse(text).error?.code, target).toBe('NOT_FOUND');
    }
    expect(logs.filter((l) => l.level === 'ERROR')).toEqual([]);
  });

  it('answers a WebSocket handshake to "ws://host:port//?token=..." (a base URL with a trailing slash) without a 500', async () => {
    const good = await token('double-slash');
    let outcome = '';
    const logs = await logsDuring(async () => {
      outcome = await handshake(`ws://127.0.0.1:${stack.port}//?token=${good}`);
    });
    // Either the stage's path (open) or an unknown path (404), as for "/x": not a fault of ours.
    expect(['open', '404']).toContain(outcome);
    expect(logs.filter((l) => l.level === 'ERROR')).toEqual([]);
  });
});

describe('error bodies outside /v1', () => {
  it("keeps the local gateway's 404 body under 1 KiB for a long path (as the push API does)", async () => {
    const res = await api(stack, 'GET', `/${'p'.repeat(8000)}`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect(JSON.stringify(res.body).length).toBeLessThan(KIB);
  });
});

describe('user ids that are not Unicode text', () => {
  it('refuses a userId with a lone surrogate as it refuses one with a control character', async () => {
    const client = await connect(stack, 'surrogate-sender');
    try {
      const answer = await client.request({ action: 'direct', userId: '\ud800', event: 'e', data: 1 });
      // Such a user could not be named in a push API path (decodeURIComponent refuses it).
      expect(answer).toMatchObject({ type: 'error', code: 'VALIDATION_ERROR' });
    } finally {
      await client.close();
    }
  });

  it('refuses a token whose sub has a lone surrogate with 401, as one with a space', async () => {
    expect(await handshake(`${stack.urls.websocket}?token=${await token('\udfffbob')}`)).toBe('401');
    expect(await handshake(`${stack.urls.websocket}?token=${await token('a b')}`)).toBe('401');
  });
});

describe('binary frames', () => {
  it('closes the connection with 1003, as API Gateway does (WebSocket APIs take text frames only)', async () => {
    const client = await connect(stack, 'binary-sender');
    client.ws.send(Buffer.from('{"action":"ping","id":"b1"}'), { binary: true });
    expect(await client.closed).toEqual({ code: 1003, reason: 'Binary frames are not supported' });
  });
});
