import { randomUUID } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type {
  AppendResult,
  Clock,
  IdempotencyClaim,
  StoredMessage,
  StreamId,
  StreamStore,
} from '../domain/ports.js';
import { conditional, isConditionFailure, itemAtFailedCondition } from './conditions.js';
import { TABLE_SCHEMA } from './table.js';

/**
 * Item layout of the stream store (all in the one table, apart from the
 * connection items by their pk prefixes, so the counters' reconciler skips them):
 *
 * | item | pk | sk | attributes |
 * |---|---|---|---|
 * | stream head | `STREAM#ROOM#{room}` / `STREAM#USER#{userId}` | `#HEAD` | `latest` (no TTL: a seq is never reused) |
 * | message | same pk | `SEQ#{seq, 12 digits}` | `seq`, `frame`, `expiresAt`, `writer` |
 * | idempotency record | `IDEM#{scope}#{key}` | `#IDEM` | `fingerprint`, `state`, `answer`, `claimedAt`, `expiresAt`, `writer` |
 */
export const streamKeys = {
  streamPrefix: 'STREAM#',
  idempotencyPrefix: 'IDEM#',
  stream: (s: StreamId) => `STREAM#${s.kind === 'room' ? 'ROOM' : 'USER'}#${s.name}`,
  head: '#HEAD',
  message: (seq: number) => `SEQ#${String(seq).padStart(12, '0')}`,
  messagePrefix: 'SEQ#',
  idempotency: (key: string) => ({ pk: `IDEM#${key}`, sk: '#IDEM' }),
} as const;

/**
 * Marks each write with who made it: a conditional write whose answer was lost is retried by the
 * SDK, and the retry's condition then fails on the write itself. Reading the item back and finding
 * its own mark tells that apart from a write of someone else.
 */
const WRITER = 'writer';
/** On an idempotency record: what its request stored before it failed (a StoredAttempt, as JSON). */
const STORED = 'stored';

/** The StreamStore over the one DynamoDB table; single-item writes only (no transactions). */
export class DynamoStreamStore implements StreamStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock,
  ) {}

  async append(stream: StreamId, frame: (seq: number) => string, expiresAt: number): Promise<AppendResult> {
    const pk = streamKeys.stream(stream);
    // The head may lag behind a publisher that stored its message but has not yet moved the head;
    // then the conditional put below finds the seq taken and tries the next one.
    let seq = (await this.headLatest(pk)) + 1;
    let conflicts = 0;
    const writer = randomUUID();
    for (;;) {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { pk, sk: streamKeys.message(seq), seq, frame: frame(seq), expiresAt, [WRITER]: writer },
            ConditionExpression: 'attribute_not_exists(pk)',
            // The item that took the seq comes back with the failure: no read to tell whose it is.
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        break;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        // This very put, retried after its answer was lost: the message is stored at this seq.
        if (await this.wroteIt({ pk, sk: streamKeys.message(seq) }, writer, error)) break;
        conflicts += 1;
        // Taken: jump past the latest stored message rather than trying each seq in turn.
        seq = Math.max(seq, await this.lastStored(pk)) + 1;
      }
    }
    return { seq, conflicts };
  }

  async advance(stream: StreamId, seq: number): Promise<void> {
    const pk = streamKeys.stream(stream);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk, sk: streamKeys.head },
          UpdateExpression: 'SET latest = :seq',
          ConditionExpression: 'attribute_not_exists(latest) OR latest < :seq',
          ExpressionAttributeValues: { ':seq': seq },
        }),
      );
    } catch (error) {
      // A later seq is already recorded: the head only moves forward.
      if (!isConditionFailure(error)) throw error;
    }
  }

  async latest(stream: StreamId): Promise<number> {
    const pk = streamKeys.stream(stream);
    const [head, stored] = await Promise.all([this.headLatest(pk), this.lastStored(pk)]);
    return Math.max(head, stored);
  }

  /** The greatest seq still stored (expired or not); every smaller seq was taken before it. */
  private async lastStored(pk: string): Promise<number> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :seq)',
        ExpressionAttributeValues: { ':pk': pk, ':seq': streamKeys.messagePrefix },
        ProjectionExpression: 'seq',
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    return Number(out.Items?.[0]?.seq ?? 0);
  }

  async read(
    stream: StreamId,
    query: { after?: number; before?: number; limit: number },
  ): Promise<{ messages: StoredMessage[]; more: boolean }> {
    const pk = streamKeys.stream(stream);
    const ascending = query.after !== undefined;
    const values: Record<string, unknown> = { ':pk': pk };
    let condition: string;
    if (query.after !== undefined) {
      condition = 'pk = :pk AND sk BETWEEN :from AND :to';
      values[':from'] = streamKeys.message(query.after + 1);
      values[':to'] = streamKeys.message(999_999_999_999);
    } else if (query.before !== undefined) {
      condition = 'pk = :pk AND sk BETWEEN :from AND :to';
      values[':from'] = streamKeys.message(0);
      values[':to'] = streamKeys.message(Math.max(0, query.before - 1));
    } else {
      condition = 'pk = :pk AND begins_with(sk, :from)';
      values[':from'] = streamKeys.messagePrefix;
    }
    const now = Math.floor(this.clock.now() / 1000);
    const found: StoredMessage[] = [];
    let start: Record<string, unknown> | undefined;
    // Expired items linger until DynamoDB deletes them; they are skipped here, so read on past them.
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: condition,
          ExpressionAttributeValues: values,
          ScanIndexForward: ascending,
          Limit: query.limit + 1 - found.length,
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        if (Number(item[TABLE_SCHEMA.ttlAttribute]) > now) {
          found.push({ seq: Number(item.seq), frame: String(item.frame) });
        }
      }
      start = out.LastEvaluatedKey;
    } while (start && found.length <= query.limit);
    const more = found.length > query.limit;
    const page = found.slice(0, query.limit);
    if (!ascending) page.reverse();
    return { messages: page, more };
  }

  async claim(
    key: string,
    fingerprint: string,
    expiresAt: number,
    staleAfterMs: number,
  ): Promise<IdempotencyClaim> {
    const now = this.clock.now();
    const itemKey = streamKeys.idempotency(key);
    const writer = randomUUID();
    try {
      // A first claim, or taking over one whose owner died (pending for too long) or that expired.
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...itemKey, fingerprint, state: 'pending', claimedAt: now, expiresAt, [WRITER]: writer },
          ConditionExpression:
            'attribute_not_exists(pk) OR #ttl <= :nowSeconds OR (#state = :pending AND claimedAt < :stale AND fingerprint = :fingerprint AND attribute_not_exists(#stored))',
          ExpressionAttributeNames: {
            '#ttl': TABLE_SCHEMA.ttlAttribute,
            '#state': 'state',
            '#stored': STORED,
          },
          ExpressionAttributeValues: {
            ':nowSeconds': Math.floor(now / 1000),
            ':pending': 'pending',
            ':stale': now - staleAfterMs,
            ':fingerprint': fingerprint,
          },
        }),
      );
      return { state: 'new', token: writer };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const parked = await this.takeOverParked(itemKey, fingerprint, now, staleAfterMs, writer);
    if (parked) return parked;
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: itemKey, ConsistentRead: true }),
    );
    const item = out.Item;
    if (!item) return this.claim(key, fingerprint, expiresAt, staleAfterMs);
    // Our own claim, retried after its answer was lost.
    if (item[WRITER] === writer) {
      return item[STORED] === undefined
        ? { state: 'new', token: writer }
        : { state: 'new', token: writer, stored: String(item[STORED]) };
    }
    if (item.state === 'done') {
      return { state: 'done', fingerprint: String(item.fingerprint), answer: String(item.answer) };
    }
    return { state: 'pending', fingerprint: String(item.fingerprint) };
  }

  async complete(key: string, token: string, answer: string): Promise<void> {
    await this.asOwner(key, token, {
      UpdateExpression: 'SET #state = :done, answer = :answer',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':done': 'done', ':answer': answer },
    });
  }

  async noteStored(key: string, token: string, stored: string): Promise<void> {
    await this.asOwner(key, token, {
      UpdateExpression: 'SET #stored = :stored',
      ExpressionAttributeNames: { '#stored': STORED },
      ExpressionAttributeValues: { ':stored': stored },
    });
  }

  async park(key: string, token: string, stored: string): Promise<void> {
    await this.asOwner(key, token, {
      UpdateExpression: 'SET #state = :parked, #stored = :stored',
      ExpressionAttributeNames: { '#state': 'state', '#stored': STORED },
      ExpressionAttributeValues: { ':parked': 'parked', ':stored': stored },
    });
  }

  async release(key: string, token: string): Promise<void> {
    await conditional(() =>
      this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: streamKeys.idempotency(key),
          ConditionExpression: '#writer = :token',
          ExpressionAttributeNames: { '#writer': WRITER },
          ExpressionAttributeValues: { ':token': token },
        }),
      ),
    );
  }

  /**
   * An update of an idempotency record by the claim that holds it (`writer` is its token). When
   * another claim took the record over meanwhile (this one ran past the stale time), or it is gone,
   * nothing is written: that claim's outcome is the key's, and an update must not create a record
   * with no expiry nor undo what it answered.
   */
  private async asOwner(
    key: string,
    token: string,
    update: {
      UpdateExpression: string;
      ExpressionAttributeNames: Record<string, string>;
      ExpressionAttributeValues: Record<string, unknown>;
    },
  ): Promise<void> {
    await conditional(() =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: streamKeys.idempotency(key),
          ...update,
          ConditionExpression: '#writer = :token',
          ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#writer': WRITER },
          ExpressionAttributeValues: { ...update.ExpressionAttributeValues, ':token': token },
        }),
      ),
    );
  }

  /**
   * Takes over a parked record (its request stored a message, then failed), or one whose taker died
   * (pending for too long), when the body is the same: an update, so what was stored stays on it.
   * Undefined when there is none to take.
   */
  private async takeOverParked(
    itemKey: { pk: string; sk: string },
    fingerprint: string,
    now: number,
    staleAfterMs: number,
    writer: string,
  ): Promise<IdempotencyClaim | undefined> {
    let stored: unknown;
    const taken = await conditional(async () => {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: itemKey,
          UpdateExpression: 'SET #state = :pending, claimedAt = :now, #writer = :writer',
          ConditionExpression:
            'attribute_exists(#stored) AND fingerprint = :fingerprint AND #ttl > :nowSeconds AND (#state = :parked OR (#state = :pending AND claimedAt < :stale))',
          ExpressionAttributeNames: {
            '#state': 'state',
            '#stored': STORED,
            '#writer': WRITER,
            '#ttl': TABLE_SCHEMA.ttlAttribute,
          },
          ExpressionAttributeValues: {
            ':pending': 'pending',
            ':parked': 'parked',
            ':now': now,
            ':writer': writer,
            ':fingerprint': fingerprint,
            ':nowSeconds': Math.floor(now / 1000),
            ':stale': now - staleAfterMs,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      stored = out.Attributes?.[STORED];
    });
    return taken ? { state: 'new', token: writer, stored: String(stored) } : undefined;
  }

  /**
   * Whether the item at `key` is the one this `writer` put: from the item the failed condition
   * returned, or (a store that returns none, as dynalite) a consistent read.
   */
  private async wroteIt(key: { pk: string; sk: string }, writer: string, failure: unknown): Promise<boolean> {
    const item = await itemAtFailedCondition(this.doc, this.tableName, key, failure, [WRITER]);
    return item?.[WRITER] === writer;
  }

  private async headLatest(pk: string): Promise<number> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk, sk: streamKeys.head },
        ProjectionExpression: 'latest',
        ConsistentRead: true,
      }),
    );
    return Number(out.Item?.latest ?? 0);
  }
}
