import { describe, expect, it } from 'vitest';
import { METRICS } from '../../../lambdas/domain/constants.js';
import { RoomcastError } from '../../../lambdas/domain/errors.js';
import { type BackendEvent, BackendEvents, MAX_EVENT_ENTRY_BYTES } from '../../../lambdas/domain/events.js';
import type { EventPublisher } from '../../../lambdas/domain/ports.js';
import { RoomcastService } from '../../../lambdas/domain/service.js';
import { CountingSink, fixedClock, MemoryStore, memoryStreams, RecordingGateway } from '../fakes.js';

/** A publisher that records what it accepted, or fails, or never answers, as told. */
class RecordingPublisher implements EventPublisher {
  readonly published: BackendEvent[] = [];
  mode: 'accept' | 'fail' | 'hang' = 'accept';
  async publish(events: BackendEvent[]): Promise<void> {
    if (this.mode === 'fail') throw new Error('bus unreachable');
    if (this.mode === 'hang') return new Promise(() => undefined);
    this.published.push(...events);
  }
  /** Each event as text, its `ts` left out but required (every event is stamped with when it happened). */
  types() {
    return this.published.map((e) => {
      const { ts, ...rest } = e.detail as { ts?: number };
      return `${e.detailType} ${JSON.stringify(rest)}${typeof ts === 'number' ? '' : ' (no ts)'}`;
    });
  }
}

function setup(options: { publisher?: boolean; maxDataBytes?: number } = {}) {
  const clock = fixedClock();
  const store = new MemoryStore(clock);
  const gateway = new RecordingGateway();
  const metrics = new CountingSink();
  const publisher = new RecordingPublisher();
  const warnings: string[] = [];
  const events = new BackendEvents({
    publisher: options.publisher === false ? undefined : publisher,
    source: 'roomcast.test',
    metrics,
    clock,
    timeoutMs: 20,
    warn: (message) => warnings.push(message),
  });
  let seq = 0;
  const service = new RoomcastService({
    store,
    gateway,
    clock,
    metrics,
    events,
    streams: memoryStreams(clock, metrics),
    ids: { messageId: () => `01JD4Z3M8N6V0Q2W7E5R9T1Y${String(seq++).padStart(2, '0')}` },
    settings: {
      maxDataBytes: options.maxDataBytes ?? 32 * 1024,
      fanoutConcurrency: 4,
      connectionTtlSeconds: 7800,
    },
  });
  return { service, store, gateway, metrics, publisher, warnings, clock, events };
}

const caller = (connectionId: string, userId: string) => ({ connectionId, userId, rooms: [] });

describe('events to backends from the use cases', () => {
  it('announces a user online on the first connection and offline after the last', async () => {
    const { service, publisher, clock } = setup();
    await service.connect('c1', 'alice', clock.now());
    await service.connect('c2', 'alice', clock.now());
    await service.disconnect('c1');
    await service.disconnect('c2');
    await service.disconnect('c2');

    expect(publisher.types()).toEqual([
      `connection.opened {"connectionId":"c1","userId":"alice","connectedAt":${clock.now()}}`,
      'user.online {"userId":"alice"}',
      `connection.opened {"connectionId":"c2","userId":"alice","connectedAt":${clock.now()}}`,
      'connection.closed {"connectionId":"c1","userId":"alice","reason":"client"}',
      'connection.closed {"connectionId":"c2","userId":"alice","reason":"client"}',
      'user.offline {"userId":"alice"}',
    ]);
  });

  it('says why a connection closed: a backend close is server, a prune after 410 is gone', async () => {
    const { service, publisher, gateway, clock } = setup();
    await service.connect('a', 'alice', clock.now());
    await service.connect('b', 'bob', clock.now());
    await service.connect('c', 'carol', clock.now());
    await service.closeConnection('a');
    await service.closeUserConnections('bob');
    gateway.outcomes.set('c', 'gone');
    await service.push({ connectionId: 'c', event: 'x', data: null });

    const closed = publisher.published.filter((e) => e.detailType === 'connection.closed');
    expect(closed.map((e) => e.detail)).toEqual([
      { connectionId: 'a', userId: 'alice', reason: 'server', ts: clock.now() },
      { connectionId: 'b', userId: 'bob', reason: 'server', ts: clock.now() },
      { connectionId: 'c', userId: 'carol', reason: 'gone', ts: clock.now() },
    ]);
  });

  it('keeps the reason server when the $disconnect that the close causes arrives during the close', async () => {
    const { service, publisher, gateway, clock } = setup();
    await service.connect('a', 'alice', clock.now());
    gateway.close = async (id) => {
      await service.disconnect(id); // as API Gateway runs $disconnect for a DeleteConnection
      return true;
    };
    await service.closeConnection('a');
    const closed = publisher.published.filter((e) => e.detailType === 'connection.closed');
    expect(closed.map((e) => e.detail)).toEqual([
      { connectionId: 'a', userId: 'alice', reason: 'server', ts: clock.now() },
    ]);
  });

  it('announces joins and leaves of rooms, by clients and backends, once per change', async () => {
    const { service, publisher, clock } = setup();
    await service.connect('a', 'alice', clock.now());
    publisher.published.length = 0;
    await service.handleFrame({ action: 'join', room: 'lobby' }, caller('a', 'alice'));
    await service.handleFrame({ action: 'join', room: 'lobby' }, caller('a', 'alice'));
    await service.handleFrame({ action: 'leave', room: 'lobby' }, caller('a', 'alice'));
    await service.handleFrame({ action: 'leave', room: 'lobby' }, caller('a', 'alice'));
    await service.joinUser('team', 'alice');
    await service.leaveUser('team', 'alice');

    expect(publisher.types()).toEqual([
      'room.joined {"room":"lobby","userId":"alice","connectionId":"a"}',
      'room.left {"room":"lobby","userId":"alice","connectionId":"a"}',
      'room.joined {"room":"team","userId":"alice","connectionId":"a"}',
      'room.left {"room":"team","userId":"alice","connectionId":"a"}',
    ]);
  });

  it('never fails nor holds a request for long when the publisher fails or hangs', async () => {
    const { service, publisher, metrics, warnings, clock, store, events } = setup();
    publisher.mode = 'fail';
    await service.connect('a', 'alice', clock.now());
    await events.settle();
    publisher.mode = 'hang';
    await service.handleFrame({ action: 'join', room: 'lobby' }, caller('a', 'alice'));
    await events.settle(); // what the handler wrapper does once the answer is out: bounded
    await events.settle(); // a request that waited in vain is not waited for again

    expect(await store.isMember('lobby', 'a')).toBe(true);
    expect(metrics.counts.get(METRICS.eventsFailed)).toBe(2);
    expect(metrics.counts.get(METRICS.eventsSlow)).toBe(1);
    expect(warnings).toHaveLength(2);
  });

  it('acks emit with the messageId once the publisher accepted client.event', async () => {
    const { service, publisher, clock } = setup();
    const ack = await service.handleFrame(
      { action: 'emit', id: 'e1', event: 'order.created', data: { id: 7 } },
      caller('a', 'alice'),
    );
    expect(ack).toEqual({ type: 'ack', id: 'e1', ok: true, messageId: expect.any(String), ts: clock.now() });
    expect(publisher.published).toEqual([
      {
        detailType: 'client.event',
        detail: {
          userId: 'alice',
          connectionId: 'a',
          event: 'order.created',
          data: { id: 7 },
          messageId: (ack as { messageId: string }).messageId,
          ts: clock.now(),
        },
      },
    ]);
  });

  it('answers emit with INTERNAL when the event was not accepted, and NOT_FOUND when events are off', async () => {
    const failing = setup();
    failing.publisher.mode = 'fail';
    const emit = { action: 'emit' as const, event: 'x', data: null };
    await expect(failing.service.handleFrame(emit, caller('a', 'alice'))).rejects.toMatchObject({
      code: 'INTERNAL',
    });
    const off = setup({ publisher: false });
    await expect(off.service.handleFrame(emit, caller('a', 'alice'))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('refuses emit data over the data limit and events over 256 KB with PAYLOAD_TOO_LARGE', async () => {
    const small = setup({ maxDataBytes: 10 });
    const tooBig = { action: 'emit' as const, event: 'x', data: 'x'.repeat(20) };
    await expect(small.service.handleFrame(tooBig, caller('a', 'alice'))).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    const large = setup({ maxDataBytes: 1024 * 1024 });
    const huge = { action: 'emit' as const, event: 'x', data: 'x'.repeat(MAX_EVENT_ENTRY_BYTES) };
    const refused = await large.service.handleFrame(huge, caller('a', 'alice')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RoomcastError);
    expect(refused).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(large.publisher.published).toEqual([]);
  });
});
