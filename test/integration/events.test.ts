import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store.js';
import { systemClock } from '../../lambdas/runtime.js';
import { type SenderTimers, signBody } from '../../local/webhook-sender.js';
import { api, connect, connectionIdsOf, eventually, startTestStack } from './harness.js';

const SECRET = 'integration-webhook-secret';

/** The README's "verify the signature" snippet, run as it is written there. */
function readmeVerify(): (rawBody: Buffer, header: string | undefined, secret: string) => boolean {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const code = /<!-- webhook-verify -->\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!code) throw new Error('README.md has no webhook-verify snippet');
  return new Function('require', `${code}\nreturn verify;`)(createRequire(import.meta.url));
}
const verify = readmeVerify();

interface Envelope {
  version: string;
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: unknown[];
  detail: Record<string, unknown>;
}

/** A real HTTP receiver: checks every signature, answers as told, keeps what it accepted. */
async function receiver(answer: (n: number) => number | 'hang') {
  const attempts: { envelope: Envelope; status: number | 'hang'; signed: boolean }[] = [];
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const signed = verify(raw, req.headers['x-roomcast-signature'] as string | undefined, SECRET);
      const status = signed ? answer(attempts.length) : 401;
      attempts.push({ envelope: JSON.parse(raw.toString()) as Envelope, status, signed });
      if (status === 'hang') hanging.push(res);
      else res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const accepted = () => attempts.filter((a) => a.status === 200).map((a) => a.envelope);
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return { url, attempts, accepted, hanging, close };
}

/** Virtual time for the backoff: a retry runs on the next turn, and the clock moves by its delay. */
function virtualTimers(): SenderTimers & { elapsed: () => number } {
  const start = Date.now();
  let offset = 0;
  return {
    now: () => start + offset,
    elapsed: () => offset,
    schedule: (fn, ms) => {
      offset += ms;
      const handle = setImmediate(fn);
      return () => clearImmediate(handle);
    },
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('events to backends through the local webhook', () => {
  it('POSTs signed EventBridge envelopes, retries 500s with the same id, and sees every event', async () => {
    const hook = await receiver((n) => (n < 2 ? 500 : 200));
    cleanups.push(hook.close);
    const stack = await startTestStack({
      webhook: { url: hook.url, secret: SECRET, timers: virtualTimers() },
    });
    cleanups.push(stack.close);

    const alice = await connect(stack, 'alice');
    await alice.request({ action: 'join', room: 'lobby' });
    const emitted = await alice.request({
      action: 'emit',
      event: 'order.created',
      data: { id: 7 },
      idempotencyKey: 'k1',
    });
    expect(emitted).toMatchObject({ type: 'ack', ok: true, messageId: expect.any(String) });
    await alice.request({ action: 'leave', room: 'lobby' });
    const [aliceId] = await connectionIdsOf(stack, 'alice');
    await alice.close();
    const bob = await connect(stack, 'bob');
    const [bobId] = await connectionIdsOf(stack, 'bob');
    expect((await api(stack, 'DELETE', `/v1/connections/${bobId}`)).status).toBe(204);
    await bob.closed;

    const expected = [
      [
        'connection.opened',
        { connectionId: aliceId, userId: 'alice', connectedAt: expect.any(Number), ts: expect.any(Number) },
      ],
      ['user.online', { userId: 'alice', ts: expect.any(Number), version: expect.any(Number) }],
      ['room.joined', { room: 'lobby', userId: 'alice', connectionId: aliceId, ts: expect.any(Number) }],
      [
        'client.event',
        {
          userId: 'alice',
          connectionId: aliceId,
          event: 'order.created',
          data: { id: 7 },
          messageId: emitted.messageId,
          ts: expect.any(Number),
        },
      ],
      ['room.left', { room: 'lobby', userId: 'alice', connectionId: aliceId, ts: expect.any(Number) }],
      [
        'connection.closed',
        { connectionId: aliceId, userId: 'alice', reason: 'client', ts: expect.any(Number) },
      ],
      ['user.offline', { userId: 'alice', ts: expect.any(Number), version: expect.any(Number) }],
      [
        'connection.opened',
        { connectionId: bobId, userId: 'bob', connectedAt: expect.any(Number), ts: expect.any(Number) },
      ],
      ['user.online', { userId: 'bob', ts: expect.any(Number), version: expect.any(Number) }],
      ['connection.closed', { connectionId: bobId, userId: 'bob', reason: 'server', ts: expect.any(Number) }],
      ['user.offline', { userId: 'bob', ts: expect.any(Number), version: expect.any(Number) }],
    ];
    await eventually(async () => expect(hook.accepted()).toHaveLength(expected.length));
    await stack.webhook?.idle();

    expect(hook.attempts.every((a) => a.signed)).toBe(true);
    const raw = Buffer.from(JSON.stringify(hook.attempts[0]?.envelope));
    expect(verify(raw, signBody(raw.toString(), SECRET), SECRET)).toBe(true);
    expect(verify(raw, signBody(raw.toString(), 'another secret'), SECRET)).toBe(false);
    expect(verify(raw, undefined, SECRET)).toBe(false);
    const accepted = hook.accepted();
    const byType = (type: string) => accepted.filter((e) => e['detail-type'] === type).map((e) => e.detail);
    for (const [type, detail] of expected) expect(byType(type as string)).toContainEqual(detail);
    // The two answered 500 came again, with the same id and the same body.
    const refused = hook.attempts.filter((a) => a.status === 500).map((a) => a.envelope);
    expect(refused).toHaveLength(2);
    for (const first of refused) expect(accepted).toContainEqual(first);
    expect(new Set(accepted.map((e) => e.id)).size).toBe(accepted.length);
    expect(accepted[0]).toMatchObject({
      version: '0',
      source: 'roomcast.local',
      account: '000000000000',
      region: 'us-east-1',
      resources: [],
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
  });

  it('announces a connection that TTL expired as closed with reason expired', async () => {
    const hook = await receiver(() => 200);
    cleanups.push(hook.close);
    const stack = await startTestStack({ webhook: { url: hook.url, secret: SECRET } });
    cleanups.push(stack.close);
    const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    const store = new DynamoConnectionStore(
      DynamoDBDocumentClient.from(
        new DynamoDBClient({ endpoint: stack.dynamoEndpoint, region: 'us-east-1', credentials }),
      ),
      stack.tableName,
      systemClock,
    );
    const past = Math.floor(Date.now() / 1000) - 10;
    await store.putConnection({
      connectionId: 'ZXhwaXJlZA==',
      userId: 'ghost',
      connectedAt: 0,
      expiresAt: past,
    });

    expect(await stack.sweep()).toBeGreaterThanOrEqual(1);

    await eventually(async () =>
      expect(hook.accepted().map((e) => [e['detail-type'], e.detail])).toEqual([
        [
          'connection.closed',
          { connectionId: 'ZXhwaXJlZA==', userId: 'ghost', reason: 'expired', ts: expect.any(Number) },
        ],
        ['user.offline', { userId: 'ghost', ts: expect.any(Number), version: expect.any(Number) }],
      ]),
    );
  });

  it('keeps working with bounded memory when the receiver hangs, and refuses emit when the queue is full', async () => {
    const hook = await receiver(() => 'hang');
    cleanups.push(hook.close);
    const maxQueue = 6;
    const stack = await startTestStack({
      webhook: { url: hook.url, secret: SECRET, maxQueue, concurrency: 2, requestTimeoutMs: 60_000 },
    });
    cleanups.push(stack.close);
    const sender = stack.webhook;
    if (!sender) throw new Error('no webhook sender');

    const clients = [];
    for (let i = 0; i < 5; i += 1) {
      const client = await connect(stack, `hang-${i}`);
      clients.push(client);
      expect(await client.request({ action: 'join', room: 'busy' })).toMatchObject({ type: 'ack' });
      expect(sender.size).toBeLessThanOrEqual(maxQueue);
    }
    const pushed = await api(stack, 'POST', '/v1/push', { body: { room: 'busy', event: 'e', data: 1 } });
    expect(pushed.body).toMatchObject({ delivered: 5 });
    const emitted = await clients[0]?.request({ action: 'emit', event: 'x', data: null });
    expect(emitted).toMatchObject({ type: 'error', code: 'INTERNAL' });
    expect(sender.size).toBe(maxQueue);
    expect(hook.hanging.length).toBeLessThanOrEqual(2);
    for (const client of clients) await client.close();
  });

  it('gives up on an unreachable receiver after its minute of retries, and the service keeps working', async () => {
    const gone = await receiver(() => 200);
    await gone.close(); // nothing listens on that port any more
    const timers = virtualTimers();
    const stack = await startTestStack({ webhook: { url: gone.url, secret: SECRET, timers } });
    cleanups.push(stack.close);

    const carol = await connect(stack, 'carol');
    expect(await carol.request({ action: 'join', room: 'r' })).toMatchObject({ type: 'ack' });
    expect(await carol.request({ action: 'emit', event: 'e', data: 1 })).toMatchObject({ type: 'ack' });

    await stack.webhook?.idle();
    expect(stack.webhook?.size).toBe(0);
    expect(timers.elapsed()).toBeGreaterThan(50_000); // retried for (virtual) most of a minute
    expect(await carol.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    await carol.close();
  });
});

describe('emit with an idempotency key', () => {
  it('sends a repeated emit to the backends once and acks it with the first messageId, replayed', async () => {
    const hook = await receiver(() => 200);
    cleanups.push(hook.close);
    const stack = await startTestStack({ webhook: { url: hook.url, secret: SECRET } });
    cleanups.push(stack.close);
    const erin = await connect(stack, 'erin');

    const first = await erin.request({
      action: 'emit',
      event: 'pay',
      data: { n: 1 },
      idempotencyKey: 'order-9',
    });
    const again = await erin.request({
      action: 'emit',
      event: 'pay',
      data: { n: 1 },
      idempotencyKey: 'order-9',
    });
    const other = await erin.request({
      action: 'emit',
      event: 'pay',
      data: { n: 2 },
      idempotencyKey: 'order-9',
    });
    await erin.close();
    await stack.webhook?.idle();

    expect(first).toMatchObject({ type: 'ack', messageId: expect.any(String) });
    expect(first.replayed).toBeUndefined();
    expect(again).toMatchObject({ type: 'ack', messageId: first.messageId, replayed: true });
    expect(other).toMatchObject({ type: 'error', code: 'CONFLICT' });
    const clientEvents = hook.accepted().filter((e) => e['detail-type'] === 'client.event');
    expect(clientEvents.map((e) => e.detail.messageId)).toEqual([first.messageId]);
  });
});

describe('the local dashboard and the webhook', () => {
  it('shows how each event to the backends ended, after the receiver answered', async () => {
    const hook = await receiver((n) => (n === 0 ? 500 : 200));
    cleanups.push(hook.close);
    const stack = await startTestStack({
      webhook: { url: hook.url, secret: SECRET, timers: virtualTimers() },
    });
    cleanups.push(stack.close);
    const feed = stack.observability?.events;
    expect(feed?.publisher).toBe(`webhook ${hook.url}`);

    const fay = await connect(stack, 'fay');
    await fay.request({ action: 'emit', event: 'hello', data: 1 });
    await fay.close();
    await eventually(async () => expect(feed?.recent()).toHaveLength(5));

    const recent = feed?.recent() ?? [];
    // Every event is there once, with where it went; the first POST got a 500, so one went out on a second attempt.
    expect(recent.map((e) => e.type).sort()).toEqual(
      ['client.event', 'connection.closed', 'connection.opened', 'user.offline', 'user.online'].sort(),
    );
    expect(recent.every((e) => e.target === hook.url)).toBe(true);
    expect(recent.map((e) => e.result).sort()).toEqual(['sent', 'sent', 'sent', 'sent', 'sent (attempt 2)']);
    expect(recent.find((e) => e.type === 'client.event')?.detail).toMatchObject({ event: 'hello' });
  });
});

describe('emit without events configured', () => {
  it('answers NOT_FOUND, and refuses bad names, long idempotency keys and oversized data', async () => {
    const stack = await startTestStack({ maxDataBytes: 64 });
    cleanups.push(stack.close);
    const dave = await connect(stack, 'dave');
    expect(await dave.request({ action: 'emit', event: 'ok', data: 1 })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await dave.request({ action: 'emit', event: 'bad name', data: 1 })).toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    expect(
      await dave.request({ action: 'emit', event: 'ok', data: 1, idempotencyKey: 'k'.repeat(65) }),
    ).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(await dave.request({ action: 'emit', event: 'ok', data: 'x'.repeat(100) })).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    await dave.close();
  });
});
