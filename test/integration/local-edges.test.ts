import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { connect, eventually, rawRequest, startTestStack } from './harness.js';

// The local stack's edges that act for the developer (found by a review): demo tokens only for this
// machine's own host names (DNS rebinding), and the webhook URL's credentials never shown.

let stack: LocalStack;
let receiver: Server;
let hookUrl: string;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  const { port } = receiver.address() as AddressInfo;
  // A webhook URL that carries its own credentials, as many receivers' URLs do (basic auth, a token in the query).
  hookUrl = `http://hookuser:HOOK-PASSWORD@127.0.0.1:${port}/hook?token=HOOK-TOKEN`;
  stack = await startTestStack({ dashboardIntervalMs: 200, webhook: { url: hookUrl } });
});

afterAll(async () => {
  await stack?.close();
  await new Promise<void>((resolve) => receiver?.close(() => resolve()));
});

/** One GET with the Host header given. */
const get = (path: string, host: string) => rawRequest(stack, 'GET', path, { host });

it('does not mint a demo token for a request addressed to another site (DNS rebinding), as the dashboard refuses it', async () => {
  // Sanity: the page's own origin gets its token.
  expect((await get('/demo/token?user=alice', `127.0.0.1:${stack.port}`)).status).toBe(200);
  // A page of evil.example re-pointed at 127.0.0.1 is same-origin with itself: it could read this
  // token, then open a WebSocket as "alice" (any origin may connect by default) and read her directs.
  const rebound = await get('/demo/token?user=alice', `evil.example:${stack.port}`);
  expect(rebound.text).not.toContain('token"');
  expect(rebound.status).toBe(403);
});

it("does not show the webhook URL's credentials on the dashboard (publisher and each event's target)", async () => {
  const alice = await connect(stack, 'alice');
  try {
    const events = stack.observability?.events;
    await eventually(async () => {
      expect(events?.recent().length).toBeGreaterThan(0);
    });
    // This is what the dashboard's feed carries to the page (`events: { publisher, recent }`).
    const shown = JSON.stringify({ publisher: events?.publisher, recent: events?.recent() });
    expect(shown).toContain('127.0.0.1');
    expect(shown).not.toContain('HOOK-PASSWORD');
    expect(shown).not.toContain('HOOK-TOKEN');
  } finally {
    await alice.close();
  }
});
