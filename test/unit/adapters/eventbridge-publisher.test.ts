import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  EventBridgePublisher,
  EventsNotSentError,
  PUT_EVENTS_MAX_ENTRIES,
} from '../../../lambdas/adapters/eventbridge-publisher.js';
import { METRICS } from '../../../lambdas/domain/constants.js';
import { type BackendEvent, EVENT_TYPES } from '../../../lambdas/domain/events.js';
import { CountingSink } from '../fakes.js';

const sdk = mockClient(EventBridgeClient);

function publisher(sleeps: number[] = []) {
  const metrics = new CountingSink();
  const bus = new EventBridgePublisher(new EventBridgeClient({ region: 'us-east-1' }), {
    busName: 'roomcast-dev',
    source: 'roomcast.dev',
    metrics,
    maxAttempts: 3,
    baseDelayMs: 10,
    capDelayMs: 30,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.99,
  });
  return { bus, metrics };
}

const online = (n: number): BackendEvent => ({
  detailType: EVENT_TYPES.userOnline,
  detail: { userId: `u${n}` },
});
const events = (count: number) => Array.from({ length: count }, (_, i) => online(i));
const ok = (n: number) => ({
  FailedEntryCount: 0,
  Entries: Array.from({ length: n }, () => ({ EventId: 'e' })),
});

beforeEach(() => sdk.reset());

describe('EventBridgePublisher', () => {
  it('puts events in batches of at most 10 entries, on the bus with the stage source', async () => {
    sdk.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ok(input.Entries.length));
    const { bus, metrics } = publisher();

    await bus.publish(events(23));

    const calls = sdk.commandCalls(PutEventsCommand);
    expect(calls.map((c) => c.args[0].input.Entries?.length)).toEqual([10, 10, 3]);
    expect(calls[0]?.args[0].input.Entries?.[0]).toEqual({
      EventBusName: 'roomcast-dev',
      Source: 'roomcast.dev',
      DetailType: 'user.online',
      Detail: '{"userId":"u0"}',
    });
    expect(PUT_EVENTS_MAX_ENTRIES).toBe(10);
    expect(metrics.counts.get(METRICS.eventsPublished)).toBe(23);
    expect(metrics.counts.get(METRICS.eventsFailed)).toBeUndefined();
  });

  it('retries only the failed entries of a partial failure, with capped backoff', async () => {
    const sleeps: number[] = [];
    sdk
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [
          { EventId: 'a' },
          { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' },
          { EventId: 'c' },
          { ErrorCode: 'InternalFailure', ErrorMessage: 'oops' },
        ],
      })
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'b' }, { ErrorCode: 'InternalFailure' }] })
      .resolvesOnce(ok(1));
    const { bus, metrics } = publisher(sleeps);

    await bus.publish(events(4));

    const sent = sdk.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries?.map((e) => e.Detail));
    expect(sent).toEqual([
      ['{"userId":"u0"}', '{"userId":"u1"}', '{"userId":"u2"}', '{"userId":"u3"}'],
      ['{"userId":"u1"}', '{"userId":"u3"}'],
      ['{"userId":"u3"}'],
    ]);
    expect(sleeps).toEqual([19, 29]); // min(cap 30, 10·2^n) with jitter 0.99
    expect(metrics.counts.get(METRICS.eventsPublished)).toBe(4);
    expect(metrics.counts.get(METRICS.eventsFailed)).toBeUndefined();
  });

  it('gives up after its attempts, counts what was not sent and rejects', async () => {
    sdk
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'a' }, { ErrorCode: 'InternalFailure' }] })
      .rejects(new Error('network down'));
    const { bus, metrics } = publisher();

    await expect(bus.publish(events(2))).rejects.toBeInstanceOf(EventsNotSentError);

    expect(sdk.commandCalls(PutEventsCommand)).toHaveLength(3);
    expect(metrics.counts.get(METRICS.eventsFailed)).toBe(1);
    expect(metrics.counts.get(METRICS.eventsPublished)).toBe(1);
  });
});
