import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, ROOMS_LISTED_PER_CONNECTION, TABLE_SCHEMA } from '../../lambdas/adapters/table.js';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, settledStats, startProxiedStack } from './harness.js';

/**
 * On AWS the membership index (gsi1) is eventually consistent: a `$disconnect` that
 * closes a moment after a `join` can query it before it shows that join. dynalite and
 * DynamoDB Local update it at once, so a proxy stands in for the lag: while `lagging`,
 * it answers every query of a connection's memberships on the index with nothing.
 */
let stack: LocalStack;
let close: () => Promise<void>;
let lagging = false;

beforeAll(async () => {
  ({ stack, close } = await startProxiedStack('lag', {
    answer: (operation, body) => {
      const values = body.ExpressionAttributeValues as Record<string, { S?: string }> | undefined;
      const membershipsOfConnection =
        operation === 'Query' &&
        body.IndexName === TABLE_SCHEMA.gsi1.indexName &&
        values?.[':pk']?.S?.startsWith(keys.connPrefix) === true;
      return lagging && membershipsOfConnection ? { Count: 0, ScannedCount: 0, Items: [] } : undefined;
    },
  }));
});
afterAll(async () => {
  await close?.();
});

const presenceOf = async (room: string) =>
  (await api(stack, 'GET', `/v1/rooms/${encodeURIComponent(room)}/presence`)).body;

describe('a close the membership index has not caught up with', () => {
  it('still removes the rooms the connection joined, and announces the leave', async () => {
    const room = 'presence-lagging';
    const watcher = await connect(stack, 'lag-watcher');
    await watcher.request({ action: 'join', room });
    const before = await settledStats(stack);

    lagging = true;
    try {
      const client = await connect(stack, 'lag-user');
      expect(await client.request({ action: 'join', room })).toMatchObject({ type: 'ack' });
      expect(await client.request({ action: 'join', room: 'lagging-plain' })).toMatchObject({ type: 'ack' });
      await client.close();
      expect(await settledStats(stack)).toEqual(before);
    } finally {
      lagging = false;
    }

    expect(await presenceOf(room)).toEqual({
      room,
      count: 1,
      users: [{ userId: 'lag-watcher', connections: 1 }],
    });
    expect((await api(stack, 'GET', '/v1/rooms/lagging-plain')).body).toMatchObject({
      count: 0,
      members: [],
    });
    await watcher.next((f) => f.type === 'presence' && f.event === 'leave' && f.userId === 'lag-user');
    await watcher.close();
  });

  it('takes a left room off the list, so rooms a connection left do not crowd out its next join', async () => {
    const before = await settledStats(stack);
    const client = await connect(stack, 'churner');
    for (let i = 0; i <= ROOMS_LISTED_PER_CONNECTION; i += 1) {
      await client.request({ action: 'join', room: `churn-${i}` });
      await client.request({ action: 'leave', room: `churn-${i}` });
    }
    lagging = true;
    try {
      expect(await client.request({ action: 'join', room: 'after-churn' })).toMatchObject({ type: 'ack' });
      await client.close();
      expect(await settledStats(stack)).toEqual(before);
    } finally {
      lagging = false;
    }
    expect((await api(stack, 'GET', '/v1/rooms/after-churn')).body).toMatchObject({ count: 0, members: [] });
  });

  it(`finds the joins past the ${ROOMS_LISTED_PER_CONNECTION} rooms a connection lists through the index`, async () => {
    const before = await settledStats(stack);
    const client = await connect(stack, 'many-rooms');
    const rooms = Array.from({ length: ROOMS_LISTED_PER_CONNECTION + 2 }, (_, i) => `many-${i}`);
    for (const room of rooms) {
      expect(await client.request({ action: 'join', room })).toMatchObject({ type: 'ack' });
    }
    expect((await api(stack, 'GET', '/v1/stats')).body).toEqual({
      connections: before.connections + 1,
      users: before.users + 1,
      rooms: before.rooms + rooms.length,
    });
    await client.close();
    expect(await settledStats(stack)).toEqual(before);
    for (const room of rooms.slice(-3)) {
      expect((await api(stack, 'GET', `/v1/rooms/${room}`)).body).toMatchObject({ count: 0, members: [] });
    }
  });
});
