import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { DynamoJobLedger } from '../../../lambdas/adapters/dynamo-ledger.js';
import { settleOrphanMembership } from '../../../lambdas/domain/lifecycle.js';
import type { LambdaName } from '../../../lambdas/entries/index.js';
import { createConnectHandler } from '../../../lambdas/handlers/connect.js';
import { createDisconnectHandler } from '../../../lambdas/handlers/disconnect.js';
import { createExpiryHandler } from '../../../lambdas/handlers/expiry.js';
import { createMessageHandler } from '../../../lambdas/handlers/message.js';
import { createPushHandler } from '../../../lambdas/handlers/push.js';
import { createReconcileHandler } from '../../../lambdas/handlers/reconcile.js';
import type { WsEvent } from '../../../lambdas/handlers/wrapper.js';
import { closeDeps } from '../../../lambdas/runtime.js';
import { STORE_CALLS } from '../../../lib/constructs/table.js';
import { FUNCTION_BINDINGS } from '../../../lib/stack.js';
import { fakeRuntime, fixedClock } from '../fakes.js';

/**
 * The grants of each function (FUNCTION_BINDINGS, lib/stack.ts) list the store
 * operations its code path calls. These tests drive each handler through every
 * path with an in-memory store that records which operations were called, and
 * compare: a call missing from the table would be AccessDenied on AWS, an entry
 * no path calls is a grant too many.
 */

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../fixtures/${name}.json`, import.meta.url), 'utf8')) as T;
}

const CID = 'Yx2bXc4hjoECJ-w=';
const GONE = 'Zz9gone0000000w=';

/** A fake runtime whose store records every operation called on it. */
function recordingRuntime() {
  const parts = fakeRuntime();
  const called = new Set<string>();
  const store = parts.store as unknown as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(parts.store))) {
    const original = store[name];
    // Only the port's operations (STORE_CALLS has one entry for each), not the fake's helpers.
    if (!(name in STORE_CALLS) || typeof original !== 'function') continue;
    store[name] = (...args: unknown[]) => {
      called.add(name);
      return (original as (...a: unknown[]) => unknown).apply(parts.store, args);
    };
  }
  /** Seeds the store without recording: alice on CID and on a connection that is gone, both in lobby. */
  const seed = async () => {
    const { store: memory, gateway } = parts;
    for (const connectionId of [CID, GONE]) {
      memory.connections.set(connectionId, {
        connectionId,
        userId: 'alice',
        connectedAt: 1,
        expiresAt: 4_102_444_800,
      });
      const room = memory.members.get('lobby') ?? new Map();
      room.set(connectionId, {
        room: 'lobby',
        connectionId,
        userId: 'alice',
        joinedAt: 1,
        expiresAt: 4_102_444_800,
      });
      memory.members.set('lobby', room);
      // A presence room too: joins and leaves there are announced to its members.
      const presence = memory.members.get('presence-lobby') ?? new Map();
      // (the gone connection counted as bob's there, so alice's own connection is her last in it)
      presence.set(connectionId, {
        ...room.get(connectionId),
        room: 'presence-lobby',
        userId: connectionId === GONE ? 'bob' : 'alice',
      });
      memory.members.set('presence-lobby', presence);
    }
    gateway.outcomes.set(GONE, 'gone');
  };
  return { ...parts, called, seed };
}

const declared = (name: LambdaName) => [...(FUNCTION_BINDINGS[name].store ?? [])].sort();
const sorted = (set: Set<string>) => [...set].sort();

function frame(body: object, withAuthorizer = true): WsEvent {
  const event = fixture<WsEvent>('message-join');
  event.body = JSON.stringify(body);
  if (!withAuthorizer) event.requestContext.authorizer = null;
  return event;
}

function http(method: string, path: string, body?: object): APIGatewayProxyEventV2 {
  const event = fixture<APIGatewayProxyEventV2>('http-push');
  event.rawPath = path;
  event.requestContext.http.method = method;
  event.isBase64Encoded = false;
  event.body = body === undefined ? '' : JSON.stringify(body);
  return event;
}

describe('each function calls exactly the store operations its grants list', () => {
  it('connect', async () => {
    const { runtime, called } = recordingRuntime();
    await createConnectHandler(runtime)(fixture<WsEvent>('connect'));
    expect(sorted(called)).toEqual(declared('connect'));
  });

  it('disconnect', async () => {
    const { runtime, called, seed } = recordingRuntime();
    await seed();
    await createDisconnectHandler(runtime)(fixture<WsEvent>('disconnect'));
    expect(sorted(called)).toEqual(declared('disconnect'));
  });

  it('message: join, leave, send (with a prune), direct, ping, and a frame without authorizer context', async () => {
    const { runtime, called, seed } = recordingRuntime();
    await seed();
    const handler = createMessageHandler(runtime);
    for (const event of [
      frame({ action: 'join', id: '1', room: 'lobby' }),
      frame({ action: 'send', id: '2', room: 'lobby', event: 'chat', data: 1 }),
      frame({ action: 'direct', id: '3', userId: 'alice', event: 'dm', data: 1 }),
      frame({ action: 'ping', id: '4' }, false),
      frame({ action: 'leave', id: '5', room: 'lobby' }),
      frame({ action: 'presence', id: '6', room: 'presence-lobby' }),
    ]) {
      const answer = await handler(event);
      expect(answer.statusCode).toBe(200);
      expect(JSON.parse(answer.body ?? '{}').type).not.toBe('error');
    }
    expect(sorted(called)).toEqual(declared('message'));
  });

  it('push: every /v1 route', async () => {
    const { runtime, called, seed } = recordingRuntime();
    await seed();
    const handler = createPushHandler(runtime, async () => ['test-key']);
    const requests = [
      http('GET', '/v1/health'),
      http('GET', '/v1/stats'),
      http('POST', '/v1/push', { room: 'lobby', event: 'e', data: 1 }),
      http('POST', '/v1/push', { userId: 'alice', event: 'e', data: 1 }),
      http('POST', '/v1/push', { connectionId: CID, event: 'e', data: 1 }),
      http('POST', '/v1/push/batch', { messages: [{ broadcast: true, event: 'e', data: 1 }] }),
      http('GET', '/v1/users/alice'),
      http('GET', '/v1/rooms/lobby'),
      http('GET', '/v1/rooms/presence-lobby/presence'),
      http('POST', '/v1/rooms/team/members', { userId: 'alice' }),
      http('DELETE', '/v1/rooms/team/members/alice'),
      http('DELETE', `/v1/connections/${encodeURIComponent(CID)}`),
      http('DELETE', '/v1/users/alice/connections'),
    ];
    for (const request of requests) {
      const answer = await handler(request);
      expect(answer.statusCode, `${request.requestContext.http.method} ${request.rawPath}`).toBeLessThan(300);
    }
    expect(sorted(called)).toEqual(declared('push'));
  });

  it('expiry: notes its lag, settles the counters, announces the presence leave (and prunes a gone member)', async () => {
    const { runtime, called, seed } = recordingRuntime();
    await seed();
    const record: DynamoDBRecord = {
      eventName: 'REMOVE',
      userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' },
      dynamodb: {
        SequenceNumber: '1',
        ApproximateCreationDateTime: Math.floor(runtime.clock.now() / 1000),
        OldImage: { pk: { S: `CONN#${CID}` }, sk: { S: 'META' }, userId: { S: 'alice' } },
      },
    };
    await createExpiryHandler(runtime)({ Records: [record] });
    expect(sorted(called)).toEqual(declared('expiry'));
  });

  it('reconcile: recounts, then settles an orphan membership it deleted and announces its leave (and prunes a gone member)', async () => {
    const { runtime, called, seed } = recordingRuntime();
    await seed();
    const deps = closeDeps(runtime);
    // As the entry composes it: the table's recount, and each orphan membership it deletes settled.
    const orphan = {
      pk: 'ROOM#presence-lobby',
      sk: `CONN#${CID}`,
      room: 'presence-lobby',
      connectionId: CID,
      userId: 'alice',
    };
    await createReconcileHandler({
      ...runtime,
      reconcile: async () => {
        const report = await runtime.store.reconcile();
        await settleOrphanMembership(deps, orphan);
        return report;
      },
    })();
    expect(sorted(called)).toEqual(declared('reconcile'));
  });

  it('authorizer: no store at all', () => {
    expect(FUNCTION_BINDINGS.authorizer.store).toBeUndefined();
  });

  it('every store operation a binding names is one the ports have (the store, or the fan-out job ledger)', () => {
    const { store } = fakeRuntime();
    const ledger = new DynamoJobLedger(
      DynamoDBDocumentClient.from(new DynamoDBClient({})),
      't',
      fixedClock(),
    );
    for (const name of Object.keys(FUNCTION_BINDINGS) as LambdaName[]) {
      for (const operation of FUNCTION_BINDINGS[name].store ?? []) {
        const owner = operation in ledger ? ledger : store;
        expect(typeof (owner as unknown as Record<string, unknown>)[operation], `${name}: ${operation}`).toBe(
          'function',
        );
      }
    }
  });
});
