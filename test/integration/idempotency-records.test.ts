import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStreamStore, streamKeys } from '../../lambdas/adapters/dynamo-streams.js';
import type { KeyedRun, StoredAttempt } from '../../lambdas/domain/streams.js';
import { Streams } from '../../lambdas/domain/streams.js';
import { ensureTable, type LocalDynamo, startDynalite } from '../../local/dynamo.js';
import { eventually } from './harness.js';

/**
 * Idempotency records of keyed requests that store a message (Streams.once over DynamoStreamStore),
 * against dynalite, with a clock the test moves (found by a review): what was stored is on the
 * record from the moment it is stored, and only the claim holding the record writes to it.
 */
let dynamo: LocalDynamo;
let doc: DynamoDBDocumentClient;
const table = 'idempotency-records';
const clock = {
  t: 1_800_000_000_000,
  now() {
    return this.t;
  },
};

beforeAll(async () => {
  dynamo = await startDynalite();
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureTable(client, table);
  doc = DynamoDBDocumentClient.from(client);
});
afterAll(async () => {
  doc?.destroy();
  await dynamo?.close();
});

/** The idempotency record of `key`, as stored. */
async function record(key: string) {
  return (
    await doc.send(
      new GetCommand({ TableName: table, Key: streamKeys.idempotency(key), ConsistentRead: true }),
    )
  ).Item;
}

function streams() {
  return new Streams({
    streams: new DynamoStreamStore(doc, table, clock),
    clock,
    metrics: { count: () => undefined, milliseconds: () => undefined },
    settings: { historyTtlSeconds: 86_400, mailboxTtlSeconds: 604_800 },
  });
}

const attempt: StoredAttempt = { messageId: '01REVIEW', ts: 5, seq: 7 };

describe('a keyed request that stored its message', () => {
  it('and was then killed (Lambda timeout, crash) hands what it stored to the retry that takes its key over', async () => {
    // Prepare: the first run stores its message, then never finishes (its Lambda is stopped at 29 s).
    const s = streams();
    void s.once('k-timeout', { a: 1 }, (keyed) => {
      keyed.stored(attempt);
      return new Promise<never>(() => undefined);
    });
    await eventually(async () => expect((await record('k-timeout'))?.stored).toBeDefined());

    // Act: the backend retries after the claim went stale (60 s).
    clock.t += 61_000;
    const seen: (StoredAttempt | undefined)[] = [];
    await s.once('k-timeout', { a: 1 }, async (keyed: KeyedRun) => {
      seen.push(keyed.earlier);
      return 'ok';
    });

    // Assess: the retry must deliver the stored message, not store a second one.
    expect(seen).toEqual([attempt]);
  });

  it('writes only while it holds the record: taken over and failed again, the key stays usable and expiring', async () => {
    // Prepare: A claims and runs long; after 60 s B takes the stale claim over and fails before storing
    // (B releases the key); then A fails after storing and parks.
    const s = streams();
    let failA: (() => void) | undefined;
    const a = s.once('k-lost', { a: 1 }, (keyed) => {
      keyed.stored(attempt);
      return new Promise<never>((_, reject) => {
        failA = () => reject(new Error('A: fan-out failed'));
      });
    });
    await eventually(async () => expect((await record('k-lost'))?.stored).toBeDefined());
    clock.t += 61_000;
    await expect(
      s.once('k-lost', { a: 1 }, async () => {
        throw new Error('B: room unreadable');
      }),
    ).rejects.toThrow('B');
    failA?.();
    await expect(a).rejects.toThrow('A');

    // The key is left parked by B (it took A's stored message over), still expiring; A, which no
    // longer holds it, wrote nothing.
    expect(await record('k-lost')).toMatchObject({ state: 'parked', expiresAt: expect.any(Number) });
    const seen: (StoredAttempt | undefined)[] = [];
    const retry = await s.once('k-lost', { a: 1 }, async (keyed) => {
      seen.push(keyed.earlier);
      return 'ok';
    });
    expect(retry).toEqual({ answer: 'ok', replayed: false });
    expect(seen).toEqual([attempt]);
  });
});
