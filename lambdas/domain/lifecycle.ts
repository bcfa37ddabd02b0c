/**
 * A connection's life: opened on `$connect`, closed on `$disconnect` or when a
 * delivery finds it gone, settled when DynamoDB's TTL removed what no handler
 * did. Functions over the ports only, apart from RoomcastService, so that the
 * `$connect`, `$disconnect` and stream functions bundle no frame parsing, no
 * streams and no queue (issue 11's bundle budget).
 */

import { METRICS } from './constants.js';
import {
  type BackendEvent,
  type BackendEvents,
  type CloseReason,
  closedEvents,
  EVENT_TYPES,
} from './events.js';
import type { ConnectionGateway, ConnectionRecord, ConnectionStore, MetricSink, Settled } from './ports.js';
import { announce, type PresenceDeps, type PresenceFanout, roomLeftEvents } from './presence.js';

/** What opening a connection needs: no @connections client. */
export interface OpenDeps {
  store: ConnectionStore;
  metrics: MetricSink;
  /** Events to backends; absent when they are off. */
  events?: BackendEvents;
  /** How long a stored connection lives without a `$disconnect`. */
  connectionTtlSeconds: number;
}

/** What closing one needs too: presence rooms are told, through @connections. */
export interface CloseDeps extends Omit<OpenDeps, 'connectionTtlSeconds'> {
  gateway: ConnectionGateway;
  /** Posts in flight at once while announcing. */
  concurrency: number;
  /** Where announcements to large rooms go (absent: all are posted inline). */
  fanout?: PresenceFanout;
}

/** The epoch second a connection (and every membership of it) expires, from when it opened. */
export function connectionExpiry(connectedAtMs: number, ttlSeconds: number): number {
  return Math.floor(connectedAtMs / 1000) + ttlSeconds;
}

/** Stores a new connection; backends hear of it, and of the user coming online on its first. */
export async function openConnection(
  deps: OpenDeps,
  connectionId: string,
  userId: string,
  connectedAt: number,
): Promise<void> {
  const record: ConnectionRecord = {
    connectionId,
    userId,
    connectedAt,
    expiresAt: connectionExpiry(connectedAt, deps.connectionTtlSeconds),
  };
  const { firstOfUser, version } = await deps.store.putConnection(record);
  deps.metrics.count(METRICS.connectionsOpened);
  const opened: BackendEvent = {
    detailType: EVENT_TYPES.connectionOpened,
    detail: { connectionId, userId, connectedAt },
  };
  deps.events?.notify(
    firstOfUser
      ? [
          opened,
          {
            detailType: EVENT_TYPES.userOnline,
            detail: { userId, ...(version === undefined ? {} : { version }) },
          },
        ]
      : [opened],
  );
}

/**
 * Forgets a connection and its memberships; backends and presence rooms are told what it left,
 * also when its item was already gone but memberships were left behind (those leaves are
 * announced by whoever removes them, once).
 */
export async function closeConnection(
  deps: CloseDeps,
  connectionId: string,
  reason: CloseReason = 'client',
): Promise<void> {
  const removed = await deps.store.removeConnection(connectionId);
  if (removed.connection) deps.metrics.count(METRICS.connectionsClosed);
  await announceSettled(deps, removed, reason);
  // What was removed is announced first: a retry would find it gone and announce nothing.
  if ('failure' in removed) throw removed.failure;
}

/** What a TTL deletion settled: events to backends and presence announcements (the stream consumer). */
export function announceExpired(deps: CloseDeps, expired: Settled): Promise<void> {
  return announceSettled(deps, expired, 'expired');
}

/**
 * A membership the reconciliation deleted because its connection is gone (a `$disconnect` that
 * stopped half way): its counters are settled, and backends and the room told it left.
 */
export async function settleOrphanMembership(deps: CloseDeps, item: Record<string, unknown>): Promise<void> {
  await announceSettled(deps, await deps.store.settleExpired(item), 'gone');
}

async function announceSettled(deps: CloseDeps, settled: Settled, reason: CloseReason): Promise<void> {
  const { connection, rooms } = settled;
  deps.events?.notify([...roomLeftEvents(rooms), ...(connection ? closedEvents(connection, reason) : [])]);
  await announce(presenceOf(deps), 'leave', rooms);
}

/** Announcing over the same deps; a connection an announcement finds gone is closed in turn. */
export function presenceOf(deps: CloseDeps): PresenceDeps {
  return {
    store: deps.store,
    gateway: deps.gateway,
    concurrency: deps.concurrency,
    prune: (id: string) => closeConnection(deps, id, 'gone'),
    ...(deps.fanout ? { fanout: deps.fanout } : {}),
  };
}
