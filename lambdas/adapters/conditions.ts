import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

type Item = Record<string, unknown>;

/** Whether a write failed its condition (by name: the stores' own error classes differ). */
export function isConditionFailure(error: unknown): boolean {
  return (error as Error).name === 'ConditionalCheckFailedException';
}

/** Runs a conditional write: true when it applied, false when its condition failed; other errors throw. */
export async function conditional(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/**
 * The item a conditional write failed on: the one the failure returned (the write asked for it with
 * ReturnValuesOnConditionCheckFailure: ALL_OLD), or, from a store that returns none (dynalite), a
 * consistent read of `attributes` (all when none are named). Undefined when there is no item.
 */
export async function itemAtFailedCondition(
  doc: DynamoDBDocumentClient,
  tableName: string,
  key: { pk: string; sk: string },
  failure: unknown,
  attributes?: readonly string[],
): Promise<Item | undefined> {
  // The document client unmarshalls answers, not errors: the returned item is in DynamoDB's form.
  const returned = (failure as { Item?: Record<string, AttributeValue> }).Item;
  if (returned) return unmarshall(returned);
  const names = attributes?.map((_, i) => `#a${i}`);
  const out = await doc.send(
    new GetCommand({
      TableName: tableName,
      Key: key,
      ConsistentRead: true,
      ...(attributes && names
        ? {
            ProjectionExpression: names.join(', '),
            ExpressionAttributeNames: Object.fromEntries(attributes.map((a, i) => [`#a${i}`, a])),
          }
        : {}),
    }),
  );
  return out.Item;
}
