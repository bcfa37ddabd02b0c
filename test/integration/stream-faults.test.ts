import { afterEach, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, startProxiedStack, type TestClient } from './harness.js';

/**
 * Stored delivery when DynamoDB's answers go missing or are refused, through a proxy in front of
 * the table: a write applied whose answer is lost (the SDK retries it), a write throttled on every
 * attempt. A message is stored once, at one seq, and delivered once.
 */
type Fault = 'lose' | { refuse: string } | undefined;

let close: (() => Promise<void>) | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await close?.();
  close = undefined;
});

/** A stack whose DynamoDB requests pass `rule` first. */
async function start(rule: { current: (operation: string, body: Record<string, unknown>) => Fault }) {
  const started = await startProxiedStack('stream-faults', {
    fault: (operation, body) => rule.current(operation, body),
  });
  close = started.close;
  return started.stack;
}

async function member(stack: LocalStack, userId: string, room: string): Promise<TestClient> {
  const client = await connect(stack, userId);
  clients.push(client);
  expect(await client.request({ action: 'join', room })).toMatchObject({ type: 'ack' });
  return client;
}

const itemOf = (body: Record<string, unknown>) => body.Item as Record<string, { S?: string }> | undefined;
/** Loses the answer to the first PutItem whose key starts with `prefix` (pk or sk). */
function loseFirstPut(prefix: { pk?: string; sk?: string }) {
  let lost = false;
  return {
    lost: () => lost,
    current: (operation: string, body: Record<string, unknown>): Fault => {
      const item = itemOf(body);
      const matches =
        (prefix.pk !== undefined && item?.pk?.S?.startsWith(prefix.pk)) ||
        (prefix.sk !== undefined && item?.sk?.S?.startsWith(prefix.sk));
      if (lost || operation !== 'PutItem' || !matches) return undefined;
      lost = true;
      return 'lose';
    },
  };
}

describe('stored delivery when DynamoDB answers go missing', () => {
  it('stores a message once, at one seq, when the answer to its put is lost and the SDK retries it', async () => {
    const rule = loseFirstPut({ sk: 'SEQ#' });
    const stack = await start(rule);
    const alice = await member(stack, 'alice', 'lobby');

    const ack = await alice.request({ action: 'send', room: 'lobby', event: 'chat', data: { n: 1 } });

    expect(rule.lost()).toBe(true);
    expect(ack).toMatchObject({ type: 'ack', ok: true, seq: 1 });
    const history = await api(stack, 'GET', '/v1/rooms/lobby/history');
    expect(
      history.body.messages.map((m: { messageId: string; seq: number }) => [m.messageId, m.seq]),
    ).toEqual([[ack.messageId, 1]]);
    // A client resuming from 0 gets it once.
    const bob = await connect(stack, 'bob');
    clients.push(bob);
    expect(await bob.request({ action: 'resume', rooms: { lobby: 0 } })).toMatchObject({
      rooms: { lobby: { seq: 1, recovered: true } },
    });
    expect(bob.messages().filter((f) => f.messageId === ack.messageId)).toHaveLength(1);
  });

  it('acks a keyed send whose idempotency claim answer was lost, and replays it on a repeat', async () => {
    const rule = loseFirstPut({ pk: 'IDEM#' });
    const stack = await start(rule);
    const alice = await member(stack, 'alice', 'lobby');
    const send = { action: 'send', room: 'lobby', event: 'chat', data: { n: 1 }, idempotencyKey: 'k-1' };

    const ack = await alice.request(send);

    expect(rule.lost()).toBe(true);
    expect(ack).toMatchObject({ type: 'ack', ok: true, seq: 1 });
    expect(await alice.request(send)).toMatchObject({
      type: 'ack',
      messageId: ack.messageId,
      replayed: true,
    });
  });

  it('delivers a push once when its stream head write is throttled: the retry with its key replays the answer', async () => {
    let throttling = true;
    const stack = await start({
      current: (operation, body) =>
        throttling && operation === 'UpdateItem' && (body.Key as { sk?: { S?: string } })?.sk?.S === '#HEAD'
          ? { refuse: 'ProvisionedThroughputExceededException' }
          : undefined,
    });
    const bob = await member(stack, 'bob', 'lobby');
    const body = { room: 'lobby', event: 'chat', data: { order: 7 } };
    const headers = { 'idempotency-key': 'order-7' };

    const first = await api(stack, 'POST', '/v1/push', { body, headers });
    throttling = false;
    const retry = await api(stack, 'POST', '/v1/push', { body, headers });

    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toEqual(first.body);
    // The next message takes the next seq, although the head did not move for the first.
    const next = await api(stack, 'POST', '/v1/push', { body: { ...body, data: { order: 8 } } });
    expect(next.body.seq).toBe(2);
    await bob.request({ action: 'ping' });
    expect(bob.messages().map((f) => [(f.data as { order: number }).order, f.seq])).toEqual([
      [7, 1],
      [8, 2],
    ]);
  });
});
