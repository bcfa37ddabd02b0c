import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../lambdas/adapters/table.js';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, connectionIdsOf, eventually, startProxiedStack, type TestClient } from './harness.js';
import { requestGate } from './request-gate.js';

/**
 * What members and backends are told of presence when two handlers of one user race (found by a
 * review). A DynamoDB request chosen by the test waits in the proxy until the test lets it go.
 */

type Body = Record<string, unknown>;
type Match = (operation: string, body: Body) => boolean;

const gate = requestGate<{ operation: string; body: Body }>();
/** Holds the next DynamoDB request that matches, until `release`. */
const hold = (match: Match) => gate.hold(({ operation, body }) => match(operation, body));

const SECRET = 'presence-races-secret';
const received: { 'detail-type': string; detail: Record<string, unknown> }[] = [];
let receiver: http.Server;
let stack: LocalStack;
let close: () => Promise<void>;
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString()));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  ({ stack, close } = await startProxiedStack(
    'presence-races',
    {
      fault: (operation, body) => gate.stop({ operation, body }),
    },
    { webhook: { url, secret: SECRET } },
  ));
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: stack.dynamoEndpoint, region: 'us-east-1', credentials }),
  );
});
afterAll(async () => {
  doc?.destroy();
  await close?.();
  await new Promise<void>((resolve) => {
    receiver?.close(() => resolve());
    receiver?.closeAllConnections();
  });
});

type Frame = Record<string, unknown>;
const about = (c: TestClient, room: string, userId: string) =>
  c.frames.filter((f: Frame) => f.type === 'presence' && f.room === room && f.userId === userId);
const announced = (c: TestClient, room: string, event: 'join' | 'leave', userId: string) =>
  c.next((f: Frame) => f.type === 'presence' && f.room === room && f.event === event && f.userId === userId);
const presenceOf = async (room: string) =>
  (await api(stack, 'GET', `/v1/rooms/${encodeURIComponent(room)}/presence`)).body;
const str = (v: unknown) => (v as { S?: string } | undefined)?.S;
/** The read of a room's members that a presence announcement makes (roomConnectionIds: from its #META on). */
const announcementRead =
  (room: string): Match =>
  (operation, body) =>
    operation === 'Query' &&
    String(body.KeyConditionExpression).includes('BETWEEN') &&
    str((body.ExpressionAttributeValues as Body)?.[':pk']) === `ROOM#${room}`;

describe('presence frames when a join races the user leaving', () => {
  it("a backend's removal racing the user's join: the watcher's last frame about the user is not a join", async () => {
    const room = 'presence-review-remove';
    const watcher = await connect(stack, 'rv-watcher-1');
    await watcher.request({ action: 'join', room });
    const alice = await connect(stack, 'rv-alice-1');

    // The join has stored and counted its membership (0→1) and is about to read the room to announce it.
    const { reached, release } = hold(announcementRead(room));
    const joining = alice.request({ action: 'join', room });
    await reached;

    // Meanwhile the backend removes the user: 1→0, announced as a leave at once.
    expect((await api(stack, 'DELETE', `/v1/rooms/${room}/members/rv-alice-1`)).body).toEqual({ left: 1 });
    await announced(watcher, room, 'leave', 'rv-alice-1');

    release();
    expect(await joining).toMatchObject({ type: 'ack', ok: true });
    await watcher.request({ action: 'ping' }); // everything posted before the join's ack has arrived

    // The truth: alice is not in the room.
    expect(await presenceOf(room)).toEqual({
      room,
      count: 1,
      users: [{ userId: 'rv-watcher-1', connections: 1 }],
    });
    // What the watcher was told, in order: its picture of alice must end with her gone.
    const events = about(watcher, room, 'rv-alice-1').map((f) => f.event);
    expect(events.at(-1), `the watcher was told ${JSON.stringify(events)}`).toBe('leave');
    await Promise.all([watcher.close(), alice.close()]);
  });

  it('a tab closed while its join is being announced: the watcher is not left believing the user is in', async () => {
    const room = 'presence-review-close';
    const watcher = await connect(stack, 'rv-watcher-2');
    await watcher.request({ action: 'join', room });
    const alice = await connect(stack, 'rv-alice-2');

    const { reached, release } = hold(announcementRead(room));
    alice.ws.send(JSON.stringify({ action: 'join', id: 'j1', room }));
    await reached;

    // The user closes the tab: $disconnect finds the room on the connection's entry, 1→0, a leave.
    await alice.close();
    await announced(watcher, room, 'leave', 'rv-alice-2');

    release();
    await stack.gateway.idle(); // the join's handler has finished: its announcement is posted
    await watcher.request({ action: 'ping' });

    expect(await presenceOf(room)).toEqual({
      room,
      count: 1,
      users: [{ userId: 'rv-watcher-2', connections: 1 }],
    });
    const events = about(watcher, room, 'rv-alice-2').map((f) => f.event);
    expect(events.at(-1), `the watcher was told ${JSON.stringify(events)}`).toBe('leave');
    await watcher.close();
  });
});

describe('user.online / user.offline ordered by ts', () => {
  it("a reconnect while the last close is still cleaning up: by ts, the tracker ends 'online' as the user is", async () => {
    const userId = 'rv-bob';
    const room = 'rv-bob-room';
    const first = await connect(stack, userId);
    await first.request({ action: 'join', room });
    const [firstId] = await connectionIdsOf(stack, userId);

    // The close deletes the connection item and counts the user out (1→0) while its membership's
    // delete waits.
    const { reached, release } = hold(
      (operation, body) =>
        operation === 'DeleteItem' &&
        str((body.Key as Body)?.pk) === `ROOM#${room}` &&
        str((body.Key as Body)?.sk) === `CONN#${firstId}`,
    );
    await first.close();
    await reached;
    await eventually(async () => {
      const counter = await doc.send(
        new GetCommand({ TableName: stack.tableName, Key: keys.userCounter(userId), ConsistentRead: true }),
      );
      expect(counter.Item?.connections).toBe(0);
    });

    // The user comes back: 0→1, user.online.
    const second = await connect(stack, userId);
    const online = await eventually(async () => {
      const onlines = received.filter(
        (e) => e['detail-type'] === 'user.online' && e.detail.userId === userId,
      );
      expect(onlines).toHaveLength(2);
      return onlines[1] as (typeof received)[number];
    });
    // Let the clock move past the online's ts (no race left to luck).
    await eventually(async () => expect(Date.now()).toBeGreaterThan(Number(online.detail.ts)));

    release();
    await eventually(async () =>
      expect(received.some((e) => e['detail-type'] === 'user.offline' && e.detail.userId === userId)).toBe(
        true,
      ),
    );
    await stack.gateway.idle();

    // The truth: bob is online.
    expect((await api(stack, 'GET', `/v1/users/${userId}`)).body.online).toBe(true);
    // The README's presence tracker: the latest ts per user wins.
    const latest = received
      .filter(
        (e) =>
          (e['detail-type'] === 'user.online' || e['detail-type'] === 'user.offline') &&
          e.detail.userId === userId,
      )
      .sort((a, b) => Number(a.detail.ts) - Number(b.detail.ts))
      .at(-1);
    expect(
      latest?.['detail-type'],
      JSON.stringify(
        received.filter((e) => e.detail.userId === userId).map((e) => [e['detail-type'], e.detail.ts]),
      ),
    ).toBe('user.online');
    // And by the user's change number, exact whatever the clocks of the functions say.
    const userEvents = received.filter(
      (e) =>
        (e['detail-type'] === 'user.online' || e['detail-type'] === 'user.offline') &&
        e.detail.userId === userId,
    );
    expect(userEvents.map((e) => e.detail.version)).toEqual(expect.arrayContaining([1, 2, 3]));
    const last = [...userEvents].sort((a, b) => Number(a.detail.version) - Number(b.detail.version)).at(-1);
    expect(last?.['detail-type']).toBe('user.online');
    await second.close();
  });
});
