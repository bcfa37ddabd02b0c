import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoStreamStore } from '../../../lambdas/adapters/dynamo-streams.js';
import { fixedClock } from '../fakes.js';

const doc = mockClient(DynamoDBDocumentClient);
const store = () =>
  new DynamoStreamStore(
    DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
    'tbl',
    fixedClock(),
  );
const lobby = { kind: 'room' as const, name: 'lobby' };
const taken = () => new ConditionalCheckFailedException({ message: 'taken', $metadata: {} });

beforeEach(() => doc.reset());

describe('DynamoStreamStore.append', () => {
  it('stores a message with two requests: read the head, one conditional put at the next seq', async () => {
    doc.on(GetCommand).resolves({ Item: { latest: 41 } });
    doc.on(PutCommand).resolves({});
    expect(await store().append(lobby, (seq) => `frame ${seq}`, 123)).toEqual({ seq: 42, conflicts: 0 });
    expect(doc.calls()).toHaveLength(2);
    expect(doc.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({
      Item: { pk: 'STREAM#ROOM#lobby', sk: 'SEQ#000000000042', seq: 42, frame: 'frame 42', expiresAt: 123 },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
  });

  it('takes a failed condition on its own item (its put retried after a lost answer) for success, from the item the failure returns', async () => {
    doc.on(GetCommand).resolves({ Item: { latest: 41 } });
    doc.on(PutCommand).callsFake((input: { Item: { writer: string } }) => {
      throw new ConditionalCheckFailedException({
        message: 'taken',
        $metadata: {},
        Item: { writer: { S: input.Item.writer } },
      });
    });
    expect(await store().append(lobby, (seq) => `frame ${seq}`, 123)).toEqual({ seq: 42, conflicts: 0 });
    expect(doc.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    // The head's read only: no read of the item to tell whose it is.
    expect(doc.commandCalls(GetCommand)).toHaveLength(1);
  });

  it('reads the item back to tell whose it is when the failure returns none (dynalite)', async () => {
    let writer = '';
    doc.on(GetCommand, { Key: { pk: 'STREAM#ROOM#lobby', sk: '#HEAD' } }).resolves({ Item: { latest: 41 } });
    doc
      .on(GetCommand, { Key: { pk: 'STREAM#ROOM#lobby', sk: 'SEQ#000000000042' } })
      .callsFake(() => ({ Item: { writer } }));
    doc.on(PutCommand).callsFake((input: { Item: { writer: string } }) => {
      writer = input.Item.writer;
      throw taken();
    });
    expect(await store().append(lobby, (seq) => `frame ${seq}`, 123)).toEqual({ seq: 42, conflicts: 0 });
  });

  it('on a taken seq jumps past the latest stored message and tries again', async () => {
    doc.on(GetCommand).resolves({ Item: { latest: 5 } });
    doc.on(PutCommand).rejectsOnce(taken()).resolves({});
    doc.on(QueryCommand).resolves({ Items: [{ seq: 9 }] });
    expect(await store().append(lobby, (seq) => String(seq), 1)).toEqual({ seq: 10, conflicts: 1 });
  });

  it('moves the head forward only: an older seq leaves it alone', async () => {
    doc.on(UpdateCommand).rejects(taken());
    await expect(store().advance(lobby, 3)).resolves.toBeUndefined();
    expect(doc.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      Key: { pk: 'STREAM#ROOM#lobby', sk: '#HEAD' },
      ConditionExpression: 'attribute_not_exists(latest) OR latest < :seq',
    });
  });
});
