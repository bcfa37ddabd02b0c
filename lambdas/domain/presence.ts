/**
 * Presence (CONTRACT section 7): who is in a room, and in `presence-` rooms the
 * announcements when a user's first connection joins or last connection leaves.
 * The store keeps per-room per-user connection counts with the same writes that
 * join and leave, and reports their 0↔1 transitions (`RoomChange.userChanged`);
 * this module turns those into answers and frames. Nothing here scans a room.
 */

import { LIMITS } from './constants.js';
import { type BackendEvent, EVENT_TYPES } from './events.js';
import { fanOut } from './fanout.js';
import type { PresenceEventFrame } from './frames.js';
import type { ConnectionGateway, ConnectionStore, RoomChange } from './ports.js';

/** Rooms whose members are told when users join and leave. */
export function isPresenceRoom(room: string): boolean {
  return room.startsWith('presence-') || room.startsWith('private-presence-');
}

export interface PresenceDeps {
  store: ConnectionStore;
  gateway: ConnectionGateway;
  concurrency: number;
  /** Removes a connection an announcement found gone (410). */
  prune: (connectionId: string) => Promise<unknown>;
}

export interface PresenceList {
  room: string;
  count: number;
  users: { userId: string; connections: number }[];
}

/** The room's users (the first 1,000) with their connection counts, and the total. */
export async function listPresence(store: ConnectionStore, room: string): Promise<PresenceList> {
  const { count, users } = await store.roomPresence(room, LIMITS.maxPresenceUsers);
  return { room, count, users };
}

/**
 * Announces membership changes in presence rooms: a `join` for each change that
 * was a user's first connection in the room, a `leave` for each that was its last.
 * The connection that caused the change is not told. Never throws: an announcement
 * that fails is lost, like any live frame.
 */
export async function announce(
  deps: PresenceDeps,
  event: PresenceEventFrame['event'],
  changes: readonly RoomChange[],
): Promise<void> {
  const announced = changes.filter((c) => c.userChanged && isPresenceRoom(c.room));
  await Promise.all(
    announced.map(async (change) => {
      const frame: PresenceEventFrame = { type: 'presence', room: change.room, event, userId: change.userId };
      try {
        await fanOut(deps.store.roomConnectionIds(change.room), JSON.stringify(frame), {
          gateway: deps.gateway,
          prune: deps.prune,
          concurrency: deps.concurrency,
          except: new Set([change.connectionId]),
        });
      } catch {
        // The room's members could not be read: this live announcement is lost, the change itself is stored.
      }
    }),
  );
}

/** `room.left` events for memberships removed with a connection (closed, pruned or expired). */
export function roomLeftEvents(changes: readonly RoomChange[]): BackendEvent[] {
  return changes.map((c) => ({
    detailType: EVENT_TYPES.roomLeft,
    detail: { room: c.room, userId: c.userId, connectionId: c.connectionId },
  }));
}
