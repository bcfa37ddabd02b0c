import { randomUUID } from 'node:crypto';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { reconcileTable } from '../../lambdas/adapters/dynamo-reconcile.js';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store.js';
import { keys } from '../../lambdas/adapters/table.js';
import { createDocumentClient } from '../../lambdas/runtime.js';
import { ensureTable, type LocalDynamo, localDynamoClient, startDynalite } from '../../local/dynamo.js';

/**
 * The reconciliation while a handler is between its item write and its counter writes: a request
 * of the store is held until the test lets it go. The reconciliation's wait between its two looks
 * is where the held handler finishes (on AWS: RECONCILE_SETTLE_MS, longer than any function runs).
 */
type Command = { constructor: { name: string }; input: Record<string, Record<string, unknown> | undefined> };

let dynamo: LocalDynamo | undefined;
let endpoint: string;
let table: string;
let raw: ReturnType<typeof createDocumentClient>;
const EXPIRES = Math.floor(Date.now() / 1000) + 3600;
const clock = { now: () => Date.now() };

beforeAll(async () => {
  // The local endpoints take any credentials; the SDK still signs with some.
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  if (process.env.ROOMCAST_TEST_DYNAMO === 'dynamodb-local') endpoint = inject('dynamoEndpoint');
  else {
    dynamo = await startDynalite();
    endpoint = dynamo.endpoint;
  }
  raw = createDocumentClient({ region: 'us-east-1', dynamoEndpoint: endpoint });
});
afterAll(async () => {
  raw?.destroy();
  await dynamo?.close();
});
beforeEach(async () => {
  table = `reconcile-races-${randomUUID().slice(0, 8)}`;
  const admin = localDynamoClient(endpoint, 'us-east-1');
  await ensureTable(admin, table);
  admin.destroy();
});

/** A store whose next request matching what `hold` is given waits, once sent, until `release()`. */
function heldStore() {
  let held:
    | { match: (command: Command) => boolean; arrived: () => void; released: Promise<void> }
    | undefined;
  const doc = {
    send: async (command: Command) => {
      if (held?.match(command)) {
        const { arrived, released } = held;
        held = undefined;
        arrived();
        await released;
      }
      return raw.send(command as never);
    },
  };
  const hold = (match: (command: Command) => boolean) => {
    let release!: () => void;
    let arrived!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reached = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    held = { match, arrived, released };
    return { reached, release };
  };
  return { store: new DynamoConnectionStore(doc as never, table, clock), hold };
}

const isUpdateOf = (sk: string) => (c: Command) =>
  c.constructor.name === 'UpdateCommand' && c.input.Key?.sk === sk;
const member = (room: string, connectionId: string) => ({
  room,
  connectionId,
  userId: connectionId,
  joinedAt: Date.now(),
  expiresAt: EXPIRES,
});

async function item(key: { pk: string; sk: string }) {
  return (await raw.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
}

async function open(store: DynamoConnectionStore, ...ids: string[]) {
  for (const id of ids) {
    await store.putConnection({ connectionId: id, userId: id, connectedAt: Date.now(), expiresAt: EXPIRES });
  }
}

const ROOM = 'presence-r';
const now = () => Math.floor(Date.now() / 1000);

describe('the reconciliation with a handler in flight', () => {
  it('leaves a leave between its delete and its counters alone: the leave is announced and the counts end right', async () => {
    const { store, hold } = heldStore();
    await open(store, 'a', 'x');
    await store.addMember(member(ROOM, 'a'));
    await store.addMember(member(ROOM, 'x'));
    const { reached, release } = hold(isUpdateOf('USER#x'));
    const leave = store.removeMember(ROOM, 'x');
    await reached;

    const report = await reconcileTable(raw, table, now(), {
      settle: async () => {
        release();
        await leave;
      },
    });

    expect(report).toEqual({ countersFixed: 0, orphansDeleted: 0 });
    expect((await leave)?.userChanged).toBe(true);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
    // x comes back: a first connection again, so its join is announced and it is listed.
    expect((await store.addMember(member(ROOM, 'x')))?.userChanged).toBe(true);
    expect((await store.roomPresence(ROOM, 10)).users.map((u) => u.userId).sort()).toEqual(['a', 'x']);
  });

  it('leaves a join between its membership and its counters alone: the join is announced and counted once', async () => {
    const { store, hold } = heldStore();
    await open(store, 'a', 'x');
    await store.addMember(member(ROOM, 'a'));
    const { reached, release } = hold(isUpdateOf('USER#x'));
    const join = store.addMember(member(ROOM, 'x'));
    await reached;

    const report = await reconcileTable(raw, table, now(), {
      settle: async () => {
        release();
        await join;
      },
    });

    expect(report).toEqual({ countersFixed: 0, orphansDeleted: 0 });
    expect((await join)?.userChanged).toBe(true);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 2, users: 2 });
    expect(await item(keys.roomUser(ROOM, 'x'))).toMatchObject({ connections: 1 });
  });

  it("does not take a closing connection's membership for an orphan: the close removes it and announces the leave", async () => {
    const { store, hold } = heldStore();
    await open(store, 'a', 'x');
    await store.addMember(member(ROOM, 'a'));
    await store.addMember(member(ROOM, 'x'), async () => void (await store.recordRoom('x', ROOM)));
    const { reached, release } = hold(
      (c) => c.constructor.name === 'DeleteCommand' && c.input.Key?.pk === `ROOM#${ROOM}`,
    );
    const closing = store.removeConnection('x');
    await reached;

    const report = await reconcileTable(raw, table, now(), {
      settle: async () => {
        release();
        await closing;
      },
    });

    expect(report).toEqual({ countersFixed: 0, orphansDeleted: 0 });
    expect((await closing).rooms.map((r) => [r.room, r.userChanged])).toEqual([[ROOM, true]]);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
  });

  it('still corrects a counter that is wrong on both looks', async () => {
    const { store } = heldStore();
    await open(store, 'a');
    await store.addMember(member(ROOM, 'a'));
    await raw.send(
      new UpdateCommand({
        TableName: table,
        Key: keys.roomMeta(ROOM),
        UpdateExpression: 'ADD members :five',
        ExpressionAttributeValues: { ':five': 5 },
      }),
    );
    let looks = 0;

    const report = await reconcileTable(raw, table, now(), {
      settle: async () => {
        looks += 1;
      },
    });

    expect(looks).toBe(1);
    expect(report.countersFixed).toBe(1);
    expect(await item(keys.roomMeta(ROOM))).toMatchObject({ members: 1, users: 1 });
  });
});
