import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  gcra,
  type RateDecision,
  type RateLimiter,
  type RateLimitPolicy,
  retryAfterMs,
} from '../domain/rate-limit.js';
import { EVERYONE_SHARDS, keys, shardOf } from './table.js';

/** The attribute that holds the bucket's theoretical arrival time (epoch ms). */
export const RATE_ATTRIBUTE = 'rateTat';
const NAMES = { '#tat': RATE_ATTRIBUTE };
/** Conditional writes lost to concurrent frames of the same connection before a frame is refused. */
const ATTEMPTS = 3;

/**
 * The rate limiter (GCRA) over the connection's own item in the "everyone"
 * partitions (`ALL#{shard}` / `CONN#{cid}`): written at connect, deleted with
 * the connection, and in no index, so an update costs one write unit (the
 * `META` item is projected into gsi1 and would cost two). No read before the
 * write: a frame costs one conditional UpdateItem when the
 * bucket is full (the sender was quiet for an interval) or over the limit; a
 * frame that draws on the burst allowance costs two (the first one's failed
 * condition returns the current state, then the matching update).
 */
export class DynamoRateLimiter implements RateLimiter {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async take(connectionId: string, policy: RateLimitPolicy, now: number): Promise<RateDecision> {
    const { intervalMs, toleranceMs } = gcra(policy);
    const key = keys.everyoneItem(shardOf(connectionId, EVERYONE_SHARDS), connectionId);
    let tat = await this.update(key, {
      // The bucket is full again: start over from now.
      UpdateExpression: 'SET #tat = :next',
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#tat) OR #tat <= :now)',
      ExpressionAttributeValues: { ':next': now + intervalMs, ':now': now },
    });
    for (let attempt = 1; tat !== undefined; attempt += 1) {
      if (tat === 'gone') return { allowed: true }; // closing: the frame's own route decides
      if (tat > now + toleranceMs || attempt >= ATTEMPTS) {
        return {
          allowed: false,
          retryAfterMs: retryAfterMs(policy, Math.max(tat, now + toleranceMs + 1), now),
        };
      }
      // Within the burst allowance: one more interval of debt.
      tat = await this.update(key, {
        UpdateExpression: 'SET #tat = #tat + :interval',
        ConditionExpression: '#tat > :now AND #tat <= :limit',
        ExpressionAttributeValues: { ':interval': intervalMs, ':now': now, ':limit': now + toleranceMs },
      });
    }
    return { allowed: true };
  }

  /** Runs one conditional update: undefined when it applied, else the bucket's current tat ('gone' without an item). */
  private async update(
    key: { pk: string; sk: string },
    input: Pick<
      ConstructorParameters<typeof UpdateCommand>[0],
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'
    >,
  ): Promise<number | 'gone' | undefined> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          ...input,
          ExpressionAttributeNames: NAMES,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return undefined;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // DynamoDB returns the item with the failed condition; stores without that feature need a read.
      const returned = error.Item?.[RATE_ATTRIBUTE]?.N;
      if (returned !== undefined) return Number(returned);
      if (error.Item) return 0;
      const out = await this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: key,
          ConsistentRead: true,
          ProjectionExpression: '#tat',
          ExpressionAttributeNames: NAMES,
        }),
      );
      if (!out.Item) return 'gone';
      return Number(out.Item[RATE_ATTRIBUTE] ?? 0);
    }
  }
}
