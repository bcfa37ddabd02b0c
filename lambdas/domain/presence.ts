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
import { type FanoutQueue, planJob } from './fanout-plan.js';
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
  /**
   * Announcements to rooms of more than `inlineLimit` members go to the fan-out workers, like any
   * fan-out that large (CONTRACT section 10); absent: every announcement is posted here.
   */
  fanout?: PresenceFanout;
}

export interface PresenceFanout {
  queue: FanoutQueue;
  inlineLimit: number;
  /** A fresh id for a queued announcement's jobs. */
  newId: () => string;
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

/** Room for the presence answer's own fields (type, id, count) besides its room name, in one frame. */
const PRESENCE_ENVELOPE_BYTES = 1024;

/**
 * The list as one WebSocket answer can carry it (128 KiB): the first users whose entries fit, which
 * is all of them unless their ids are long; `count` stays the room's total.
 */
export function fitPresence(list: PresenceList): PresenceList {
  const budget = LIMITS.maxMessageBytes - PRESENCE_ENVELOPE_BYTES - Buffer.byteLength(list.room);
  let used = 0;
  let fits = 0;
  for (const user of list.users) {
    used += Buffer.byteLength(JSON.stringify(user)) + 1;
    if (used > budget) break;
    fits += 1;
  }
  return fits === list.users.length ? list : { ...list, users: list.users.slice(0, fits) };
}

/** Reads of a user's count in a room after an announcement, each after a correction it made. */
const PRESENCE_RECHECKS = 5;

/**
 * Announces membership changes in presence rooms: a `join` for each change that
 * was a user's first connection in the room, a `leave` for each that was its last.
 * The connection that caused the change is not told. A room larger than the inline
 * limit (its counter, read with the change) is announced by the fan-out workers:
 * one plan job, as for a push. Never throws: an announcement that fails (the room
 * unreadable, the queue unavailable) is lost, like any live frame.
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
      const payload = JSON.stringify(frame);
      try {
        const { fanout } = deps;
        if (fanout && isQueued(deps, change)) {
          const plan = planJob(fanout.newId(), payload, { room: change.room }, [change.connectionId], {
            room: change.room,
            userId: change.userId,
            event,
          });
          await fanout.queue.enqueue([plan]);
          return;
        }
        const post = (text: string) =>
          fanOut(deps.store.roomConnectionIds(change.room), text, {
            gateway: deps.gateway,
            prune: deps.prune,
            concurrency: deps.concurrency,
            except: new Set([change.connectionId]),
          });
        await post(payload);
        // Another change of this user in the room (a leave racing this join, a join this leave) may
        // have been announced meanwhile and reached members before this frame: they would be left
        // with this one, now untrue. Read again after posting; while what was sent last no longer
        // holds, the truth goes out after it, and is checked in turn (a member may hear join,
        // leave, leave: the last one counts). Each round needs the user to have changed again
        // during the previous post; a few rounds bound a user who flaps without end.
        let sent = event;
        for (let round = 0; round < PRESENCE_RECHECKS; round += 1) {
          const present = (await deps.store.roomUserConnections(change.room, change.userId)) > 0;
          if (present === (sent === 'join')) break;
          sent = present ? 'join' : 'leave';
          await post(JSON.stringify({ ...frame, event: sent }));
        }
      } catch {
        // The room's members could not be read or the queue did not take the job: this live
        // announcement is lost, the change itself is stored.
      }
    }),
  );
}

/** Whether the announcement of this change goes to the fan-out workers (a room past the inline limit). */
export function isQueued(deps: PresenceDeps, change: RoomChange): boolean {
  return deps.fanout !== undefined && change.members > deps.fanout.inlineLimit;
}

/** `room.left` events for memberships removed with a connection (closed, pruned or expired). */
export function roomLeftEvents(changes: readonly RoomChange[]): BackendEvent[] {
  return changes.map((c) => ({
    detailType: EVENT_TYPES.roomLeft,
    detail: { room: c.room, userId: c.userId, connectionId: c.connectionId },
  }));
}
