import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, ROOM_PARTITIONS } from '../../lambdas/adapters/table.js';
import { createDocumentClient } from '../../lambdas/runtime.js';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, eventually, settledStats, startProxiedStack, type TestClient } from './harness.js';

/**
 * A room past ROOM_SPLIT_AFTER (3 here) has its memberships spread over several partitions.
 * The room is a presence room of 9 members: announcements read it inline, and pushes (over
 * an inline limit of 8) go through the fan-out workers, so both readers meet the split.
 * A proxy in front of the table records the queries a request makes.
 */
const ROOM = 'presence-big';
const SIZE = 9;
let stack: LocalStack;
let close: () => Promise<void>;
let members: TestClient[];
let queries: Record<string, unknown>[] | undefined;

beforeAll(async () => {
  ({ stack, close } = await startProxiedStack(
    'large',
    {
      answer: (operation, body) => {
        if (operation === 'Query') queries?.push(body);
        return undefined;
      },
    },
    { roomSplitAfter: 3, inlineFanoutLimit: 8, fanoutJobSize: 4 },
  ));
  members = [];
  for (let i = 0; i < SIZE; i += 1) {
    const member = await connect(stack, `big-${i}`);
    await member.request({ action: 'join', room: ROOM });
    members.push(member);
  }
});
afterAll(async () => {
  await Promise.all((members ?? []).map((m) => m.close()));
  await close?.();
});

/** The connection ids stored in each partition of the room, read straight from the table. */
async function partitions(): Promise<string[][]> {
  const doc = createDocumentClient({ region: 'us-east-1', dynamoEndpoint: stack.dynamoEndpoint });
  try {
    return await Promise.all(
      Array.from({ length: ROOM_PARTITIONS }, async (_, partition) => {
        const out = await doc.send(
          new QueryCommand({
            TableName: stack.tableName,
            ConsistentRead: true,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :conn)',
            ExpressionAttributeValues: {
              ':pk': keys.roomPartition(ROOM, partition),
              ':conn': keys.connPrefix,
            },
          }),
        );
        return (out.Items ?? []).map((item) => String(item.connectionId));
      }),
    );
  } finally {
    doc.destroy();
  }
}

async function listAll(path: string): Promise<{ counts: number[]; ids: string[] }> {
  const counts: number[] = [];
  const ids: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await api(
      stack,
      'GET',
      `${path}?limit=2${nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : ''}`,
    );
    expect(page.status).toBe(200);
    counts.push(page.body.count);
    ids.push(...page.body.members.map((m: { connectionId: string }) => m.connectionId));
    nextToken = page.body.nextToken;
  } while (nextToken);
  return { counts, ids };
}

describe('a room larger than ROOM_SPLIT_AFTER', () => {
  it('keeps its first members in partition 0 and writes the later ones to their own partitions', async () => {
    const stored = await partitions();
    // The join that took the room past 3 was written before it marked the room split.
    expect(stored[0]).toHaveLength(4);
    expect(stored.slice(1).flat()).toHaveLength(SIZE - 4);
    expect(new Set(stored.flat()).size).toBe(SIZE);
  });

  it('announces a join to every member wherever they are stored, and delivers a queued push to each once', async () => {
    for (const m of members.slice(0, -1)) {
      await m.next((f) => f.type === 'presence' && f.event === 'join' && f.userId === `big-${SIZE - 1}`);
    }
    const push = await api(stack, 'POST', '/v1/push', { body: { room: ROOM, event: 'news', data: 1 } });
    expect(push.status).toBe(202);
    expect(push.body.queued).toBe(SIZE);
    for (const m of members) await m.next((f) => f.type === 'message' && f.messageId === push.body.messageId);
    await stack.fanoutQueue.idle();
    for (const m of members) {
      expect(m.messages().filter((f) => f.messageId === push.body.messageId)).toHaveLength(1);
    }
  });

  it('lets a member stored outside partition 0 send, and pages the listing through every partition', async () => {
    const last = members.at(-1) as TestClient;
    const ack = await last.request({ action: 'send', room: ROOM, event: 'chat', data: 'hi' });
    expect(ack).toMatchObject({ type: 'ack', messageId: expect.any(String) });
    for (const m of members.slice(0, -1))
      await m.next((f) => f.type === 'message' && f.messageId === ack.messageId);

    const listed = await listAll(`/v1/rooms/${ROOM}`);
    expect(listed.counts.every((count) => count === SIZE)).toBe(true);
    expect(listed.ids).toHaveLength(SIZE);
    expect(new Set(listed.ids)).toEqual(new Set((await partitions()).flat()));
    expect((await api(stack, 'GET', `/v1/rooms/${ROOM}/presence`)).body.count).toBe(SIZE);
  });

  it('takes the count of GET /v1/rooms/{room} from the counter: one page is read, not the room', async () => {
    queries = [];
    const page = await api(stack, 'GET', `/v1/rooms/${ROOM}?limit=2`);
    const made = queries;
    queries = undefined;
    expect(page.body.count).toBe(SIZE);
    expect(made.filter((q) => q.Select === 'COUNT')).toEqual([]);
    expect(made.length).toBeLessThanOrEqual(2);
  });

  it('removes a member stored outside partition 0 on leave and on close, with the counters right', async () => {
    const [leaving, closing] = members.slice(-2) as [TestClient, TestClient];
    expect(await leaving.request({ action: 'leave', room: ROOM })).toMatchObject({ type: 'ack' });
    await members[0]?.next(
      (f) => f.type === 'presence' && f.event === 'leave' && f.userId === `big-${SIZE - 2}`,
    );
    await closing.close();
    await members[0]?.next(
      (f) => f.type === 'presence' && f.event === 'leave' && f.userId === `big-${SIZE - 1}`,
    );
    members = members.filter((m) => m !== closing);

    expect((await partitions()).flat()).toHaveLength(SIZE - 2);
    await eventually(async () =>
      expect((await api(stack, 'GET', `/v1/rooms/${ROOM}`)).body.count).toBe(SIZE - 2),
    );
    expect(await settledStats(stack)).toEqual({ connections: SIZE - 1, users: SIZE - 1, rooms: 1 });
    expect(await stack.reconcile()).toEqual({ countersFixed: 0, orphansDeleted: 0 });
  });

  it('answers a repeated join of a connection that joined before the split without counting it again', async () => {
    const early = members[0] as TestClient;
    const before = (await api(stack, 'GET', `/v1/rooms/${ROOM}/presence`)).body;
    expect(await early.request({ action: 'join', room: ROOM })).toMatchObject({ type: 'ack' });
    expect((await partitions()).flat()).toHaveLength(before.count);
    expect((await api(stack, 'GET', `/v1/rooms/${ROOM}/presence`)).body).toEqual(before);
    expect(await stack.reconcile()).toEqual({ countersFixed: 0, orphansDeleted: 0 });
  });
});
