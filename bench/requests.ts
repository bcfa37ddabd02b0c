/**
 * DynamoDB requests per `$connect` and per `join` (issue 11's goal: at most 2
 * synchronous writes each), counted on the wire: the local stack talks to
 * dynalite through a proxy that reads each request's `X-Amz-Target`
 * (dynamo-proxy.ts). Real clients connect and join through the local gateway,
 * as in the fan-out bench.
 */
import { startDynalite } from '../local/dynamo.js';
import { type LocalStack, startLocalStack } from '../local/stack.js';
import { ClientPool } from './clients.js';
import { type DynamoProxy, startDynamoProxy } from './dynamo-proxy.js';
import { medianRange } from './summary.js';

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

export interface RequestCounts {
  writes: number;
  reads: number;
  /** Requests by operation, per operation measured. */
  byOperation: Record<string, number>;
}

function perOperation(counts: Map<string, number>, operations: number): RequestCounts {
  let writes = 0;
  let reads = 0;
  const byOperation: Record<string, number> = {};
  for (const [name, count] of counts) {
    byOperation[name] = count / operations;
    if (WRITES.has(name)) writes += count;
    else reads += count;
  }
  return { writes: writes / operations, reads: reads / operations, byOperation };
}

/** The local stack over dynalite behind the counting proxy, with its clients; all closed after `run`. */
async function withProxiedStack<T>(
  delayMs: number,
  run: (parts: { proxy: DynamoProxy; stack: LocalStack; pool: ClientPool }) => Promise<T>,
): Promise<T> {
  const dynalite = await startDynalite();
  const proxy = await startDynamoProxy(dynalite.endpoint, { delayMs });
  const stack = await startLocalStack({
    port: 0,
    logLevel: 'ERROR',
    sweepIntervalMs: 0,
    dynamoEndpoint: proxy.url,
    dynamoTimeoutMs: 30_000,
  });
  const pool = new ClientPool(stack.urls.websocket, stack.env.JWT_SECRET ?? '');
  try {
    return await run({ proxy, stack, pool });
  } finally {
    pool.terminateAll();
    await stack.close();
    await proxy.close();
    await dynalite.close();
  }
}

/** Requests per `$connect`, per first `join` of a room, and per `join` of a room that exists. */
export function measureRequests(clients = 50): Promise<{
  connect: RequestCounts;
  firstJoin: RequestCounts;
  join: RequestCounts;
  /** Per `$disconnect` of a connection in one room (not a presence room). */
  disconnect: RequestCounts;
  /** `@connections` posts the local gateway received while the joins were answered (their acks). */
  postsPerAnswer: number;
}> {
  return withProxiedStack(0, async ({ proxy, stack, pool }) => {
    proxy.take();
    await pool.grow(clients, 10);
    const connect = perOperation(proxy.take(), clients);
    const postsBefore = stack.gateway.postsReceived;
    // One client creates the room (its join also counts the room in the stats), then the rest join it.
    await pool.join('bench-requests', 1, 1);
    const firstJoin = perOperation(proxy.take(), 1);
    await pool.join('bench-requests', clients - 1, 10, 1);
    const join = perOperation(proxy.take(), clients - 1);
    const postsPerAnswer = (stack.gateway.postsReceived - postsBefore) / clients;
    // Closes all but the room's first member (so the room stays), one at a time, each until its
    // $disconnect is done.
    for (const client of pool.clients.slice(1)) {
      await new Promise<void>((resolve) => {
        client.ws.once('close', () => resolve());
        client.ws.close();
      });
      await stack.gateway.idle();
    }
    const disconnect = perOperation(proxy.take(), clients - 1);
    return { connect, firstJoin, join, disconnect, postsPerAnswer };
  });
}

export interface Latencies {
  connect: number[];
  join: number[];
  disconnect: number[];
}

/**
 * One client at a time (latency, not throughput) with every DynamoDB answer held back
 * `delayMs`: the handshake through the authorizer and `$connect`, a `join` until its ack,
 * and a close until the local gateway has finished `$disconnect`.
 */
export function measureLatencies(delayMs: number, clients = 40): Promise<Latencies> {
  return withProxiedStack(delayMs, async ({ stack, pool }) => {
    const out: Latencies = { connect: [], join: [], disconnect: [] };
    await pool.grow(1, 1);
    await pool.join('bench-latency', 1, 1);
    for (let i = 1; i <= clients; i += 1) {
      let started = performance.now();
      await pool.grow(i + 1, 1);
      out.connect.push(performance.now() - started);
      started = performance.now();
      await pool.join('bench-latency', 1, 1, i);
      out.join.push(performance.now() - started);
    }
    for (const client of pool.clients.slice(1)) {
      const started = performance.now();
      await new Promise<void>((resolve) => {
        client.ws.once('close', () => resolve());
        client.ws.close();
      });
      await stack.gateway.idle();
      out.disconnect.push(performance.now() - started);
    }
    return out;
  });
}

export async function requestsBench(): Promise<void> {
  console.log('\ncounting DynamoDB requests per $connect and per join on the wire ...');
  const { connect, firstJoin, join, disconnect, postsPerAnswer } = await measureRequests();
  const describe = (c: RequestCounts) =>
    `${c.writes} writes, ${c.reads} read${c.reads === 1 ? '' : 's'} (${Object.entries(c.byOperation)
      .sort()
      .map(([name, n]) => `${name} ${n}`)
      .join(', ')})`;
  console.log('\nDynamoDB requests on the request path (goal: at most 2 synchronous writes each)\n');
  console.log(`  $connect                    ${describe(connect)}`);
  console.log(`  join of a room that exists  ${describe(join)}`);
  console.log(`  join that creates the room  ${describe(firstJoin)}`);
  console.log(`  $disconnect (one room)      ${describe(disconnect)}`);
  console.log(
    `\n@connections posts to answer a frame (goal 0): ${postsPerAnswer} per join ack (two-way routes answer in the route's reply)`,
  );

  const delayMs = 5;
  console.log(
    `\nlatency, one client at a time, every DynamoDB answer held back ${delayMs} ms (its round trip on AWS):`,
  );
  const latencies = await measureLatencies(delayMs);
  for (const [name, samples] of Object.entries(latencies)) {
    console.log(`  ${name.padEnd(10)} ${medianRange(samples, 1)} ms`);
  }
}
