import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { digestOfSet } from '../domain/digest.js';
import type { ReconcileReport } from '../domain/ports.js';
import { conditional } from './conditions.js';
import {
  EVERYONE_SHARDS,
  keys,
  RESTORED_ATTRIBUTE,
  ROOM_PARTITIONS,
  SPLIT_ATTRIBUTE,
  STATS_SHARDS,
  shardOf,
} from './table.js';

type Item = Record<string, unknown>;
type Key = { pk: string; sk: string };

/** The counters one item holds, as the scan saw them and as the items they count say they should be. */
interface Counter {
  key: Key;
  seen: Record<string, number>;
  truth: Record<string, number>;
  labels: Item;
  /**
   * What the truth was counted from (a digest of the items' keys): two looks that saw the same
   * numbers from different items saw different moments (a handler in flight at each).
   */
  basis?: string;
}

const STATS_FIELDS = ['connections', 'users', 'rooms'] as const;
const STATS_PK = keys.statsShard(0).pk;

/** What one look at the table found wrong: nothing is changed on one look alone. */
interface Findings {
  /** Live connections missing from the broadcast list: connection id → its expiry. */
  unlisted: Map<string, unknown>;
  /** Items whose connection the scan did not see (id → item key and connection id). */
  orphans: Map<string, { key: Key; of: string }>;
  /** Counters that are wrong (a room's, as recounted from the room alone; a stats shard). */
  counters: Map<string, Counter>;
}

export interface ReconcileOptions {
  /**
   * Waits between the two looks at the table: longer than any handler can take between writing an
   * item and moving the counters that count it (RECONCILE_SETTLE_MS). Absent: no wait.
   */
  settle?: () => Promise<void>;
  /**
   * The wait between the looks, in ms: while the expiry consumer last noted a lag longer than this
   * (within the last 15 minutes), a TTL deletion it has not settled yet looks like drift on both
   * looks, so no counter is corrected. Absent: not checked.
   */
  expiryLagLimitMs?: number;
  /**
   * Settles a membership the correction deleted because its connection is gone (a `$disconnect`
   * that stopped half way): its counters are taken down and its leave announced, as for a TTL
   * deletion. Called once per membership this run deleted, with the item as it was.
   */
  settleRemovedMembership: (item: Item) => Promise<void>;
}

/** How long a noted expiry lag holds the counters' corrections back. */
const EXPIRY_LAG_NOTE_MS = 15 * 60_000;

/**
 * The counters' reconciliation, off the hot path. One paginated Scan of the table recounts what
 * every counter counts, finds orphans (an "everyone" entry or a membership whose connection item is
 * gone) and live connections missing from the broadcast list. A room whose counters look wrong is
 * counted again from the room alone (the scan read its counters and its memberships, spread over up
 * to 16 partitions, at different moments). Items it does not own (streams, idempotency records,
 * fan-out jobs) are skipped.
 *
 * A handler between its item write and its counter writes (a join, a leave, a close) looks exactly
 * like drift, and "correcting" it makes the counters wrong once the handler finishes, and loses
 * that change's presence announcement. So nothing is changed on one look: when the first look finds
 * anything, the table is looked at again after `settle` (longer than any handler takes), and only
 * what both looks found the same is corrected. Each correction is conditional on the value the
 * second look saw. Each stats shard counts a part of the table of its own (STATS_SHARDS), so it is
 * corrected when its part was quiet, whatever traffic the rest of the table had.
 *
 * An item counts while it is stored, expired or not: the expiry consumer takes it off the counters
 * when TTL deletes it, so counting it here keeps the two in step. An orphan membership counts too,
 * and is deleted after the counters are corrected: `settleRemovedMembership` then takes it off them
 * and announces its leave, as the `$disconnect` that left it would have.
 */
export async function reconcileTable(
  doc: DynamoDBDocumentClient,
  tableName: string,
  nowSeconds: number,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const first = await survey(doc, tableName, nowSeconds);
  if (isClean(first)) return { countersFixed: 0, orphansDeleted: 0 };
  await options.settle?.();
  const second = await survey(doc, tableName, nowSeconds);
  const findings = stableFindings(first, second);
  if (
    options.expiryLagLimitMs !== undefined &&
    (await expiryBehind(doc, tableName, nowSeconds, options.expiryLagLimitMs))
  ) {
    // The orphans and unlisted connections are still fixed: TTL deletions make neither.
    const report = await correct(doc, tableName, nowSeconds, options, {
      unlisted: findings.unlisted,
      orphans: findings.orphans,
      counters: new Map(),
    });
    return { ...report, expiryBehind: true };
  }
  return correct(doc, tableName, nowSeconds, options, findings);
}

/** Whether the expiry consumer recently noted a lag past `limitMs` (see ReconcileOptions). */
async function expiryBehind(
  doc: DynamoDBDocumentClient,
  tableName: string,
  nowSeconds: number,
  limitMs: number,
): Promise<boolean> {
  const note = (
    await doc.send(new GetCommand({ TableName: tableName, Key: keys.expiryLag, ConsistentRead: true }))
  ).Item;
  if (!note) return false;
  return Number(note.lagMs) > limitMs && Number(note.notedAt) > nowSeconds * 1000 - EXPIRY_LAG_NOTE_MS;
}

function isClean(f: Findings): boolean {
  return f.unlisted.size === 0 && f.orphans.size === 0 && f.counters.size === 0;
}

/** What the second look found exactly as the first did (its values, for the conditions). */
function stableFindings(first: Findings, second: Findings): Findings {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const kept: Findings = { unlisted: new Map(), orphans: new Map(), counters: new Map() };
  for (const [id, expiry] of second.unlisted) if (first.unlisted.has(id)) kept.unlisted.set(id, expiry);
  for (const [id, orphan] of second.orphans) if (first.orphans.has(id)) kept.orphans.set(id, orphan);
  for (const [id, c] of second.counters) {
    const before = first.counters.get(id);
    if (before && same([before.seen, before.truth, before.basis], [c.seen, c.truth, c.basis])) {
      kept.counters.set(id, c);
    }
  }
  return kept;
}

/** One look at the table: everything that is wrong, as of now. */
async function survey(doc: DynamoDBDocumentClient, tableName: string, nowSeconds: number): Promise<Findings> {
  const connections = new Map<string, string>(); // connectionId → userId
  const connectionExpiry = new Map<string, unknown>();
  const everyone: Key[] = [];
  const memberships: { key: Key; room: string; connectionId: string; userId: string; expired: boolean }[] =
    [];
  const counters = new Map<string, Counter>();
  const counter = (key: Key, labels: Item = {}): Counter => {
    const id = idOf(key);
    let found = counters.get(id);
    if (!found) {
      found = { key, seen: {}, truth: {}, labels };
      counters.set(id, found);
    }
    return found;
  };

  let start: Item | undefined;
  do {
    const out = await doc.send(
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    for (const item of out.Items ?? []) {
      const pk = String(item.pk);
      const sk = String(item.sk);
      const key = { pk, sk };
      if (pk.startsWith(keys.connPrefix) && sk === 'META') {
        connections.set(String(item.connectionId), String(item.userId));
        connectionExpiry.set(String(item.connectionId), item.expiresAt);
      } else if (pk.startsWith('ALL#') && sk.startsWith(keys.connPrefix)) {
        everyone.push(key);
      } else if (pk.startsWith(keys.roomPrefix) && sk.startsWith(keys.connPrefix)) {
        memberships.push({
          key,
          room: String(item.room),
          connectionId: String(item.connectionId),
          userId: String(item.userId),
          expired: Number(item.expiresAt) <= nowSeconds,
        });
      } else if (pk.startsWith(keys.roomPrefix) && sk === '#META') {
        counter(key).seen = { members: Number(item.members ?? 0), users: Number(item.users ?? 0) };
      } else if (pk.startsWith(keys.roomPrefix) && sk.startsWith(keys.userPrefix)) {
        counter(key, { room: item.room, userId: item.userId }).seen = {
          connections: Number(item.connections ?? 0),
        };
      } else if (pk.startsWith(keys.userPrefix) && sk === '#COUNT') {
        counter(key).seen = { connections: Number(item.connections ?? 0) };
      } else if (pk === STATS_PK && sk.startsWith('SHARD#')) {
        counter(key).seen = Object.fromEntries(STATS_FIELDS.map((f) => [f, Number(item[f] ?? 0)]));
      }
    }
    start = out.LastEvaluatedKey;
  } while (start);

  // The truth, from the items themselves. An orphan is an item whose connection the scan did not
  // see (`of`: deleted only once a consistent read finds that connection gone, since it may have
  // connected after the scan passed its item).
  const findings: Findings = { unlisted: new Map(), orphans: new Map(), counters: new Map() };
  const userConnections = new Map<string, string[]>();
  for (const [connectionId, userId] of connections) {
    const c = counter(keys.userCounter(userId) as Key);
    c.truth.connections = (c.truth.connections ?? 0) + 1;
    const ids = userConnections.get(userId);
    if (ids) ids.push(connectionId);
    else userConnections.set(userId, [connectionId]);
  }
  for (const [userId, ids] of userConnections)
    counter(keys.userCounter(userId) as Key).basis = digestOfSet(ids);
  const listed = new Set<string>();
  for (const entry of everyone) {
    const connectionId = entry.sk.slice(keys.connPrefix.length);
    listed.add(connectionId);
    if (!connections.has(connectionId)) findings.orphans.set(idOf(entry), { key: entry, of: connectionId });
  }
  for (const connectionId of connections.keys()) {
    if (!listed.has(connectionId)) findings.unlisted.set(connectionId, connectionExpiry.get(connectionId));
  }
  const rooms = new Set<string>();
  for (const m of memberships) {
    // An orphan counts while it is stored: its deletion settles its counters and announces its leave
    // (settleRemovedMembership). An expired membership whose connection TTL already deleted is TTL's:
    // its own deletion's stream record does that, so it is no orphan.
    if (!connections.has(m.connectionId) && !m.expired) {
      findings.orphans.set(idOf(m.key), { key: m.key, of: m.connectionId });
    }
    rooms.add(m.room);
    const presence = counter(keys.roomUser(m.room, m.userId) as Key, { room: m.room, userId: m.userId });
    presence.truth.connections = (presence.truth.connections ?? 0) + 1;
    const meta = counter(keys.roomMeta(m.room) as Key);
    meta.truth.members = (meta.truth.members ?? 0) + 1;
    if (presence.truth.connections === 1) meta.truth.users = (meta.truth.users ?? 0) + 1;
  }

  // Stats: each shard counts a part of the table of its own (STATS_SHARDS): the connections and
  // users of the user ids that hash to it, the rooms whose names do. A shard is corrected like any
  // counter, when both looks saw the same values from the same items: traffic elsewhere in the
  // table does not hold it back.
  const shards = new Map<number, { connections: string[]; users: Set<string>; rooms: string[] }>();
  const shard = (seed: string) => {
    const n = shardOf(seed, STATS_SHARDS);
    let found = shards.get(n);
    if (!found) {
      found = { connections: [], users: new Set(), rooms: [] };
      shards.set(n, found);
    }
    return found;
  };
  for (const [connectionId, userId] of connections) {
    const part = shard(userId);
    part.connections.push(connectionId);
    part.users.add(userId);
  }
  for (const room of rooms) shard(room).rooms.push(room);
  for (const [n, part] of shards) {
    const c = counter(keys.statsShard(n) as Key);
    c.truth = { connections: part.connections.length, users: part.users.size, rooms: part.rooms.length };
    c.basis = digestOfSet([...part.connections.map((id) => `C${id}`), ...part.rooms.map((r) => `R${r}`)]);
  }
  // A shard whose part of the table is empty should hold zeros: its basis is that emptiness.
  for (const c of counters.values())
    if (c.key.pk === STATS_PK && c.basis === undefined) c.basis = digestOfSet([]);

  // A room whose counters look wrong is counted again, at once and from the room alone.
  const suspects = new Set<string>();
  for (const [id, c] of counters) {
    if (wrongFields(c).length === 0) continue;
    const room = roomOf(c);
    if (room === undefined) findings.counters.set(id, c);
    else suspects.add(room);
  }
  for (const room of suspects) {
    for (const c of await recountRoom(doc, tableName, room)) {
      if (wrongFields(c).length > 0) findings.counters.set(idOf(c.key), c);
    }
  }

  return findings;
}

/** Makes the corrections: each conditional on what the look that found it saw. */
async function correct(
  doc: DynamoDBDocumentClient,
  tableName: string,
  nowSeconds: number,
  options: Pick<ReconcileOptions, 'settleRemovedMembership'>,
  findings: Findings,
): Promise<ReconcileReport> {
  let countersFixed = 0;
  let orphansDeleted = 0;
  // A connection missing from the broadcast list (its entry's write was lost) gets it back.
  for (const [connectionId, expiresAt] of findings.unlisted) {
    const restored = await conditional(() =>
      doc.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            ...keys.everyoneItem(shardOf(connectionId, EVERYONE_SHARDS), connectionId),
            connectionId,
            expiresAt,
            // The connection may have closed since the scan read it: a join must not take this entry as proof it is open.
            [RESTORED_ATTRIBUTE]: 1,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
    if (restored) countersFixed += 1;
  }
  const ttl = nowSeconds + 7 * 24 * 3600;
  for (const c of findings.counters.values()) {
    const fields = [...new Set([...Object.keys(c.seen), ...Object.keys(c.truth)])];
    const wrong = wrongFields(c);
    const isPresence = c.key.pk.startsWith(keys.roomPrefix) && c.key.sk.startsWith(keys.userPrefix);
    if (isPresence && fields.every((f) => (c.truth[f] ?? 0) === 0)) {
      // A user no longer in the room: the presence item goes.
      if (
        await conditional(() =>
          doc.send(new DeleteCommand({ TableName: tableName, Key: c.key, ...seenCondition(c) })),
        )
      )
        countersFixed += 1;
      continue;
    }
    // Counters expire once nothing touches them for a week; the stats shards never do.
    const expires = c.key.pk !== STATS_PK;
    const names: Record<string, string> = expires ? { '#ttl': 'expiresAt' } : {};
    const values: Item = expires ? { ':ttl': ttl } : {};
    const sets = expires ? ['#ttl = :ttl'] : [];
    wrong.forEach((f, i) => {
      names[`#f${i}`] = f;
      values[`:f${i}`] = c.truth[f] ?? 0;
      sets.push(`#f${i} = :f${i}`);
    });
    Object.entries(c.labels).forEach(([name, value], i) => {
      if (value === undefined) return;
      names[`#l${i}`] = name;
      values[`:l${i}`] = value;
      sets.push(`#l${i} = :l${i}`);
    });
    const condition = seenCondition(c);
    const update = () =>
      doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: c.key,
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition.ConditionExpression,
          ExpressionAttributeNames: { ...names, ...condition.ExpressionAttributeNames },
          ExpressionAttributeValues: { ...values, ...condition.ExpressionAttributeValues },
        }),
      );
    if (await conditional(update)) countersFixed += 1;
  }

  // Orphans last: the counters above were set to what the stored items say, orphans included, and
  // the deletion of an orphan membership takes it off them (and announces its leave) like any removal.
  const gone = new Map<string, Promise<boolean>>();
  const isGone = (connectionId: string) => {
    let found = gone.get(connectionId);
    if (!found) {
      found = doc
        .send(
          new GetCommand({ TableName: tableName, Key: keys.connection(connectionId), ConsistentRead: true }),
        )
        .then((out) => out.Item === undefined);
      gone.set(connectionId, found);
    }
    return found;
  };
  for (const { key, of } of findings.orphans.values()) {
    if (!(await isGone(of))) continue;
    // Whoever deletes a membership settles it (a delivery's prune may be removing it too): the one
    // whose delete returns the item.
    const out = await doc.send(
      new DeleteCommand({ TableName: tableName, Key: key, ReturnValues: 'ALL_OLD' }),
    );
    if (!out.Attributes) continue;
    orphansDeleted += 1;
    if (key.pk.startsWith(keys.roomPrefix)) await options.settleRemovedMembership(out.Attributes);
  }
  return { countersFixed, orphansDeleted };
}

function idOf(key: Key): string {
  return `${key.pk}\n${key.sk}`;
}

/** The fields of a counter whose value is not the truth. */
function wrongFields(c: Counter): string[] {
  const fields = [...new Set([...Object.keys(c.seen), ...Object.keys(c.truth)])];
  return fields.filter((f) => (c.seen[f] ?? 0) !== (c.truth[f] ?? 0));
}

/** The room a room counter (`#META`, or a user's count in the room) belongs to; undefined for others. */
function roomOf(c: Counter): string | undefined {
  const { pk, sk } = c.key;
  if (!pk.startsWith(keys.roomPrefix) || !(sk === keys.roomMeta('').sk || sk.startsWith(keys.userPrefix))) {
    return undefined;
  }
  return pk.slice(keys.roomPrefix.length);
}

/**
 * One room's counters as they are and as its memberships say they should be, read now with
 * consistent reads: its `#META` (and whether it is split), its users' counts, then every
 * membership in its partitions (orphans too: they count until their deletion settles them).
 */
async function recountRoom(doc: DynamoDBDocumentClient, tableName: string, room: string): Promise<Counter[]> {
  const queryAll = async (pk: string, prefix: string): Promise<Item[]> => {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await doc.send(
        new QueryCommand({
          TableName: tableName,
          ConsistentRead: true,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  };
  const metaKey = keys.roomMeta(room) as Key;
  const meta = (await doc.send(new GetCommand({ TableName: tableName, Key: metaKey, ConsistentRead: true })))
    .Item;
  const userItems = await queryAll(keys.roomPartition(room), keys.userPrefix);
  const partitions = meta?.[SPLIT_ATTRIBUTE] ? ROOM_PARTITIONS : 1;
  const members = (
    await Promise.all(
      Array.from({ length: partitions }, (_, p) => queryAll(keys.roomPartition(room, p), keys.connPrefix)),
    )
  ).flat();
  const perUser = new Map<string, number>();
  const userMembers = new Map<string, string[]>();
  for (const m of members) {
    const userId = String(m.userId);
    perUser.set(userId, (perUser.get(userId) ?? 0) + 1);
    const memberKeys = userMembers.get(userId);
    if (memberKeys) memberKeys.push(`${m.pk}\n${m.sk}`);
    else userMembers.set(userId, [`${m.pk}\n${m.sk}`]);
  }
  const basisOf = (userId: string) => digestOfSet(userMembers.get(userId) ?? []);
  const result: Counter[] = [
    {
      key: metaKey,
      seen: meta ? { members: Number(meta.members ?? 0), users: Number(meta.users ?? 0) } : {},
      truth: { members: members.length, users: perUser.size },
      labels: {},
      basis: digestOfSet(members.map((m) => `${m.pk}\n${m.sk}`)),
    },
  ];
  const seenUsers = new Set<string>();
  for (const item of userItems) {
    const userId = String(item.userId);
    seenUsers.add(userId);
    result.push({
      key: keys.roomUser(room, userId) as Key,
      seen: { connections: Number(item.connections ?? 0) },
      truth: { connections: perUser.get(userId) ?? 0 },
      labels: { room, userId },
      basis: basisOf(userId),
    });
  }
  for (const [userId, connections] of perUser) {
    if (seenUsers.has(userId)) continue;
    result.push({
      key: keys.roomUser(room, userId) as Key,
      seen: {},
      truth: { connections },
      labels: { room, userId },
      basis: basisOf(userId),
    });
  }
  return result;
}

/** The item still holds what the scan saw (or, when the scan saw no item, still does not exist). */
function seenCondition(c: Counter) {
  const fields = Object.keys(c.seen);
  if (fields.length === 0) {
    return {
      ConditionExpression: 'attribute_not_exists(pk)',
      ExpressionAttributeNames: {},
      ExpressionAttributeValues: {},
    };
  }
  return {
    ConditionExpression: fields
      .map((_, i) =>
        c.seen[fields[i] as string] === 0
          ? `(attribute_not_exists(#c${i}) OR #c${i} = :c${i})`
          : `#c${i} = :c${i}`,
      )
      .join(' AND '),
    ExpressionAttributeNames: Object.fromEntries(fields.map((f, i) => [`#c${i}`, f])),
    ExpressionAttributeValues: Object.fromEntries(fields.map((f, i) => [`:c${i}`, c.seen[f]])),
  };
}
