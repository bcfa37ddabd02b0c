import { createObservability } from '../../lambdas/adapters/observability.js';
import { loadConfig } from '../../lambdas/config.js';
import type { FanoutJob, FanoutQueue } from '../../lambdas/domain/fanout-jobs.js';
import type {
  Clock,
  ConnectionGateway,
  ConnectionRecord,
  ConnectionStore,
  IdempotencyClaim,
  MemberPage,
  MemberRecord,
  MetricSink,
  PostOutcome,
  ReconcileReport,
  RoomChange,
  RoomPresence,
  RoomTargets,
  Settled,
  Stats,
  StreamId,
  StreamStore,
  TargetPage,
} from '../../lambdas/domain/ports.js';
import { RoomcastService, type ServiceSettings } from '../../lambdas/domain/service.js';
import { type StreamSettings, Streams } from '../../lambdas/domain/streams.js';
import type { Runtime } from '../../lambdas/runtime.js';

/** An in-memory ConnectionStore with the same semantics as the DynamoDB one (expiry included). */
export class MemoryStore implements ConnectionStore {
  readonly connections = new Map<string, ConnectionRecord>();
  readonly members = new Map<string, Map<string, MemberRecord>>();
  /** Where a membership write or read yields; a property test hands these to fast-check's scheduler. */
  pause: () => Promise<unknown> = () => Promise.resolve();

  constructor(private readonly clock: Clock) {}

  private live(expiresAt: number) {
    return expiresAt > Math.floor(this.clock.now() / 1000);
  }
  async putConnection(c: ConnectionRecord) {
    const known = this.connections.has(c.connectionId);
    this.connections.set(c.connectionId, c);
    return { firstOfUser: !known && this.countOf(c.userId) === 1 };
  }
  private countOf(userId: string) {
    return [...this.connections.values()].filter((c) => c.userId === userId).length;
  }
  async getConnection(id: string) {
    const c = this.connections.get(id);
    return c && this.live(c.expiresAt) ? c : undefined;
  }
  async removeConnection(id: string) {
    const rooms: RoomChange[] = [];
    for (const [name, room] of this.members) {
      const m = room.get(id);
      if (!m) continue;
      room.delete(id);
      rooms.push({
        room: name,
        connectionId: id,
        userId: m.userId,
        userChanged: this.userCount(name, m.userId) === 0,
        members: room.size,
      });
    }
    const c = this.connections.get(id);
    if (!c) return { rooms };
    this.connections.delete(id);
    return {
      connection: { connectionId: id, userId: c.userId, lastOfUser: this.countOf(c.userId) === 0 },
      rooms,
    };
  }
  /** The user's connections in a room. */
  private userCount(room: string, userId: string) {
    return [...(this.members.get(room)?.values() ?? [])].filter((m) => m.userId === userId).length;
  }
  async userConnections(userId: string) {
    return [...this.connections.values()].filter((c) => c.userId === userId && this.live(c.expiresAt));
  }
  async addMember(m: MemberRecord, afterWrite?: () => Promise<void>) {
    await this.pause();
    const room = this.members.get(m.room) ?? new Map<string, MemberRecord>();
    this.members.set(m.room, room);
    const isNew = !room.has(m.connectionId);
    room.set(m.connectionId, m);
    // Here the count moves with the write, so `afterWrite` runs after both (one of the orders the
    // DynamoDB store allows: there it runs alongside the counters).
    const change: RoomChange | undefined = isNew
      ? {
          room: m.room,
          connectionId: m.connectionId,
          userId: m.userId,
          userChanged: this.userCount(m.room, m.userId) === 1,
          members: room.size,
        }
      : undefined;
    await afterWrite?.();
    return change;
  }
  async recordRoom(id: string) {
    return (await this.getConnection(id)) !== undefined;
  }
  async removeMember(room: string, id: string) {
    return this.dropMember(room, id);
  }
  /** Takes a membership out and says what that changed (removeMember, and a deleted membership's settling). */
  private dropMember(room: string, id: string): RoomChange | undefined {
    const m = this.members.get(room)?.get(id);
    if (!m) return undefined;
    this.members.get(room)?.delete(id);
    const change: RoomChange = {
      room,
      connectionId: id,
      userId: m.userId,
      userChanged: this.userCount(room, m.userId) === 0,
      members: this.members.get(room)?.size ?? 0,
    };
    return change;
  }
  async roomUserConnections(room: string, userId: string) {
    return this.userCount(room, userId);
  }
  async isMember(room: string, id: string) {
    const m = this.members.get(room)?.get(id);
    return m !== undefined && this.live(m.expiresAt);
  }
  async *roomConnectionIds(room: string): AsyncIterable<TargetPage> {
    await this.pause();
    yield {
      source: '0',
      ids: [...(this.members.get(room)?.values() ?? [])]
        .filter((m) => this.live(m.expiresAt))
        .map((m) => m.connectionId),
    };
  }
  async roomTargets(room: string): Promise<RoomTargets> {
    return { size: this.members.get(room)?.size ?? 0, pages: this.roomConnectionIds(room) };
  }
  async *allConnectionIds(): AsyncIterable<TargetPage> {
    yield { source: '0', ids: [...this.connections.keys()] };
  }
  async listMembers(room: string, options: { limit: number; nextToken?: string }): Promise<MemberPage> {
    const all = [...(this.members.get(room)?.values() ?? [])];
    const start = Number(options.nextToken ?? 0);
    const items = all.slice(start, start + options.limit);
    return start + options.limit < all.length
      ? { items, nextToken: String(start + options.limit), counted: all.length }
      : { items, counted: all.length };
  }
  async countMembers(room: string) {
    return this.members.get(room)?.size ?? 0;
  }
  async stats(): Promise<Stats> {
    const users = new Set([...this.connections.values()].map((c) => c.userId));
    return {
      connections: this.connections.size,
      users: users.size,
      rooms: [...this.members.values()].filter((r) => r.size > 0).length,
    };
  }
  async checkHealth() {}
  /** As DynamoDB's TTL would: a connection item deleted (with its memberships, as their TTL passes too). */
  async settleExpired(item: Record<string, unknown>): Promise<Settled> {
    const pk = String(item.pk);
    if (pk.startsWith('ROOM#') && String(item.sk).startsWith('CONN#')) {
      const change = this.dropMember(String(item.room), String(item.connectionId));
      return { rooms: change ? [change] : [] };
    }
    if (!pk.startsWith('CONN#')) return { rooms: [] };
    return this.removeConnection(pk.slice('CONN#'.length));
  }
  readonly expiryLags: number[] = [];
  async noteExpiryLag(ageMs: number) {
    this.expiryLags.push(ageMs);
  }
  async roomPresence(room: string, limit: number): Promise<RoomPresence> {
    const counts = new Map<string, number>();
    for (const m of this.members.get(room)?.values() ?? []) {
      if (this.live(m.expiresAt)) counts.set(m.userId, (counts.get(m.userId) ?? 0) + 1);
    }
    const users = [...counts].map(([userId, connections]) => ({ userId, connections }));
    return { count: users.length, users: users.slice(0, limit) };
  }
  async reconcile(): Promise<ReconcileReport> {
    return { countersFixed: 0, orphansDeleted: 0 };
  }
}

/** A gateway that records what was posted and answers per connection as told. */
export class RecordingGateway implements ConnectionGateway {
  readonly posts: { connectionId: string; payload: string }[] = [];
  readonly closed: string[] = [];
  readonly outcomes = new Map<string, PostOutcome>();

  async post(connectionId: string, payload: string): Promise<PostOutcome> {
    this.posts.push({ connectionId, payload });
    return this.outcomes.get(connectionId) ?? 'delivered';
  }
  async close(connectionId: string) {
    this.closed.push(connectionId);
    return true;
  }
  framesTo(connectionId: string): Record<string, unknown>[] {
    return this.posts.filter((p) => p.connectionId === connectionId).map((p) => JSON.parse(p.payload));
  }
}

export class CountingSink implements MetricSink {
  readonly counts = new Map<string, number>();
  readonly timings: { name: string; value: number }[] = [];
  count(name: string, value = 1) {
    this.counts.set(name, (this.counts.get(name) ?? 0) + value);
  }
  milliseconds(name: string, value: number) {
    this.timings.push({ name, value });
  }
}

export const fixedClock = (ms = 1_790_000_000_000): Clock => ({ now: () => ms });

/**
 * The StreamStore in memory, with the adapter's algorithm: read the head, then a
 * conditional put at the next free seq (retried), then move the head forward.
 * Each step awaits, so concurrent appends interleave as they would on DynamoDB.
 */
export class MemoryStreamStore implements StreamStore {
  readonly streams = new Map<
    string,
    { head: number; items: Map<number, { frame: string; expiresAt: number }> }
  >();
  readonly idempotency = new Map<
    string,
    {
      fingerprint: string;
      state: 'pending' | 'done' | 'parked';
      answer?: string;
      stored?: string;
      claimedAt: number;
      expiresAt: number;
      writer: string;
    }
  >();
  private claims = 0;
  /** Where an append yields between its steps; a property test hands these to fast-check's scheduler. */
  pause: () => Promise<unknown> = () => Promise.resolve();
  constructor(private readonly clock: Clock) {}
  private of(stream: StreamId) {
    const name = `${stream.kind}#${stream.name}`;
    let s = this.streams.get(name);
    if (!s) {
      s = { head: 0, items: new Map() };
      this.streams.set(name, s);
    }
    return s;
  }
  async append(stream: StreamId, frame: (seq: number) => string, expiresAt: number) {
    const s = this.of(stream);
    let seq = s.head + 1;
    await this.pause();
    let conflicts = 0;
    while (s.items.has(seq)) {
      conflicts += 1;
      seq = Math.max(seq, ...s.items.keys()) + 1;
      await this.pause();
    }
    s.items.set(seq, { frame: frame(seq), expiresAt });
    return { seq, conflicts };
  }
  async advance(stream: StreamId, seq: number) {
    await this.pause();
    const s = this.of(stream);
    if (s.head < seq) s.head = seq;
  }
  async latest(stream: StreamId) {
    const s = this.of(stream);
    return Math.max(s.head, ...s.items.keys());
  }
  async read(stream: StreamId, query: { after?: number; before?: number; limit: number }) {
    await this.pause();
    const now = Math.floor(this.clock.now() / 1000);
    let live = [...this.of(stream).items.entries()]
      .filter(([, m]) => m.expiresAt > now)
      .map(([seq, m]) => ({ seq, frame: m.frame }))
      .sort((a, b) => a.seq - b.seq);
    if (query.after !== undefined) {
      const after = query.after;
      live = live.filter((m) => m.seq > after);
      return { messages: live.slice(0, query.limit), more: live.length > query.limit };
    }
    if (query.before !== undefined) {
      const before = query.before;
      live = live.filter((m) => m.seq < before);
    }
    return { messages: live.slice(Math.max(0, live.length - query.limit)), more: live.length > query.limit };
  }
  async claim(
    key: string,
    fingerprint: string,
    expiresAt: number,
    staleAfterMs: number,
  ): Promise<IdempotencyClaim> {
    const now = this.clock.now();
    const found = this.idempotency.get(key);
    const stale = found?.state === 'pending' && found.claimedAt < now - staleAfterMs;
    this.claims += 1;
    const token = `claim-${this.claims}`;
    if (
      !found ||
      found.expiresAt <= now / 1000 ||
      (stale && found.fingerprint === fingerprint && !found.stored)
    ) {
      this.idempotency.set(key, { fingerprint, state: 'pending', claimedAt: now, expiresAt, writer: token });
      return { state: 'new', token };
    }
    if (
      found.stored !== undefined &&
      found.fingerprint === fingerprint &&
      (found.state === 'parked' || stale)
    ) {
      this.idempotency.set(key, { ...found, state: 'pending', claimedAt: now, writer: token });
      return { state: 'new', token, stored: found.stored };
    }
    return found.state === 'done'
      ? { state: 'done', fingerprint: found.fingerprint, answer: found.answer ?? 'null' }
      : { state: 'pending', fingerprint: found.fingerprint };
  }
  /** The record while the claim holding `token` still holds it (the adapter's writer condition). */
  private owned(key: string, token: string) {
    const found = this.idempotency.get(key);
    return found?.writer === token ? found : undefined;
  }
  async complete(key: string, token: string, answer: string) {
    const found = this.owned(key, token);
    if (found) this.idempotency.set(key, { ...found, state: 'done', answer });
  }
  async noteStored(key: string, token: string, stored: string) {
    const found = this.owned(key, token);
    if (found) this.idempotency.set(key, { ...found, stored });
  }
  async release(key: string, token: string) {
    if (this.owned(key, token)) this.idempotency.delete(key);
  }
  async park(key: string, token: string, stored: string) {
    const found = this.owned(key, token);
    if (found) this.idempotency.set(key, { ...found, state: 'parked', stored });
  }
}

/** Stored delivery over an in-memory stream store, with the default retention. */
export function memoryStreams(
  clock: Clock,
  metrics: MetricSink,
  streamSettings: Partial<StreamSettings> = {},
  streamStore = new MemoryStreamStore(clock),
) {
  return new Streams({
    streams: streamStore,
    clock,
    metrics,
    settings: { historyTtlSeconds: 86_400, mailboxTtlSeconds: 604_800, ...streamSettings },
  });
}

/** A fan-out queue that keeps what was enqueued (the workers are tested on their own). */
export class MemoryFanoutQueue implements FanoutQueue {
  readonly jobs: FanoutJob[] = [];
  async enqueue(jobs: readonly FanoutJob[]) {
    this.jobs.push(...jobs);
  }
}

export function serviceWithFakes(
  settings: Partial<ServiceSettings & { inlineFanoutLimit: number }> = {},
  streamSettings: Partial<StreamSettings> = {},
) {
  const clock = fixedClock();
  const store = new MemoryStore(clock);
  const gateway = new RecordingGateway();
  const metrics = new CountingSink();
  const streamStore = new MemoryStreamStore(clock);
  const streams = memoryStreams(clock, metrics, streamSettings, streamStore);
  const fanoutQueue = new MemoryFanoutQueue();
  let seq = 0;
  const service = new RoomcastService({
    fanout: { queue: fanoutQueue, inlineLimit: settings.inlineFanoutLimit ?? 2000 },
    store,
    gateway,
    clock,
    metrics,
    ids: { messageId: () => `01JD4Z3M8N6V0Q2W7E5R9T1Y${String(seq++).padStart(2, '0')}` },
    settings: {
      maxDataBytes: settings.maxDataBytes ?? 32 * 1024,
      fanoutConcurrency: settings.fanoutConcurrency ?? 4,
      connectionTtlSeconds: settings.connectionTtlSeconds ?? 7800,
    },
    streams,
  });
  return { service, store, gateway, metrics, clock, streamStore, fanoutQueue };
}

/** A handler Runtime over the in-memory fakes, configured the way the Lambda environment would be. */
export function fakeRuntime(
  env: Record<string, string> = {},
  settings: Parameters<typeof serviceWithFakes>[0] = {},
) {
  const parts = serviceWithFakes(settings);
  const config = loadConfig({
    TABLE_NAME: 'roomcast-test',
    CONNECTIONS_ENDPOINT: 'https://abcdef1234.execute-api.eu-west-1.amazonaws.com/dev',
    JWT_SECRET: 'handler-secret',
    PUSH_API_KEYS: 'test-key',
    LOG_LEVEL: 'SILENT',
    ...env,
  });
  const observability = createObservability({
    serviceName: 'roomcast',
    namespace: 'Test',
    logLevel: 'SILENT',
  });
  const runtime: Runtime = {
    config,
    observability,
    clock: parts.clock,
    store: parts.store,
    gateway: parts.gateway,
    service: parts.service,
  };
  return { runtime, ...parts };
}
