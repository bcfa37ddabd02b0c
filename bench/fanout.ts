/**
 * `npm run bench [-- --sizes 100,1000,5000] [--rounds 5] [--concurrency 64] [--no-bundles] [--no-fanout]
 *   [--no-poster] [--no-model] [--no-throttle] [--no-streams] [--no-events] [--no-presence] [--no-client] [--no-dashboard] [--no-memory]
 *   [--no-requests]`
 *
 * Starts the local stack, opens real WebSocket clients, and for each room size
 * times a push to the room until every member has the frame, against the floor:
 * the same number of PostToConnection calls sent by a bare loop straight to
 * `@connections` with the same concurrency and the same SDK client factory.
 * Then bundles each Lambda entry (esbuild, minified) and times its cold import.
 * Figures go to stdout; nothing is written to the repository.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { createManagementClient } from '../lambdas/adapters/gateway.js';
import { ROOM_PARTITIONS } from '../lambdas/adapters/table.js';
import { type LocalStack, startLocalStack } from '../local/stack.js';
import { type BundleFigures, measureBundles } from './bundles.js';
import { clientBench } from './client.js';
import { ClientPool } from './clients.js';
import { dashboardBench } from './dashboard.js';
import { eventsBench } from './events.js';
import { memoryBench } from './memory.js';
import { CITED, measureWorker, model, pipelineModel, type WorkerFigures } from './model.js';
import { measurePosters, type PosterFigures } from './poster.js';
import { presenceBench } from './presence.js';
import { requestsBench } from './requests.js';
import { streamsBench } from './streams.js';
import { median } from './summary.js';
import { measureThrottled, printThrottled } from './throttle.js';
import { WsBroadcastFloor } from './ws-floor.js';

const usage =
  'usage: npm run bench -- [--sizes 100,1000,5000] [--rounds 5] [--concurrency 64] [--no-bundles] [--no-fanout] ' +
  '[--no-poster] [--no-model] [--no-throttle] [--no-streams] [--no-events] [--no-presence] [--no-client] [--no-dashboard] [--no-memory] ' +
  '[--no-requests]';

interface Options {
  sizes: number[];
  rounds: number;
  concurrency: number;
  bundles: boolean;
  fanout: boolean;
  poster: boolean;
  model: boolean;
  throttle: boolean;
  streams: boolean;
  events: boolean;
  presence: boolean;
  client: boolean;
  dashboard: boolean;
  memory: boolean;
  requests: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '100,1000,5000' },
      rounds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '64' },
      'no-bundles': { type: 'boolean', default: false },
      'no-fanout': { type: 'boolean', default: false },
      'no-poster': { type: 'boolean', default: false },
      'no-model': { type: 'boolean', default: false },
      'no-throttle': { type: 'boolean', default: false },
      'no-streams': { type: 'boolean', default: false },
      'no-events': { type: 'boolean', default: false },
      'no-presence': { type: 'boolean', default: false },
      'no-client': { type: 'boolean', default: false },
      'no-dashboard': { type: 'boolean', default: false },
      'no-memory': { type: 'boolean', default: false },
      'no-requests': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const sizes = values.sizes
    .split(',')
    .map((s) => Number(s.trim().replace(/_/g, '')))
    .sort((a, b) => a - b);
  const rounds = Number(values.rounds);
  const concurrency = Number(values.concurrency);
  const positive = (n: number) => Number.isInteger(n) && n > 0;
  if (!sizes.every(positive) || !positive(rounds) || !positive(concurrency)) {
    throw Object.assign(new Error(`sizes, rounds and concurrency must be positive whole numbers\n${usage}`), {
      usage: true,
    });
  }
  return {
    sizes,
    rounds,
    concurrency,
    bundles: !values['no-bundles'],
    fanout: !values['no-fanout'],
    poster: !values['no-poster'],
    model: !values['no-model'],
    throttle: !values['no-throttle'],
    streams: !values['no-streams'],
    events: !values['no-events'],
    presence: !values['no-presence'],
    client: !values['no-client'],
    dashboard: !values['no-dashboard'],
    memory: !values['no-memory'],
    requests: !values['no-requests'],
  };
}

/** The soft limit on open files, from /proc on Linux; undefined elsewhere. */
function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd : c.padStart).call(c, widths[i] ?? 0)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Every connection id in the room, read through the push API (not timed). */
async function roomConnectionIds(stack: LocalStack, auth: string, room: string): Promise<string[]> {
  const ids: string[] = [];
  let nextToken: string | undefined;
  do {
    const query = new URLSearchParams({ limit: '1000', ...(nextToken ? { nextToken } : {}) });
    const res = await fetch(`${stack.urls.http}/rooms/${room}?${query}`, {
      headers: { authorization: auth },
    });
    if (!res.ok) throw new Error(`GET /v1/rooms/${room} answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as { members: { connectionId: string }[]; nextToken?: string };
    ids.push(...page.members.map((m) => m.connectionId));
    nextToken = page.nextToken;
  } while (nextToken);
  return ids;
}

interface Sample {
  /** Until every member had the frame. */
  deliveredMs: number;
  /** Until the push API answered (roomcast only). */
  answeredMs?: number;
  /** CPU this process spent meanwhile (client, gateway, handlers and dynalite all run here). */
  cpuMs: number;
}

/** Runs one timed delivery and adds the CPU time this process spent on it. */
async function withCpu(run: () => Promise<Omit<Sample, 'cpuMs'>>): Promise<Sample> {
  const before = process.cpuUsage();
  const sample = await run();
  const used = process.cpuUsage(before);
  return { ...sample, cpuMs: (used.user + used.system) / 1000 };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const largest = options.sizes.at(-1) ?? 0;
  // Each connection costs two descriptors here (client and server side), plus agents, dynalite and slack.
  // The bare ws floor needs as many again: it is measured for the sizes the limit allows.
  const needed = largest * 2 + options.concurrency * 4 + 256;
  const limit = openFileLimit();
  console.log(
    `roomcast fan-out benchmark: node ${process.version}, sizes ${options.sizes.join(', ')}, ` +
      `${options.rounds} measured rounds (+1 warm-up), fan-out concurrency ${options.concurrency}, ` +
      `open-file limit ${limit ?? 'unknown'}`,
  );
  if (options.fanout && limit !== undefined && limit < needed) {
    console.error(
      `\nThe open-file limit (ulimit -n = ${limit}) is too low for ${fmt(largest)} connections in one process: ` +
        `about ${fmt(needed)} descriptors are needed.\nRaise it in the shell first (ulimit -n ${needed}) or choose ` +
        `smaller rooms: npm run bench -- --sizes ${options.sizes.filter((s) => s * 2 + 512 <= limit).join(',') || '100'}`,
    );
    process.exitCode = 1;
    return;
  }

  // Bundles first, while nothing else in this process competes for the CPU with the child processes.
  if (options.bundles) console.log('\nbundling each Lambda entry and timing its cold import ...');
  const bundles = options.bundles ? await measureBundles(3) : undefined;
  if (options.poster)
    console.log('\ntiming the client CPU of PostToConnection: SDK client vs lean poster ...');
  const posters = options.poster ? await measurePosters(options.rounds) : undefined;
  if (options.model) console.log('\nmeasuring one fan-out worker against @connections at 15 ms per post ...');
  const worker = options.model ? await measureWorker(options.rounds) : undefined;
  if (options.throttle) console.log('\nrunning a fan-out job against a throttling @connections ...');
  const throttled = options.throttle ? await measureThrottled(options.rounds) : undefined;
  if (options.fanout) await fanoutBench(options);
  if (options.requests) await requestsBench();
  if (options.events) await eventsBench(options.rounds);
  if (options.presence) await presenceBench(options.rounds);
  if (posters) printPosters(posters);
  if (worker) printModel(worker);
  if (throttled) printThrottled(throttled);
  if (options.streams) await streamsBench({ size: 1000, rounds: options.rounds });
  if (options.dashboard) await dashboardBench({ concurrency: options.concurrency });
  if (bundles) printBundles(bundles);
  if (options.client) await clientBench();
  if (options.memory) await memoryBench();
}

async function fanoutBench(options: Options): Promise<void> {
  // Handlers flush EMF metrics to stdout once per invocation; they would bury the figures.
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const stack = await startLocalStack({
    port: 0,
    logLevel: 'ERROR',
    sweepIntervalMs: 0,
    fanoutConcurrency: options.concurrency,
  });
  const key = (stack.env.PUSH_API_KEYS ?? '').split(',')[0] ?? '';
  const auth = `Bearer ${key}`;
  const pool = new ClientPool(stack.urls.websocket, stack.env.JWT_SECRET ?? '');
  const floorClient = createManagementClient(
    stack.env.CONNECTIONS_ENDPOINT ?? '',
    stack.env.AWS_REGION ?? 'us-east-1',
    options.concurrency,
  );
  const wsFloor = await WsBroadcastFloor.start();
  const limit = openFileLimit();
  const wsFits = (size: number) => limit === undefined || size * 4 + options.concurrency * 4 + 256 <= limit;
  const rows: string[][] = [];
  try {
    for (const size of options.sizes) {
      const room = `bench-${size}`;
      let started = performance.now();
      await pool.grow(size, 100);
      const openMs = performance.now() - started;
      started = performance.now();
      await pool.join(room, size, 100);
      const joinMs = performance.now() - started;
      if (wsFits(size)) await wsFloor.grow(size);
      const ids = await roomConnectionIds(stack, auth, room);
      if (ids.length !== size) throw new Error(`room ${room} has ${ids.length} members, expected ${size}`);
      console.log(
        `\n[${fmt(size)}] connections open ${fmt(openMs)} ms, room joined ${fmt(joinMs)} ms ` +
          `(${fmt(size / ((openMs + joinMs) / 1000))} connect+join/s)`,
      );

      const roomcastSamples: Sample[] = [];
      const floorSamples: Sample[] = [];
      const wsSamples: number[] = [];
      for (let round = 0; round <= options.rounds; round += 1) {
        const warmUp = round === 0;
        // Alternate which path goes first so drift (GC, dynalite's LevelDB) does not favour one.
        const order = round % 2 === 0 ? (['roomcast', 'floor'] as const) : (['floor', 'roomcast'] as const);
        for (const path of order) {
          const marker = `bench-${path}-${size}-${round}-${Date.now()}`;
          const sample = await withCpu(() =>
            path === 'roomcast'
              ? timeRoomcast(stack, auth, pool, room, size, marker)
              : timeFloor(floorClient, pool, ids, marker, options.concurrency),
          );
          if (!warmUp) (path === 'roomcast' ? roomcastSamples : floorSamples).push(sample);
          const extra =
            sample.answeredMs === undefined ? '' : `, API answered ${fmt(sample.answeredMs, 1)} ms`;
          console.log(
            `  ${warmUp ? 'warm-up' : `round ${round}`} ${path.padEnd(8)} ${fmt(sample.deliveredMs, 1).padStart(8)} ms (cpu ${fmt(sample.cpuMs)} ms)${extra}`,
          );
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        if (!wsFits(size)) continue;
        const wsMs = await wsFloor.broadcast(size, `bench-ws-${size}-${round}-${Date.now()}`);
        if (!warmUp) wsSamples.push(wsMs);
        console.log(
          `  ${warmUp ? 'warm-up' : `round ${round}`} ${'ws'.padEnd(8)} ${fmt(wsMs, 1).padStart(8)} ms`,
        );
      }
      const roomcastMs = median(roomcastSamples.map((s) => s.deliveredMs));
      const floorMs = median(floorSamples.map((s) => s.deliveredMs));
      const wsMs = median(wsSamples);
      const cpuRatio = median(roomcastSamples.map((s) => s.cpuMs)) / median(floorSamples.map((s) => s.cpuMs));
      rows.push([
        fmt(size),
        fmt(roomcastMs, 1),
        fmt(floorMs, 1),
        fmt(size / (roomcastMs / 1000)),
        fmt(size / (floorMs / 1000)),
        `${fmt(roomcastMs / floorMs, 2)}${size >= 1000 ? (roomcastMs / floorMs <= 1.2 ? '  ok' : '  > 1.2') : ''}`,
        fmt(cpuRatio, 2),
        wsSamples.length > 0 ? fmt(wsMs, 1) : 'n/a (ulimit -n)',
        wsSamples.length > 0 ? fmt(roomcastMs / wsMs, 1) : 'n/a',
        `${fmt(range(roomcastSamples.map((s) => s.deliveredMs))[0], 0)}–${fmt(range(roomcastSamples.map((s) => s.deliveredMs))[1], 0)}`,
      ]);
    }
  } finally {
    floorClient.destroy();
    wsFloor.close();
    // No orderly teardown: closing thousands of sockets runs $disconnect for each against dynalite, which
    // takes longer than the benchmark. The database is in memory and the process exits when main() ends.
    pool.terminateAll();
  }
  console.log(
    `\nFan-out to one room, median of ${options.rounds} rounds, time until every member has the frame ` +
      `(concurrency ${options.concurrency}; goal: ratio <= 1.2 at 1,000 and above)\n`,
  );
  console.log(
    table(
      [
        'size',
        'roomcast ms',
        'floor ms',
        'roomcast deliveries/s',
        'floor deliveries/s',
        'ratio',
        'cpu ratio',
        'ws broadcast ms',
        'ratio to ws',
        'roomcast range ms',
      ],
      rows,
    ),
  );
  console.log(
    '\n(everything runs in this one process, so the wall times are CPU-bound and other load on the machine ' +
      "shows in them; 'cpu ratio' compares this process's median CPU time per delivery run instead)",
  );
}

/** POST /v1/push to the room, timed from the request's start until every member has the frame. */
async function timeRoomcast(
  stack: LocalStack,
  auth: string,
  pool: ClientPool,
  room: string,
  size: number,
  marker: string,
): Promise<Omit<Sample, 'cpuMs'>> {
  const delivered = pool.expect(marker, size, 120_000);
  const started = performance.now();
  let answeredMs = 0;
  const answered = fetch(`${stack.urls.http}/push`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify({ room, event: 'bench', data: { marker } }),
  }).then(async (res) => {
    answeredMs = performance.now() - started;
    const body = (await res.json()) as { delivered?: number; queued?: number };
    // Rooms past the inline limit answer 202 `queued` and the fan-out workers deliver (timed the same way).
    if (!res.ok || (body.delivered !== size && body.queued !== size)) {
      throw new Error(
        `push answered ${res.status} ${JSON.stringify(body)}, expected ${size} delivered or queued`,
      );
    }
  });
  await delivered;
  const deliveredMs = performance.now() - started;
  await answered;
  return { deliveredMs, answeredMs };
}

/** The floor: a bare loop of PostToConnection calls with the same concurrency and client factory. */
async function timeFloor(
  client: ReturnType<typeof createManagementClient>,
  pool: ClientPool,
  ids: readonly string[],
  marker: string,
  concurrency: number,
): Promise<Omit<Sample, 'cpuMs'>> {
  // The same frame shape and size the service posts.
  const frame = JSON.stringify({
    type: 'message',
    room: `bench-${ids.length}`,
    event: 'bench',
    data: { marker },
    messageId: '01JD4Z3M8N6V0Q2W7E5R9T1Y3U',
    ts: Date.now(),
  });
  const delivered = pool.expect(marker, ids.length, 120_000);
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const connectionId = ids[next++] as string;
      await client.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(frame) }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  await delivered;
  return { deliveredMs: performance.now() - started };
}

function range(values: number[]): [number, number] {
  return [Math.min(...values), Math.max(...values)];
}

function printPosters(figures: PosterFigures): void {
  const sdk = median(figures.sdkMicros);
  const lean = median(figures.leanMicros);
  const [sdkLow, sdkHigh] = range(figures.sdkMicros);
  const [leanLow, leanHigh] = range(figures.leanMicros);
  console.log(
    '\nClient CPU per PostToConnection (this process only; the endpoint runs in a child process)\n',
  );
  console.log(
    table(
      ['way', 'µs per post (median)', 'range'],
      [
        ['SDK client command', fmt(sdk, 0), `${fmt(sdkLow)}–${fmt(sdkHigh)}`],
        [
          `lean poster (SigV4 by @smithy/signature-v4)${lean <= 100 ? '  ok' : '  > 100 goal'}`,
          fmt(lean, 0),
          `${fmt(leanLow)}–${fmt(leanHigh)}`,
        ],
      ],
    ),
  );
  console.log(`\n(lean is ${fmt(sdk / lean, 1)}x cheaper; goal <= 100 µs per delivery)`);
}

function printModel(figures: WorkerFigures): void {
  console.log(
    `\nOne fan-out worker (production fanOut + lean poster), ${fmt(figures.jobSize)} socketless targets, ` +
      `@connections answering after ${figures.postDelayMs} ms, median of the rounds\n`,
  );
  console.log(
    table(
      ['concurrency', 'posts/s', 'range', 'cpu µs/post (both sides)'],
      figures.rows.map((r) => {
        const [low, high] = range(r.postsPerSecond);
        return [
          fmt(r.concurrency),
          fmt(median(r.postsPerSecond)),
          `${fmt(low)}–${fmt(high)}`,
          fmt(median(r.cpuMicrosPerPost)),
        ];
      }),
    ),
  );
  const best = [...figures.rows].sort((a, b) => median(b.postsPerSecond) - median(a.postsPerSecond))[0];
  if (!best) return;
  const inputs = {
    members: 100_000,
    goalSeconds: 3,
    workerPostsPerSecond: median(best.postsPerSecond),
    workerConcurrency: best.concurrency,
    memberItemBytes: figures.memberItemBytes,
  };
  console.log('\nThe 100,000-member room: inputs\n');
  console.log(
    table(
      ['input', 'value', 'where from'],
      [
        [
          'posts/s of one worker',
          fmt(inputs.workerPostsPerSecond),
          `measured above (concurrency ${inputs.workerConcurrency})`,
        ],
        [
          'membership item bytes',
          fmt(inputs.memberItemBytes),
          'measured: a real item read back from the table',
        ],
        ...Object.entries(CITED).map(([name, c]) => [name, fmt(c.value), c.source]),
      ],
    ),
  );
  // As built: one plan job reads the room's partitions at once, post jobs of FANOUT_JOB_SIZE at the
  // deployed FANOUT_CONCURRENCY; side by side, the same room kept in one partition (before the split).
  const deployed = figures.rows.find((r) => r.concurrency === DEPLOYED.concurrency);
  if (deployed) {
    const workerPostsPerSecond = median(deployed.postsPerSecond);
    const base = {
      members: inputs.members,
      memberItemBytes: inputs.memberItemBytes,
      workerPostsPerSecond,
      jobSize: DEPLOYED.jobSize,
      workers: DEPLOYED.workers,
      splitAfter: DEPLOYED.roomSplitAfter,
    };
    const rows = [
      {
        layout: `split over ${ROOM_PARTITIONS} partitions (as built)`,
        run: pipelineModel({ ...base, partitions: ROOM_PARTITIONS }),
      },
      { layout: 'one partition (before the split)', run: pipelineModel({ ...base, partitions: 1 }) },
    ];
    console.log(
      `\nThe 100,000-member room as built: one plan job reads the room's partitions at once (partition 0 keeps the ` +
        `first ${fmt(DEPLOYED.roomSplitAfter)} members, ROOM_SPLIT_AFTER) and queues ${fmt(rows[0]?.run.jobs ?? 0)} post ` +
        `jobs of ${fmt(DEPLOYED.jobSize)} as it reads; up to ${DEPLOYED.workers} workers post at concurrency ` +
        `${DEPLOYED.concurrency}, ${fmt(workerPostsPerSecond)} posts/s each (measured above); two SQS trips ` +
        `${fmt((2 * CITED.sqsToWorkerMs.value) / 1000, 2)} s\n`,
    );
    console.log(
      table(
        [
          'members layout',
          'largest partition',
          'read s',
          'all posting s',
          'last job s',
          'total s',
          'goal 3 s',
        ],
        rows.map(({ layout, run }) => [
          layout,
          fmt(run.largestPartition),
          fmt(run.readSeconds, 2),
          fmt(run.postingSeconds, 2),
          fmt(run.jobSeconds, 2),
          fmt(run.totalSeconds, 2),
          run.totalSeconds <= 3 ? 'ok' : 'MISSED',
        ]),
      ),
    );
  }
  const one = model(inputs, 1);
  console.log(
    `\n(one function alone: ${fmt(one.singleFunctionSeconds, 1)} s of posting; ` +
      `the goal needs ${fmt(one.postsPerSecondNeeded)} posts/s in all)`,
  );
}

/** The stack's fan-out settings (lambdas/config.ts defaults, lib/constructs/fanout-queue.ts). */
const DEPLOYED = { concurrency: 64, jobSize: 1000, workers: 50, roomSplitAfter: 2000 } as const;

function printBundles(figures: BundleFigures[]): void {
  console.log(
    '\nLambda bundles (esbuild: bundle, minify, tree-shaking, platform node, target node22, esm)\n',
  );
  const goal = 300 * 1024;
  console.log(
    table(
      [
        'handler',
        'size KiB',
        '≤ 300 KiB',
        'map KiB',
        'cold import ms',
        'with source maps ms',
        'ratio',
        'cold process ms',
      ],
      figures.map((f) => [
        f.name,
        fmt(f.bytes / 1024, 1),
        f.bytes <= goal ? 'yes' : 'no',
        fmt(f.mapBytes / 1024, 0),
        fmt(f.importMs, 1),
        fmt(f.importWithMapsMs, 1),
        fmt(f.importWithMapsMs / f.importMs, 2),
        fmt(f.processMs, 1),
      ]),
    ),
  );
  console.log(
    '\n(cold import: median of 3 fresh `node` processes timing import() of the bundle; with source maps: the same ' +
      'with --enable-source-maps, as the stack runs the functions, alternated with it; process: the whole child run)',
  );
}

main()
  .catch((error: Error & { usage?: boolean }) => {
    console.error(error.usage ? error.message : (error.stack ?? error.message));
    process.exitCode = 1;
  })
  .finally(() => process.exit());
