import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type BackendEvent, BackendEvents } from '../../../lambdas/domain/events.js';
import { RoomcastService } from '../../../lambdas/domain/service.js';
import { createMessageHandler } from '../../../lambdas/handlers/message.js';
import type { WsEvent } from '../../../lambdas/handlers/wrapper.js';
import { CountingSink, fakeRuntime, memoryStreams } from '../fakes.js';

const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../../fixtures/${name}.json`, import.meta.url), 'utf8')) as T;

describe('handler wrapper and events to backends', () => {
  it('sends events while it works and waits for them before the invocation ends and its answer goes out', async () => {
    const { runtime, store, gateway, clock } = fakeRuntime();
    const log: string[] = [];
    const publisher = {
      async publish(events: BackendEvent[]) {
        log.push(`publishing ${events.map((e) => e.detailType).join(',')}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        log.push('published');
      },
    };
    const events = new BackendEvents({
      publisher,
      source: 'roomcast.test',
      metrics: new CountingSink(),
      clock,
      timeoutMs: 1000,
      warn: () => undefined,
    });
    const service = new RoomcastService({
      store,
      gateway,
      clock,
      metrics: new CountingSink(),
      events,
      streams: memoryStreams(clock, new CountingSink()),
      ids: { messageId: () => '01JD4Z3M8N6V0Q2W7E5R9T1Y00' },
      settings: { maxDataBytes: 32 * 1024, fanoutConcurrency: 4, connectionTtlSeconds: 7800 },
    });
    const join = fixture<WsEvent>('message-join');
    await store.putConnection({
      connectionId: join.requestContext.connectionId,
      userId: 'alice',
      connectedAt: clock.now(),
      expiresAt: Math.floor(clock.now() / 1000) + 3600,
    });

    const result = await createMessageHandler({ ...runtime, service, events })(join);
    log.push(`answer ${JSON.parse(result.body ?? '{}').type}`);

    // The answer is the route's returned body (two-way routes): API Gateway sends it when the
    // invocation ends, which is after the bounded wait for the events, so Lambda never freezes a
    // publish half done.
    expect(log).toEqual(['publishing room.joined', 'published', 'answer ack']);
    expect(gateway.posts).toHaveLength(0);
  });
});
