import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { keys, TABLE_SCHEMA } from '../lambdas/adapters/table.js';

/** The rooms one connection is in (the membership index, as `$disconnect` reads it), at most `limit`. */
export async function roomsOfConnection(
  doc: DynamoDBDocumentClient,
  tableName: string,
  connectionId: string,
  limit = 100,
): Promise<string[]> {
  const out = await doc.send(
    new QueryCommand({
      TableName: tableName,
      IndexName: TABLE_SCHEMA.gsi1.indexName,
      KeyConditionExpression: 'gsi1pk = :pk AND begins_with(gsi1sk, :room)',
      ExpressionAttributeValues: { ':pk': keys.connectionIndex(connectionId), ':room': keys.roomPrefix },
      Limit: limit,
    }),
  );
  return (out.Items ?? []).map((item) => String(item.room));
}
