/**
 * The ports the domain talks through. Adapters implement them over DynamoDB and
 * the API Gateway management API; tests implement them in memory.
 */

export interface ConnectionRecord {
  connectionId: string;
  userId: string;
  /** Epoch milliseconds. */
  connectedAt: number;
  /** Epoch seconds after which the record is treated as gone (DynamoDB TTL). */
  expiresAt: number;
}

export interface MemberRecord {
  room: string;
  connectionId: string;
  userId: string;
  /** Epoch milliseconds. */
  joinedAt: number;
  expiresAt: number;
}

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

export interface Stats {
  connections: number;
  users: number;
  rooms: number;
}

export interface ConnectionStore {
  putConnection(connection: ConnectionRecord): Promise<void>;
  getConnection(connectionId: string): Promise<ConnectionRecord | undefined>;
  /** Removes the connection and all its memberships; true when the connection was still stored. Idempotent. */
  removeConnection(connectionId: string): Promise<boolean>;
  userConnections(userId: string): Promise<ConnectionRecord[]>;
  /** Adds a membership; true when it is new. */
  addMember(member: MemberRecord): Promise<boolean>;
  /** Removes a membership; true when it existed. */
  removeMember(room: string, connectionId: string): Promise<boolean>;
  isMember(room: string, connectionId: string): Promise<boolean>;
  /** Connection ids of a room's live members, page by page, for fan-out. */
  roomConnectionIds(room: string): AsyncIterable<string[]>;
  /** Connection ids of every live connection, page by page, for broadcast. */
  allConnectionIds(): AsyncIterable<string[]>;
  listMembers(room: string, options: { limit: number; nextToken?: string }): Promise<Page<MemberRecord>>;
  countMembers(room: string): Promise<number>;
  stats(): Promise<Stats>;
  /** Throws when the store cannot be reached. */
  checkHealth(): Promise<void>;
  /** Settles the counters for an item the store's TTL deleted without any handler removing it. */
  settleExpired(item: Record<string, unknown>): Promise<void>;
}

export type PostOutcome = 'delivered' | 'gone' | 'failed';

export interface ConnectionGateway {
  /** Posts one text frame to one connection; never throws. */
  post(connectionId: string, payload: string): Promise<PostOutcome>;
  /** Closes a connection; false when it was already gone. */
  close(connectionId: string): Promise<boolean>;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export interface IdGenerator {
  /** A new message id that sorts by time (ULID). */
  messageId(): string;
}

/** Counts or timings the domain reports; the adapter turns them into CloudWatch metrics. */
export interface MetricSink {
  /** `dimensions` (bounded values only, e.g. the frame's route key) feed the local /metrics labels. */
  count(name: string, value?: number, dimensions?: Readonly<Record<string, string>>): void;
  milliseconds(name: string, value: number): void;
}
