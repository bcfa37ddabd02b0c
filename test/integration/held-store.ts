import { randomUUID } from 'node:crypto';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, inject } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-store.js';
import { keys, ROOM_PARTITIONS } from '../../lambdas/adapters/table.js';
import { createDocumentClient } from '../../lambdas/runtime.js';
import { ensureTable, type LocalDynamo, localDynamoClient, startDynalite } from '../../local/dynamo.js';
import { requestGate } from './request-gate.js';

/**
 * Races forced on a real table: a DynamoConnectionStore whose chosen request waits, once sent,
 * until the test lets it go, so another operation runs in between. Each test gets a fresh table
 * on dynalite, or on the shared DynamoDB Local as the project says.
 */
export type Command = {
  constructor: { name: string };
  input: Record<string, Record<string, unknown> | undefined>;
};

export const EXPIRES = Math.floor(Date.now() / 1000) + 3600;
const clock = { now: () => Date.now() };

export const isUpdateOf = (sk: string) => (c: Command) =>
  c.constructor.name === 'UpdateCommand' && c.input.Key?.sk === sk;

export const member = (room: string, connectionId: string) => ({
  room,
  connectionId,
  userId: connectionId,
  joinedAt: Date.now(),
  expiresAt: EXPIRES,
});

/** Sets up the hooks of a test file and returns what its tests use. */
export function heldTables(prefix: string) {
  let dynamo: LocalDynamo | undefined;
  let endpoint = '';
  const state = { table: '', raw: undefined as ReturnType<typeof createDocumentClient> | undefined };
  const raw = () => {
    if (!state.raw) throw new Error('the table is not ready');
    return state.raw;
  };

  beforeAll(async () => {
    // The local endpoints take any credentials; the SDK still signs with some.
    process.env.AWS_ACCESS_KEY_ID ??= 'local';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
    if (process.env.ROOMCAST_TEST_DYNAMO === 'dynamodb-local') endpoint = inject('dynamoEndpoint');
    else {
      dynamo = await startDynalite();
      endpoint = dynamo.endpoint;
    }
    state.raw = createDocumentClient({ region: 'us-east-1', dynamoEndpoint: endpoint });
  });
  afterAll(async () => {
    state.raw?.destroy();
    await dynamo?.close();
  });
  beforeEach(async () => {
    state.table = `${prefix}-${randomUUID().slice(0, 8)}`;
    const admin = localDynamoClient(endpoint, 'us-east-1');
    await ensureTable(admin, state.table);
    admin.destroy();
  });

  /** A store (rooms split past `roomSplitAfter`) whose next request matching what `hold` is given waits. */
  const heldStore = (roomSplitAfter?: number) => {
    const gate = requestGate<Command>();
    const doc = {
      send: async (command: Command) => {
        await gate.stop(command);
        return raw().send(command as never);
      },
    };
    const hold = gate.hold;
    const store = new DynamoConnectionStore(
      doc as never,
      state.table,
      clock,
      undefined,
      undefined,
      roomSplitAfter,
    );
    return { store, hold };
  };

  return {
    heldStore,
    raw,
    table: () => state.table,
    async item(key: { pk: string; sk: string }) {
      return (await raw().send(new GetCommand({ TableName: state.table, Key: key, ConsistentRead: true })))
        .Item;
    },
    async open(store: DynamoConnectionStore, ...ids: string[]) {
      for (const id of ids) {
        await store.putConnection({
          connectionId: id,
          userId: id,
          connectedAt: Date.now(),
          expiresAt: EXPIRES,
        });
      }
    },
    /** The partitions of `room` that hold a membership of `connectionId`. */
    async partitionsHolding(room: string, connectionId: string): Promise<number[]> {
      const found = await Promise.all(
        Array.from({ length: ROOM_PARTITIONS }, async (_, partition) => {
          const out = await raw().send(
            new QueryCommand({
              TableName: state.table,
              ConsistentRead: true,
              KeyConditionExpression: 'pk = :pk AND sk = :sk',
              ExpressionAttributeValues: {
                ':pk': keys.roomPartition(room, partition),
                ':sk': keys.membership(room, connectionId).sk,
              },
            }),
          );
          return (out.Items ?? []).length > 0 ? [partition] : [];
        }),
      );
      return found.flat();
    },
  };
}
