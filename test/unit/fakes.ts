import { createObservability } from '../../lambdas/adapters/observability.js';
import { loadConfig } from '../../lambdas/config.js';
import type {
  Clock,
  ConnectionGateway,
  ConnectionRecord,
  ConnectionStore,
  MemberRecord,
  MetricSink,
  Page,
  PostOutcome,
  RemovedConnection,
  Stats,
} from '../../lambdas/domain/ports.js';
import { RoomcastService, type ServiceSettings } from '../../lambdas/domain/service.js';
import type { Runtime } from '../../lambdas/runtime.js';

/** An in-memory ConnectionStore with the same semantics as the DynamoDB one (expiry included). */
export class MemoryStore implements ConnectionStore {
  readonly connections = new Map<string, ConnectionRecord>();
  readonly members = new Map<string, Map<string, MemberRecord>>();

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
    for (const room of this.members.values()) room.delete(id);
    const c = this.connections.get(id);
    if (!c) return undefined;
    this.connections.delete(id);
    return { connectionId: id, userId: c.userId, lastOfUser: this.countOf(c.userId) === 0 };
  }
  async userConnections(userId: string) {
    return [...this.connections.values()].filter((c) => c.userId === userId && this.live(c.expiresAt));
  }
  async addMember(m: MemberRecord) {
    const room = this.members.get(m.room) ?? new Map<string, MemberRecord>();
    this.members.set(m.room, room);
    const isNew = !room.has(m.connectionId);
    room.set(m.connectionId, m);
    return isNew;
  }
  async removeMember(room: string, id: string) {
    return this.members.get(room)?.delete(id) ?? false;
  }
  async isMember(room: string, id: string) {
    const m = this.members.get(room)?.get(id);
    return m !== undefined && this.live(m.expiresAt);
  }
  async *roomConnectionIds(room: string) {
    yield [...(this.members.get(room)?.values() ?? [])]
      .filter((m) => this.live(m.expiresAt))
      .map((m) => m.connectionId);
  }
  async *allConnectionIds() {
    yield [...this.connections.keys()];
  }
  async listMembers(
    room: string,
    options: { limit: number; nextToken?: string },
  ): Promise<Page<MemberRecord>> {
    const all = [...(this.members.get(room)?.values() ?? [])];
    const start = Number(options.nextToken ?? 0);
    const items = all.slice(start, start + options.limit);
    return start + options.limit < all.length
      ? { items, nextToken: String(start + options.limit) }
      : { items };
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
  async settleExpired(_item: Record<string, unknown>): Promise<RemovedConnection | undefined> {
    return undefined;
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

export function serviceWithFakes(settings: Partial<ServiceSettings> = {}) {
  const clock = fixedClock();
  const store = new MemoryStore(clock);
  const gateway = new RecordingGateway();
  const metrics = new CountingSink();
  let seq = 0;
  const service = new RoomcastService({
    store,
    gateway,
    clock,
    metrics,
    ids: { messageId: () => `01JD4Z3M8N6V0Q2W7E5R9T1Y${String(seq++).padStart(2, '0')}` },
    settings: { maxDataBytes: 32 * 1024, fanoutConcurrency: 4, connectionTtlSeconds: 7800, ...settings },
  });
  return { service, store, gateway, metrics, clock };
}

/** A handler Runtime over the in-memory fakes, configured the way the Lambda environment would be. */
export function fakeRuntime(env: Record<string, string> = {}) {
  const parts = serviceWithFakes();
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
