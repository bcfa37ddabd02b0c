/**
 * The 100,000-member room, measured where it can be and modelled where it
 * cannot. On this machine `@connections` answers in ~0 ms; on AWS each
 * PostToConnection takes ~15 ms. The local stack's benchmark mode delays every
 * post by that much and accepts socketless "virtual" connections, so one fan-out
 * worker's real throughput at AWS-like latency is measured here, with the
 * production fan-out code and the lean poster. The model then says how many
 * workers a room of 100,000 needs to be delivered within the goal, with every
 * input printed and labelled measured or cited.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ManagementApiGateway } from '../lambdas/adapters/gateway.js';
import { createLeanPoster } from '../lambdas/adapters/lean-poster.js';
import { keys } from '../lambdas/adapters/table.js';
import { fanOut } from '../lambdas/domain/fanout.js';
import { createDocumentClient } from '../lambdas/runtime.js';
import { type LocalStack, startLocalStack } from '../local/stack.js';
import { ClientPool } from './clients.js';

export interface WorkerFigures {
  /** Bytes of one real membership item read back from the table (DynamoDB's item-size rules). */
  memberItemBytes: number;
  postDelayMs: number;
  /** Targets in one measured job. */
  jobSize: number;
  rows: { concurrency: number; postsPerSecond: number[]; cpuMicrosPerPost: number[] }[];
}

const VIRTUAL = 'virtual-';

/** DynamoDB's item size: attribute names plus values (strings in UTF-8, numbers ~1 byte per 2 digits + 1). */
export function itemBytes(item: Record<string, unknown>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name);
    if (typeof value === 'string') bytes += Buffer.byteLength(value);
    else if (typeof value === 'number')
      bytes += Math.ceil(String(Math.abs(value)).replace('.', '').length / 2) + 1;
    else bytes += 1;
  }
  return bytes;
}

/** Joins one real client to a room and reads its membership item back, as stored. */
async function membershipItemBytes(stack: LocalStack): Promise<number> {
  const pool = new ClientPool(stack.urls.websocket, stack.env.JWT_SECRET ?? '');
  try {
    await pool.grow(1, 1);
    await pool.join('model-room', 1, 1);
    const doc = createDocumentClient({
      region: stack.env.AWS_REGION ?? 'us-east-1',
      dynamoEndpoint: stack.dynamoEndpoint,
    });
    const out = await doc.send(
      new QueryCommand({
        TableName: stack.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :conn)',
        ExpressionAttributeValues: { ':pk': keys.roomPartition('model-room'), ':conn': keys.connPrefix },
      }),
    );
    doc.destroy();
    const item = out.Items?.[0];
    if (!item) throw new Error('the membership item was not found');
    return itemBytes(item);
  } finally {
    pool.terminateAll();
  }
}

/**
 * The production gateway posting through the lean poster to the stack's `@connections`, `concurrency`
 * at once; `gated` gives it the throttle gate, as the stack deploys it.
 */
export function leanGateway(stack: LocalStack, concurrency: number, gated = false): ManagementApiGateway {
  return new ManagementApiGateway(
    { send: async () => ({}) },
    {
      post: createLeanPoster({
        endpoint: stack.env.CONNECTIONS_ENDPOINT ?? '',
        region: stack.env.AWS_REGION ?? 'us-east-1',
        maxSockets: concurrency,
      }),
      ...(gated ? { concurrency } : {}),
    },
  );
}

/** One worker's posts per second at `postDelayMs` per post, for each concurrency, over `rounds` jobs. */
export async function measureWorker(
  rounds: number,
  concurrencies: readonly number[] = [64, 128, 256],
  jobSize = 4000,
  postDelayMs = 15,
): Promise<WorkerFigures> {
  const stack = await startLocalStack({
    port: 0,
    logLevel: 'ERROR',
    sweepIntervalMs: 0,
    connections: { postDelayMs, virtualPrefix: VIRTUAL },
  });
  const figures: WorkerFigures = { memberItemBytes: 0, postDelayMs, jobSize, rows: [] };
  try {
    figures.memberItemBytes = await membershipItemBytes(stack);
    const ids = Array.from({ length: jobSize }, (_, i) => `${VIRTUAL}${i}`);
    const payload = JSON.stringify({ type: 'message', room: 'big', event: 'bench', data: { n: 1 }, ts: 0 });
    for (const concurrency of concurrencies) {
      const gateway = leanGateway(stack, concurrency);
      const row = { concurrency, postsPerSecond: [] as number[], cpuMicrosPerPost: [] as number[] };
      for (let round = 0; round <= rounds; round += 1) {
        const before = stack.gateway.virtualDeliveries;
        const cpu = process.cpuUsage();
        const started = performance.now();
        const result = await fanOut(ids, payload, { gateway, prune: async () => undefined, concurrency });
        const seconds = (performance.now() - started) / 1000;
        const used = process.cpuUsage(cpu);
        if (result.delivered !== jobSize || stack.gateway.virtualDeliveries - before !== jobSize) {
          // A post lost to a timeout on a loaded machine: say so and leave the round out of the figures.
          console.warn(
            `  worker job at concurrency ${concurrency} delivered ${result.delivered} of ${jobSize} ` +
              `(${stack.gateway.virtualDeliveries - before} reached @connections); round left out`,
          );
          continue;
        }
        if (round === 0) continue; // warm-up: sockets open, JIT
        row.postsPerSecond.push(jobSize / seconds);
        // Both sides of the loopback run in this process; this over-counts the worker's own CPU.
        row.cpuMicrosPerPost.push((used.user + used.system) / jobSize);
      }
      figures.rows.push(row);
    }
  } finally {
    await stack.close();
  }
  return figures;
}

export interface ModelInputs {
  members: number;
  goalSeconds: number;
  /** Measured: one worker's posts per second at AWS-like latency (median, best concurrency). */
  workerPostsPerSecond: number;
  workerConcurrency: number;
  /** Measured: bytes of one membership item as stored (keys and attributes). */
  memberItemBytes: number;
}

/** Cited figures, from AWS's documentation; each is printed with its source. */
export const CITED = {
  postLatencyMs: { value: 15, source: 'issue 11: ~15 ms per PostToConnection measured on AWS' },
  partitionRcuPerSecond: { value: 3000, source: 'DynamoDB: one partition serves up to 3,000 RCU/s' },
  rcuBytes: { value: 4096, source: 'DynamoDB: a strongly consistent read costs 1 RCU per 4 KB' },
  queryPageBytes: { value: 1024 * 1024, source: 'DynamoDB: one Query page returns at most 1 MB' },
  queryPageMs: { value: 100, source: 'assumed upper bound for a 1 MB Query page within a region' },
  sqsToWorkerMs: {
    value: 300,
    source: 'assumed: SQS send + Lambda event-source poll + warm invoke, upper bound',
  },
  apiTimeoutSeconds: { value: 29, source: 'API Gateway integration timeout' },
} as const;

export interface ModelResult {
  shards: number;
  membersPerShard: number;
  readSeconds: number;
  postSeconds: number;
  totalSeconds: number;
  postsPerSecondNeeded: number;
  singleFunctionSeconds: number;
}

/**
 * The plan: a room's members are spread over `shards` partitions; the push
 * queues one job per shard; each worker reads its shard (one or a few Query
 * pages, well under one partition's throughput) and posts to its members.
 */
export function model(inputs: ModelInputs, shards: number): ModelResult {
  const membersPerShard = Math.ceil(inputs.members / shards);
  const shardBytes = membersPerShard * inputs.memberItemBytes;
  const pages = Math.max(1, Math.ceil(shardBytes / CITED.queryPageBytes.value));
  const shardRcu = shardBytes / CITED.rcuBytes.value;
  const readSeconds = Math.max(
    (pages * CITED.queryPageMs.value) / 1000,
    shardRcu / CITED.partitionRcuPerSecond.value,
  );
  const postSeconds = membersPerShard / inputs.workerPostsPerSecond;
  return {
    shards,
    membersPerShard,
    readSeconds,
    postSeconds,
    totalSeconds: CITED.sqsToWorkerMs.value / 1000 + readSeconds + postSeconds,
    postsPerSecondNeeded: inputs.members / inputs.goalSeconds,
    singleFunctionSeconds: inputs.members / inputs.workerPostsPerSecond,
  };
}

export interface PipelineInputs {
  members: number;
  memberItemBytes: number;
  /** Measured: one worker's posts per second at the deployed FANOUT_CONCURRENCY. */
  workerPostsPerSecond: number;
  /** FANOUT_JOB_SIZE: connections per post job. */
  jobSize: number;
  /** The worker function's maximum concurrency (the event source's maxConcurrency). */
  workers: number;
  /** ROOM_PARTITIONS, and ROOM_SPLIT_AFTER (members partition 0 keeps); 1 partition: a room not split. */
  partitions: number;
  splitAfter: number;
}

export interface PipelineResult {
  /** Members in the largest partition, which the read waits for (partitions are read at once). */
  largestPartition: number;
  readSeconds: number;
  jobs: number;
  jobSeconds: number;
  /** Seconds of posting all workers together need for every member. */
  postingSeconds: number;
  totalSeconds: number;
}

/**
 * The fan-out as built: one plan job reads the room's partitions at once, each page by page,
 * and queues a post job per `jobSize` members as it reads; up to `workers` workers run the post
 * jobs meanwhile. A split room keeps its first `splitAfter` members in partition 0 and spreads
 * the rest evenly (by connection id hash) over the others, so the read lasts as long as the
 * largest partition's. The last member gets the frame after: the plan job's trip through SQS,
 * the whole read (or all the posting, if the workers cannot keep up), the last job's trip
 * through SQS and its own posting.
 */
export function pipelineModel(inputs: PipelineInputs): PipelineResult {
  const largestPartition =
    inputs.partitions <= 1 || inputs.members <= inputs.splitAfter
      ? inputs.members
      : Math.max(
          inputs.splitAfter,
          Math.ceil((inputs.members - inputs.splitAfter) / (inputs.partitions - 1)),
        );
  const read = model(
    {
      members: largestPartition,
      goalSeconds: 3,
      workerPostsPerSecond: inputs.workerPostsPerSecond,
      workerConcurrency: 0,
      memberItemBytes: inputs.memberItemBytes,
    },
    1,
  ).readSeconds;
  const jobs = Math.ceil(inputs.members / inputs.jobSize);
  const jobSeconds = Math.min(inputs.jobSize, inputs.members) / inputs.workerPostsPerSecond;
  const postingSeconds = inputs.members / (inputs.workerPostsPerSecond * Math.min(inputs.workers, jobs));
  const sqs = CITED.sqsToWorkerMs.value / 1000;
  return {
    largestPartition,
    readSeconds: read,
    jobs,
    jobSeconds,
    postingSeconds,
    totalSeconds: sqs + Math.max(read, postingSeconds) + sqs + jobSeconds,
  };
}
