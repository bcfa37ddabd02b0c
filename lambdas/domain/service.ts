import { METRICS } from './constants.js';
import { ForbiddenError, NotFoundError, UnavailableError } from './errors.js';
import { type BackendEvent, type BackendEvents, type CloseReason, EVENT_TYPES } from './events.js';
import { type FanoutResult, fanOut, type Targets } from './fanout.js';
import { type FanoutQueue, type FanoutTarget, planJob } from './fanout-plan.js';
import { ackFrame, messageFrame, pongFrame, roomFrame, type ServerFrame } from './frames.js';
import {
  type CloseDeps,
  closeConnection,
  connectionExpiry,
  type OpenDeps,
  openConnection,
  presenceOf,
} from './lifecycle.js';
import { mayJoin } from './permissions.js';
import type {
  Clock,
  ConnectionGateway,
  ConnectionStore,
  IdGenerator,
  MemberRecord,
  MetricSink,
  Page,
  Stats,
  StreamId,
  TargetPage,
} from './ports.js';
import { announce, fitPresence, isQueued, listPresence, type PresenceList } from './presence.js';
import type { ClientRateLimit } from './rate-limit.js';
import { assertDataSize, type ClientFrame, type PushBody } from './schemas.js';
import { type KeyedRun, roomStream, type Streams, userStream } from './streams.js';

export interface ServiceSettings {
  /** Largest serialized `data` of one message, in bytes. */
  maxDataBytes: number;
  /** Posts in flight at once during one fan-out. */
  fanoutConcurrency: number;
  /** How long a stored connection lives without a `$disconnect`. */
  connectionTtlSeconds: number;
}

export interface ServiceDeps {
  store: ConnectionStore;
  gateway: ConnectionGateway;
  clock: Clock;
  ids: IdGenerator;
  metrics: MetricSink;
  settings: ServiceSettings;
  /** Per-connection limit of `send` and `direct` (absent: no limit). */
  rateLimit?: ClientRateLimit;
  /** Stored delivery: seq, history, resume, idempotency. */
  streams: Streams;
  /** Events to backends; absent when they are off. */
  events?: BackendEvents;
  /** Fan-outs to more than `inlineLimit` connections go to workers through this queue (absent: all inline). */
  fanout?: { queue: FanoutQueue; inlineLimit: number };
}

/** Who sent a client frame, as the authorizer established it on `$connect`. */
export interface Caller {
  connectionId: string;
  userId: string;
  /** The token's `rooms` claim. */
  rooms: readonly string[];
  /** When the connection opened (API Gateway's `requestContext.connectedAt`), if known: a join then needs no read first. */
  connectedAt?: number;
}

export interface PushResult extends FanoutResult {
  messageId: string;
  /** The message's seq in the room's or user's stream, when it was stored. */
  seq?: number;
  /** Connections a large fan-out was queued for (workers deliver it); absent when delivered inline. */
  queued?: number;
}

/**
 * Who a message goes to: a room or everyone (which may be queued for the workers), a user's
 * connections (read once the message is stored: see publish), or given connections.
 */
type Recipients = { room: string } | { broadcast: true } | { user: string } | { ids: readonly string[] };

/** What a stored (or live-only) publish answers. */
interface Sent extends FanoutResult {
  messageId: string;
  ts: number;
  seq?: number;
  queued?: number;
}

export interface UserPresence {
  userId: string;
  online: boolean;
  connections: { connectionId: string; connectedAt: number }[];
}

/**
 * The roomcast use cases, over the store and gateway ports. Handlers parse and
 * answer; everything they decide is decided here.
 */
export class RoomcastService {
  /** The lifecycle functions' deps (lifecycle.ts) over this service's ports, built once. */
  private readonly lifecycle: CloseDeps & OpenDeps;

  constructor(private readonly deps: ServiceDeps) {
    const { store, gateway, metrics, events, settings, fanout, ids } = deps;
    this.lifecycle = {
      store,
      gateway,
      metrics,
      ...(events ? { events } : {}),
      ...(fanout ? { fanout: { ...fanout, newId: ids.messageId } } : {}),
      concurrency: settings.fanoutConcurrency,
      connectionTtlSeconds: settings.connectionTtlSeconds,
    };
  }

  async connect(connectionId: string, userId: string, connectedAt: number): Promise<void> {
    await openConnection(this.lifecycle, connectionId, userId, connectedAt);
  }

  disconnect(connectionId: string, reason: CloseReason = 'client'): Promise<void> {
    return closeConnection(this.lifecycle, connectionId, reason);
  }

  /** Who is in a room (backends; no join rules). */
  presence(room: string): Promise<PresenceList> {
    return listPresence(this.deps.store, room);
  }

  private presenceDeps() {
    return presenceOf(this.lifecycle);
  }

  /** Carries out one client frame and returns the answer for the sender. */
  async handleFrame(frame: ClientFrame, caller: Caller): Promise<ServerFrame> {
    switch (frame.action) {
      case 'ping':
        return pongFrame(frame.id, this.deps.clock.now(), caller);
      case 'join': {
        if (!mayJoin(frame.room, caller.rooms)) {
          throw new ForbiddenError(`room ${frame.room} is not in your token's rooms claim`);
        }
        if (
          !(await this.joinConnection(frame.room, caller.connectionId, caller.userId, this.expiryOf(caller)))
        ) {
          throw new NotFoundError('this connection is closing; reconnect before joining rooms');
        }
        return ackFrame(frame.id);
      }
      case 'leave':
        await this.leaveConnection(frame.room, caller.connectionId, caller.userId);
        return ackFrame(frame.id);
      case 'emit': {
        assertDataSize(frame.data, this.deps.settings.maxDataBytes);
        await this.deps.rateLimit?.check(caller.connectionId);
        const { events } = this.deps;
        if (!events?.enabled)
          throw new NotFoundError(
            'events to backends are off on this stage (its eventBus setting is none; on the local stack, set ROOMCAST_WEBHOOK_URL)',
          );
        const { id, idempotencyKey, ...body } = frame;
        const { answer, replayed } = await this.deps.streams.once(
          userScope(caller.userId, idempotencyKey),
          body,
          async () => {
            const messageId = this.deps.ids.messageId();
            const ts = this.deps.clock.now();
            const { userId, connectionId } = caller;
            await events.accept({
              detailType: EVENT_TYPES.clientEvent,
              detail: { userId, connectionId, event: frame.event, data: frame.data, messageId, ts },
            });
            return { messageId, ts };
          },
        );
        return ackFrame(id, { ...answer, ...(replayed ? { replayed: true as const } : {}) });
      }
      case 'send': {
        assertDataSize(frame.data, this.deps.settings.maxDataBytes);
        await this.deps.rateLimit?.check(caller.connectionId);
        if (!(await this.deps.store.isMember(frame.room, caller.connectionId))) {
          throw new ForbiddenError(`join room ${frame.room} before sending to it`);
        }
        const { id, idempotencyKey, ...body } = frame;
        const { answer, replayed } = await this.deps.streams.once(
          userScope(caller.userId, idempotencyKey),
          body,
          async (keyed) =>
            ackFields(
              await this.publish(
                { room: frame.room },
                { room: frame.room, event: frame.event, data: frame.data, from: caller.userId },
                new Set([caller.connectionId]),
                frame.store === false ? undefined : roomStream(frame.room),
                keyed,
              ),
            ),
        );
        return ackFrame(id, { ...answer, ...(replayed ? { replayed: true as const } : {}) });
      }
      case 'direct': {
        assertDataSize(frame.data, this.deps.settings.maxDataBytes);
        await this.deps.rateLimit?.check(caller.connectionId);
        const { id, idempotencyKey, ...body } = frame;
        const { answer, replayed } = await this.deps.streams.once(
          userScope(caller.userId, idempotencyKey),
          body,
          async (keyed) => {
            const stream = frame.store === false ? undefined : userStream(frame.userId);
            return ackFields(
              await this.publish(
                await this.userRecipients(frame.userId, stream),
                { event: frame.event, data: frame.data, from: caller.userId },
                new Set([caller.connectionId]),
                stream,
                keyed,
              ),
            );
          },
        );
        return ackFrame(id, { ...answer, ...(replayed ? { replayed: true as const } : {}) });
      }
      case 'resume': {
        const outcome = await this.deps.streams.resume(frame, {
          userId: caller.userId,
          rooms: caller.rooms,
          join: (room) =>
            this.joinConnection(room, caller.connectionId, caller.userId, this.expiryOf(caller)),
          post: async (text) => (await this.deps.gateway.post(caller.connectionId, text)) !== 'gone',
        });
        return ackFrame(frame.id, outcome);
      }
      case 'presence': {
        if (!mayJoin(frame.room, caller.rooms)) {
          throw new ForbiddenError(`room ${frame.room} is not in your token's rooms claim`);
        }
        return {
          type: 'presence',
          ...(frame.id === undefined ? {} : { id: frame.id }),
          ...fitPresence(await listPresence(this.deps.store, frame.room)),
        };
      }
      case 'history': {
        if (!mayJoin(frame.room, caller.rooms)) {
          throw new ForbiddenError(`room ${frame.room} is not in your token's rooms claim`);
        }
        const page = await this.deps.streams.history(frame.room, frame);
        return {
          type: 'history',
          ...(frame.id === undefined ? {} : { id: frame.id }),
          room: frame.room,
          ...page,
        };
      }
    }
  }

  /** A backend push to one target. */
  async push(body: PushBody, idempotencyKey?: string): Promise<PushResult & { replayed: boolean }> {
    assertDataSize(body.data, this.deps.settings.maxDataBytes);
    const { idempotencyKey: own, ...rest } = body;
    const key = idempotencyKey ?? own;
    const { answer, replayed } = await this.deps.streams.once(
      key === undefined ? undefined : `PUSH#${key}`,
      rest,
      (keyed) => this.pushOnce(body, keyed),
    );
    return { ...answer, replayed };
  }

  /**
   * Whom a message to a user goes to: the user's connections, read when the delivery starts when
   * the message is stored; read now when it is not, as then a user with none is NOT_FOUND (an
   * offline user's message waits in the mailbox, unless the mailbox is off).
   */
  private async userRecipients(userId: string, stream: StreamId | undefined): Promise<Recipients> {
    if (stream && this.deps.streams.stores(stream)) return { user: userId };
    const connections = await this.deps.store.userConnections(userId);
    if (connections.length === 0) throw new NotFoundError(`user ${userId} has no open connections`);
    return { ids: connections.map((c) => c.connectionId) };
  }

  private async pushOnce(body: PushBody, keyed: KeyedRun): Promise<PushResult> {
    const except = new Set(body.exceptConnectionId === undefined ? [] : [body.exceptConnectionId]);
    const content = { event: body.event, data: body.data };
    let stream: StreamId | undefined;
    if (body.store !== false && body.room !== undefined) stream = roomStream(body.room);
    if (body.store !== false && body.userId !== undefined) stream = userStream(body.userId);
    let to: Recipients;
    if (body.room !== undefined) {
      to = { room: body.room };
    } else if (body.userId !== undefined) {
      to = { user: body.userId };
    } else if (body.connectionId !== undefined) {
      to = { ids: [body.connectionId] };
    } else {
      to = { broadcast: true };
    }
    const sent = await this.publish(
      to,
      body.room === undefined ? content : { ...content, room: body.room },
      except,
      stream,
      keyed,
    );
    return {
      messageId: sent.messageId,
      ...(sent.seq === undefined ? {} : { seq: sent.seq }),
      delivered: sent.delivered,
      pruned: sent.pruned,
      failed: sent.failed,
      ...(sent.queued === undefined ? {} : { queued: sent.queued }),
    };
  }

  /** A page of a room's history, for backends (no join rules: backends are trusted). */
  history(
    room: string,
    query: { since?: number | undefined; before?: number | undefined; limit?: number | undefined },
  ) {
    return this.deps.streams.history(room, query);
  }

  async user(userId: string): Promise<UserPresence> {
    const connections = await this.deps.store.userConnections(userId);
    return {
      userId,
      online: connections.length > 0,
      connections: connections
        .sort((a, b) => a.connectedAt - b.connectedAt)
        .map((c) => ({ connectionId: c.connectionId, connectedAt: c.connectedAt })),
    };
  }

  async roomMembers(
    room: string,
    page: { limit: number; nextToken?: string },
  ): Promise<{ count: number; members: Page<MemberRecord> }> {
    // The count is the room's counter (the room is not read past this page), unless this one page
    // is the whole room: then the page is the truth, also while the counter still counts a
    // membership that expired and nothing removed yet.
    const { counted, ...members } = await this.deps.store.listMembers(room, page);
    const whole = page.nextToken === undefined && members.nextToken === undefined;
    return { count: whole ? members.items.length : Math.max(counted, members.items.length), members };
  }

  /** Server-side join: every current connection of the user joins the room and is told so. */
  async joinUser(room: string, userId: string): Promise<number> {
    const connections = await this.deps.store.userConnections(userId);
    const joined = await Promise.all(
      connections.map(async (c) => {
        if (!(await this.joinConnection(room, c.connectionId, userId, c.expiresAt))) return false;
        await this.deps.gateway.post(c.connectionId, JSON.stringify(roomFrame('joined', room)));
        return true;
      }),
    );
    return joined.filter(Boolean).length;
  }

  /** Server-side leave: every current connection of the user leaves the room; each one that was in it is told so. */
  async leaveUser(room: string, userId: string): Promise<number> {
    const connections = await this.deps.store.userConnections(userId);
    const left = await Promise.all(
      connections.map(async (c) => {
        if (!(await this.leaveConnection(room, c.connectionId, userId))) return false;
        await this.deps.gateway.post(c.connectionId, JSON.stringify(roomFrame('left', room)));
        return true;
      }),
    );
    return left.filter(Boolean).length;
  }

  /** Closes one connection and forgets it at once ($disconnect is best effort on AWS). */
  async closeConnection(connectionId: string): Promise<void> {
    const connection = await this.deps.store.getConnection(connectionId);
    if (!connection) throw new NotFoundError(`connection ${connectionId} is not open`);
    // Forgotten first, so that the `$disconnect` the close causes finds nothing and the reason stays `server`.
    await this.disconnect(connectionId, 'server');
    await this.deps.gateway.close(connectionId);
  }

  /** Closes every connection of a user; one that fails to close does not stop the others. */
  async closeUserConnections(userId: string): Promise<number> {
    const connections = await this.deps.store.userConnections(userId);
    const outcomes = await Promise.allSettled(
      connections.map(async (c) => {
        await this.disconnect(c.connectionId, 'server');
        await this.deps.gateway.close(c.connectionId);
      }),
    );
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure && outcomes.every((o) => o.status === 'rejected')) throw failure.reason;
    return outcomes.filter((o) => o.status === 'fulfilled').length;
  }

  stats(): Promise<Stats> {
    return this.deps.store.stats();
  }

  checkHealth(): Promise<void> {
    return this.deps.store.checkHealth();
  }

  /** When the caller's connection item expires, if the caller says when it opened. */
  private expiryOf(caller: Caller): number | undefined {
    return caller.connectedAt === undefined
      ? undefined
      : connectionExpiry(caller.connectedAt, this.deps.settings.connectionTtlSeconds);
  }

  /**
   * Joins one connection to a room; false when the connection is not (or no longer) open.
   * `expiresAt` is the connection item's expiry when the caller knows it (a membership lives
   * no longer than its connection); otherwise the connection is read for it first.
   */
  private async joinConnection(
    room: string,
    connectionId: string,
    userId: string,
    expiresAt?: number,
  ): Promise<boolean> {
    const { store } = this.deps;
    const until = expiresAt ?? (await store.getConnection(connectionId))?.expiresAt;
    if (until === undefined) return false;
    const member = { room, connectionId, userId, joinedAt: this.deps.clock.now(), expiresAt: until };
    // The connection may have closed before or while we wrote (its cleanup could have missed this
    // membership): recording the room on the connection after the write is what decides, so no
    // read is needed before it. It runs alongside the counters.
    let open = false;
    const added = await store.addMember(member, async () => {
      open = await store.recordRoom(connectionId, room);
    });
    if (!open) {
      const undone = await store.removeMember(room, connectionId);
      // Another connection of the user may have joined or left between the two writes, and its
      // own write saw no 0↔1 transition: announce what the write and its undo changed together.
      // When the undo found nothing, whoever removed the membership first (the close's cleanup)
      // announced its own transition, and a join announced now would come after that leave.
      // Both transitions (0→1, then 1→0) announce nothing, except in a room announced by the workers:
      // a queued `leave` of the user checked between the two (the user seemed present) was dropped,
      // so the `leave` is sent again (a member that heard the first one hears a repeat).
      if (undone) {
        const presence = this.presenceDeps();
        if (added?.userChanged && !undone.userChanged) await announce(presence, 'join', [added]);
        if (!added?.userChanged && undone.userChanged) await announce(presence, 'leave', [undone]);
        if (added?.userChanged && undone.userChanged && isQueued(presence, undone)) {
          await announce(presence, 'leave', [undone]);
        }
      }
      return false;
    }
    if (added) {
      this.notify([{ detailType: EVENT_TYPES.roomJoined, detail: { room, userId, connectionId } }]);
      await announce(this.presenceDeps(), 'join', [added]);
    }
    return true;
  }

  private async leaveConnection(room: string, connectionId: string, userId: string): Promise<boolean> {
    const left = await this.deps.store.removeMember(room, connectionId);
    if (!left) return false;
    this.notify([{ detailType: EVENT_TYPES.roomLeft, detail: { room, userId, connectionId } }]);
    await announce(this.presenceDeps(), 'leave', [left]);
    return true;
  }

  /** Tells the backends; the handler wrapper waits for it a bounded time once the answer is out. */
  private notify(events: BackendEvent[]): void {
    this.deps.events?.notify(events);
  }

  /**
   * Stores (when the stream keeps messages) and then delivers one message. A room or
   * broadcast larger than the inline limit is handed to the fan-out workers as one
   * plan job instead: counted from the counters (the room is not read here), and
   * answered once the job is queued.
   */
  private async publish(
    to: Recipients,
    content: { room?: string; event: string; data: unknown; from?: string },
    except: ReadonlySet<string>,
    stream?: StreamId,
    keyed?: KeyedRun,
  ): Promise<Sent> {
    const stores = stream !== undefined && this.deps.streams.stores(stream);
    // A retry of a keyed request that stored its message and then failed: the same message again.
    const earlier = stores ? keyed?.earlier : undefined;
    const messageId = earlier?.messageId ?? this.deps.ids.messageId();
    const ts = earlier?.ts ?? this.deps.clock.now();
    const frameAt = (seq?: number) => JSON.stringify(messageFrame({ ...content, seq, messageId, ts }));
    const { store, fanout } = this.deps;
    let targets: Targets;
    let size: number | undefined;
    if ('user' in to) {
      // Read when the delivery starts, after the message is stored: a device of the user that
      // connects and resumes meanwhile finds the message stored, or is among these connections.
      targets = connectionsOf(store, to.user);
    } else if ('room' in to) {
      const room = await store.roomTargets(to.room);
      targets = room.pages;
      size = room.size;
    } else if ('broadcast' in to) {
      targets = store.allConnectionIds();
      if (fanout) size = (await store.stats()).connections;
    } else {
      targets = to.ids;
    }
    const whole: FanoutTarget | undefined = 'room' in to || 'broadcast' in to ? to : undefined;
    const queued = whole && fanout && size !== undefined && size > fanout.inlineLimit ? size : undefined;
    const deliver = async (payload: string): Promise<FanoutResult> => {
      if (whole && queued !== undefined) {
        await this.queuePlan(whole, messageId, payload, except);
        return { delivered: 0, pruned: 0, failed: 0 };
      }
      return fanOut(targets, payload, {
        gateway: this.deps.gateway,
        prune: (connectionId) => this.disconnect(connectionId, 'gone'),
        concurrency: this.deps.settings.fanoutConcurrency,
        except,
      });
    };
    const started = this.deps.clock.now();
    // Stored before any live delivery, so whatever a receiver saw, history and resume find too.
    let seq: number | undefined;
    let result: FanoutResult;
    if (earlier && stream) {
      seq = earlier.seq;
      // Delivered live only while history still keeps it (a stage whose retention is shorter than
      // the key's 24 h): whatever a live receiver saw, history finds too.
      result = (await this.deps.streams.keeps(stream, seq))
        ? await deliver(frameAt(seq))
        : { delivered: 0, pruned: 0, failed: 0 };
    } else if (stream && stores) {
      let stored = '';
      let storedSeq = 0;
      const appended = await this.deps.streams.append(
        stream,
        (n) => {
          stored = frameAt(n);
          storedSeq = n;
          return stored;
        },
        () => {
          keyed?.stored({ messageId, ts, seq: storedSeq });
          return deliver(stored);
        },
      );
      seq = appended.seq;
      result = appended.delivered;
    } else {
      result = await deliver(frameAt());
    }
    if (queued === undefined) {
      // Queued fan-outs are counted by the workers that deliver them.
      const { metrics } = this.deps;
      metrics.count(METRICS.delivered, result.delivered);
      metrics.count(METRICS.pruned, result.pruned);
      metrics.count(METRICS.failed, result.failed);
      metrics.milliseconds(METRICS.fanoutDuration, this.deps.clock.now() - started);
    }
    return {
      ...result,
      messageId,
      ts,
      ...(seq === undefined ? {} : { seq }),
      ...(queued === undefined ? {} : { queued }),
    };
  }

  private async queuePlan(
    target: FanoutTarget,
    messageId: string,
    payload: string,
    except: ReadonlySet<string>,
  ) {
    try {
      await this.deps.fanout?.queue.enqueue([planJob(messageId, payload, target, except)]);
    } catch (cause) {
      throw new UnavailableError(
        'the fan-out queue is unavailable; the message may not have been delivered, retry shortly',
        cause,
      );
    }
  }
}

/**
 * A client's idempotency key, scoped to its user. The user id's length comes first, so no user id
 * and key can spell another's (`bob#1` with `k` and `bob` with `1#k` would otherwise meet).
 */
function userScope(userId: string, key: string | undefined): string | undefined {
  return key === undefined ? undefined : `USER#${userId.length}#${userId}#${key}`;
}

function ackFields(sent: Sent): { messageId: string; ts: number; seq?: number } {
  return { messageId: sent.messageId, ts: sent.ts, ...(sent.seq === undefined ? {} : { seq: sent.seq }) };
}

/** A user's connections as one page of targets, read when the fan-out first asks for it. */
async function* connectionsOf(store: ConnectionStore, userId: string): AsyncGenerator<TargetPage> {
  const connections = await store.userConnections(userId);
  yield { source: `user:${userId}`, ids: connections.map((c) => c.connectionId) };
}
