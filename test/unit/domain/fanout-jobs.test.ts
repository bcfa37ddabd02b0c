import type { APIGatewayProxyEventV2, Context, SQSEvent } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import {
  type FanoutJob,
  type FanoutQueue,
  FanoutWorker,
  type JobClaim,
  type JobLedger,
  JobTakenError,
  type PlanJob,
  type PostJob,
  parseJob,
  postJobs,
} from '../../../lambdas/domain/fanout-jobs.js';
import { createFanoutWorkerHandler } from '../../../lambdas/handlers/fanout-worker.js';
import { createPushHandler } from '../../../lambdas/handlers/push.js';
import { LocalFanoutQueue } from '../../../local/queue.js';
import { CountingSink, fakeRuntime, fixedClock, RecordingGateway } from '../fakes.js';

async function* pages(...batches: string[][]) {
  for (const ids of batches) yield { source: '0', ids };
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

/** The ledger's rules (claimed with a lease, then done) in memory; DynamoJobLedger's are tested against the stores. */
class MemoryLedger implements JobLedger {
  readonly done = new Set<string>();
  readonly leases = new Map<string, number>();
  constructor(private readonly now = () => fixedClock().now()) {}
  async claimJob(jobId: string, leaseUntilMs: number): Promise<JobClaim> {
    if (this.done.has(jobId)) return 'done';
    const lease = this.leases.get(jobId);
    if (lease !== undefined && lease >= this.now()) return 'taken';
    this.leases.set(jobId, leaseUntilMs);
    return 'run';
  }
  async releaseJob(jobId: string, leaseUntilMs: number) {
    if (!this.done.has(jobId) && this.leases.get(jobId) === leaseUntilMs) this.leases.set(jobId, 0);
  }
  async markJobDone(jobId: string) {
    this.done.add(jobId);
  }
}

class MemoryQueue implements FanoutQueue {
  readonly jobs: FanoutJob[] = [];
  /** The delay each job was enqueued with. */
  readonly delays: (number | undefined)[] = [];
  calls = 0;
  async enqueue(jobs: readonly FanoutJob[], options: { delaySeconds?: number } = {}) {
    this.calls += 1;
    this.jobs.push(...jobs);
    for (const _ of jobs) this.delays.push(options.delaySeconds);
  }
}

/** A post job of message m1 (id m1.0, payload 'f') to `targets`. */
const postJob = (targets: string[], overrides: Partial<PostJob> = {}): FanoutJob => ({
  kind: 'post',
  jobId: 'm1.0',
  messageId: 'm1',
  payload: 'f',
  targets,
  ...overrides,
});

const plan = (overrides: Partial<PlanJob> = {}): PlanJob => ({
  kind: 'plan',
  jobId: 'm1.plan',
  messageId: 'm1',
  payload: '{"type":"message"}',
  target: { room: 'big' },
  except: [],
  ...overrides,
});

function worker(
  members: string[][],
  overrides: {
    jobSize?: number;
    inRoom?: Map<string, number>;
    ledger?: MemoryLedger;
    gateway?: RecordingGateway;
    clock?: { now(): number };
    roomUserConnections?: (room: string, userId: string) => Promise<number>;
  } = {},
) {
  const queue = new MemoryQueue();
  const ledger = overrides.ledger ?? new MemoryLedger();
  const gateway = overrides.gateway ?? new RecordingGateway();
  const metrics = new CountingSink();
  const pruned: string[] = [];
  const w = new FanoutWorker({
    queue,
    ledger,
    gateway,
    targets: () => pages(...members),
    prune: async (id) => {
      pruned.push(id);
    },
    roomUserConnections:
      overrides.roomUserConnections ??
      (async (room, userId) => overrides.inRoom?.get(`${room}/${userId}`) ?? 0),
    metrics,
    clock: overrides.clock ?? fixedClock(),
    settings: { concurrency: 4, jobSize: overrides.jobSize ?? 2 },
  });
  return { w, queue, ledger, gateway, metrics, pruned };
}

describe('splitting a fan-out into jobs', () => {
  it('makes jobs of at most jobSize distinct connections, without the excepted ones, with ids from the message', async () => {
    const jobs = await collect(
      postJobs(plan({ except: ['me'] }), pages(['a', 'me', 'b'], ['b', 'c', 'd', 'e']), 2),
    );

    expect(jobs.map((j) => j.targets)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(jobs.map((j) => j.jobId)).toEqual([
      expect.stringMatching(/^m1\.0\.0\.[\w-]{16}$/),
      expect.stringMatching(/^m1\.0\.1\.[\w-]{16}$/),
      expect.stringMatching(/^m1\.0\.2\.[\w-]{16}$/),
    ]);
  });

  it('makes the same jobs from several sources whatever order their pages arrive in', async () => {
    async function* arriving(order: [string, string[]][]) {
      for (const [source, ids] of order) yield { source, ids };
    }
    const byId = (jobs: { jobId: string; targets: string[] }[]) =>
      Object.fromEntries(jobs.map((j) => [j.jobId, j.targets]));
    const one = await collect(
      postJobs(
        plan(),
        arriving([
          ['0', ['a', 'b', 'c']],
          ['3', ['x', 'y']],
          ['0', ['d']],
        ]),
        2,
      ),
    );
    const other = await collect(
      postJobs(
        plan(),
        arriving([
          ['3', ['x']],
          ['0', ['a']],
          ['3', ['y']],
          ['0', ['b', 'c', 'd']],
        ]),
        2,
      ),
    );

    expect(byId(other)).toEqual(byId(one));
    expect(Object.values(byId(one))).toEqual([
      ['a', 'b'],
      ['x', 'y'],
      ['c', 'd'],
    ]);
  });

  it('gives the same job ids when a plan runs twice, so the redelivered plan is harmless', async () => {
    const first = await collect(postJobs(plan(), pages(['a', 'b', 'c']), 2));
    const second = await collect(postJobs(plan(), pages(['a', 'b', 'c']), 2));

    expect(second).toEqual(first);
  });

  it('skips nobody when a plan that stopped half way runs again after a member left', async () => {
    // The first run of the plan queued its first two jobs and stopped (its worker crashed).
    const { w, queue, gateway, ledger } = worker([['a', 'b', 'c', 'd', 'e', 'f', 'g']]);
    await w.run(plan());
    for (const job of queue.jobs.slice(0, 2)) await w.run(job);
    // 'a' leaves; SQS delivers the plan again, and every job it makes runs.
    const again = worker([['b', 'c', 'd', 'e', 'f', 'g']], { ledger, gateway });
    await again.w.run(plan());
    for (const job of again.queue.jobs) await again.w.run(job);

    const reached = new Set(gateway.posts.map((p) => p.connectionId));
    expect([...reached].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });
});

describe('the fan-out worker', () => {
  it('runs a plan by enqueueing post jobs as it reads, posting nothing itself', async () => {
    const members = Array.from({ length: 25 }, (_, i) => [`c${i}`]);
    const { w, queue, gateway } = worker(members, { jobSize: 1 });

    const result = await w.run(plan());

    expect(result.jobs).toBe(25);
    expect(queue.jobs).toHaveLength(25);
    expect(queue.calls).toBe(3); // chunks of 10: enqueued while reading, not all at the end
    expect(gateway.posts).toHaveLength(0);
  });

  it('posts a job, counts the outcomes, prunes gone connections and records the job as done', async () => {
    const { w, gateway, ledger, metrics, pruned } = worker([]);
    gateway.outcomes.set('gone', 'gone');

    const result = await w.run(postJob(['a', 'gone']));

    expect(result).toEqual({ delivered: 1, pruned: 1, failed: 0 });
    expect(pruned).toEqual(['gone']);
    expect(ledger.done.has('m1.0')).toBe(true);
    expect(metrics.counts.get('Delivered')).toBe(1);
  });

  it('skips a redelivered job that already finished', async () => {
    const { w, gateway } = worker([]);
    const job: FanoutJob = postJob(['a']);

    await w.run(job);
    await w.run(job);

    expect(gateway.posts).toHaveLength(1);
  });

  it('leaves a copy of a job to the worker running it: posted once, the copy reported for its redelivery', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const gateway = new RecordingGateway();
    const post = gateway.post.bind(gateway);
    gateway.post = async (id, payload) => {
      await held;
      return post(id, payload);
    };
    const { w } = worker([], { gateway });
    const job: FanoutJob = postJob(['a', 'b']);

    const first = w.run(job);
    // SQS delivered the job twice: the copy finds it claimed and is refused, so the queue brings it back.
    await expect(w.run(job)).rejects.toBeInstanceOf(JobTakenError);
    release();
    await first;
    // Its redelivery finds it done.
    await w.run(job);

    expect(gateway.posts.map((p) => p.connectionId).sort()).toEqual(['a', 'b']);
  });

  it("takes over a job whose worker died mid-job, once that worker's lease has passed", async () => {
    let now = 1_000_000;
    const ledger = new MemoryLedger(() => now);
    const { w, gateway } = worker([], { ledger, clock: { now: () => now } });
    const job: FanoutJob = postJob(['a']);
    // A worker claimed it until 1 060 000 and was never heard of again.
    expect(await ledger.claimJob(job.jobId, 1_060_000)).toBe('run');

    await expect(w.run(job, 60_000)).rejects.toBeInstanceOf(JobTakenError);
    now = 1_060_001;
    await w.run(job, 60_000);

    expect(gateway.posts.map((p) => p.connectionId)).toEqual(['a']);
    expect(ledger.done.has(job.jobId)).toBe(true);
  });

  it('posts to every target again when the worker that ran the job died half way (none is skipped)', async () => {
    let now = 1_000_000;
    const ledger = new MemoryLedger(() => now);
    const clock = { now: () => now };
    // The first worker's posts to 'b' never come back: its invocation dies there.
    const dying = new RecordingGateway();
    const post = dying.post.bind(dying);
    dying.post = (id, payload) => (id === 'b' ? new Promise<never>(() => {}) : post(id, payload));
    const job: FanoutJob = postJob(['a', 'b']);
    void worker([], { ledger, gateway: dying, clock }).w.run(job, 60_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(dying.posts.map((p) => p.connectionId)).toEqual(['a']);

    // The job comes back after the first worker's lease: a second worker runs it whole.
    now += 60_001;
    const { w, gateway } = worker([], { ledger, clock });
    await w.run(job, 60_000);
    expect(gateway.posts.map((p) => p.connectionId).sort()).toEqual(['a', 'b']);
    expect(ledger.done.has('m1.0')).toBe(true);
  });

  it('hands on a job it had no time to start under a new id, so the job it queued is not skipped as done', async () => {
    let now = 1_000_000;
    const { w, queue, gateway } = worker([], { clock: { now: () => now } });
    const job: FanoutJob = postJob(['a']);
    // Twice started 5 s before its invocation's end: nothing posted, everything handed on.
    await w.run(job, 5_000);
    const rest = queue.jobs[0] as FanoutJob;
    await w.run(rest, 5_000);
    const restOfRest = queue.jobs[1] as FanoutJob;
    expect(new Set([job.jobId, rest.jobId, restOfRest.jobId]).size).toBe(3);
    now += 1;
    await w.run(restOfRest, 60_000);
    expect(gateway.posts.map((p) => p.connectionId)).toEqual(['a']);
  });

  it('gives its claim up when its run fails, so the redelivery runs the job at once', async () => {
    let failing = true;
    const { w, gateway } = worker([], {
      roomUserConnections: async () => {
        if (failing) throw new Error('store unavailable');
        return 1;
      },
    });
    const job: FanoutJob = {
      kind: 'post',
      jobId: 'm1.0',
      messageId: 'm1',
      payload: 'f',
      targets: ['a'],
      presence: { room: 'lobby', userId: 'u', event: 'join' },
    };
    await expect(w.run(job)).rejects.toThrow('store unavailable');
    failing = false;
    await w.run(job);
    expect(gateway.posts.map((p) => p.connectionId)).toEqual(['a']);
  });

  it('tries the connections it failed to reach again 2 s and then 10 s later, then counts them failed', async () => {
    const gateway = new RecordingGateway();
    gateway.outcomes.set('b', 'failed');
    const { w, queue, metrics } = worker([], { gateway });
    const job: FanoutJob = postJob(['a', 'b']);

    const first = await w.run(job);
    expect(first).toMatchObject({ delivered: 1, failed: 0 });
    expect(queue.jobs).toEqual([expect.objectContaining({ kind: 'post', targets: ['b'], attempt: 1 })]);
    expect(queue.delays).toEqual([2]);

    await w.run(queue.jobs[0] as FanoutJob);
    expect(queue.jobs[1]).toMatchObject({ targets: ['b'], attempt: 2 });
    expect(queue.delays[1]).toBe(10);
    expect(metrics.counts.get('DeliveryFailed') ?? 0).toBe(0);

    const last = await w.run(queue.jobs[1] as FanoutJob);
    expect(last).toMatchObject({ delivered: 0, failed: 1 });
    expect(queue.jobs).toHaveLength(2);
    expect(metrics.counts.get('DeliveryFailed')).toBe(1);
    expect(gateway.posts.map((p) => p.connectionId)).toEqual(['a', 'b', 'b', 'b']);
  });

  it('delivers on a later try what a throttling storm refused at first', async () => {
    const gateway = new RecordingGateway();
    gateway.outcomes.set('b', 'failed');
    const { w, queue } = worker([], { gateway });
    await w.run(postJob(['a', 'b']));
    gateway.outcomes.delete('b');

    expect(await w.run(queue.jobs[0] as FanoutJob)).toMatchObject({ delivered: 1, failed: 0 });
    expect(queue.jobs).toHaveLength(1);
  });

  it('hands the targets it has no time left for on as a job of their own, and each gets the frame once', async () => {
    let now = 1_000_000;
    const gateway = new RecordingGateway();
    const post = gateway.post.bind(gateway);
    // Every post takes a second; 4 run at once.
    gateway.post = async (id, payload) => {
      now += 1000 / 4;
      return post(id, payload);
    };
    const { w, queue, ledger } = worker([], { gateway, clock: { now: () => now } });
    const targets = Array.from({ length: 100 }, (_, i) => `c${i}`);
    const job: FanoutJob = { kind: 'post', jobId: 'm1.0', messageId: 'm1', payload: 'f', targets };

    // 15 s left in the invocation: posts stop starting 10 s before its end.
    await w.run(job, 15_000);

    const posted = gateway.posts.length;
    expect(posted).toBeGreaterThan(0);
    expect(posted).toBeLessThan(100);
    expect(ledger.done.has('m1.0')).toBe(true);
    expect(queue.jobs).toHaveLength(1);
    const rest = queue.jobs[0] as FanoutJob & { targets: string[] };
    expect(rest).toMatchObject({ kind: 'post', messageId: 'm1', payload: 'f' });
    expect(rest.targets).toHaveLength(100 - posted);

    await w.run(rest, 60_000);
    expect(gateway.posts.map((p) => p.connectionId).sort()).toEqual([...targets].sort());
  });

  it('carries a presence announcement onto every post job of its plan', async () => {
    const { w, queue } = worker([['a', 'b', 'c']]);
    const presence = { room: 'presence-big', userId: 'alice', event: 'join' } as const;

    await w.run(plan({ target: { room: 'presence-big' }, presence }));

    expect(queue.jobs).toHaveLength(2);
    for (const job of queue.jobs) expect(job.presence).toEqual(presence);
  });

  it('posts a queued presence announcement only while it still holds', async () => {
    // alice is in the room again (a later join overtook this leave), bob has left since his join.
    const inRoom = new Map([['presence-big/alice', 1]]);
    const { w, gateway, ledger } = worker([], { inRoom });
    const post = (jobId: string, userId: string, event: 'join' | 'leave'): FanoutJob => ({
      kind: 'post',
      jobId,
      messageId: jobId,
      payload: `${userId} ${event}`,
      targets: ['m1'],
      presence: { room: 'presence-big', userId, event },
    });

    await w.run(post('j1', 'alice', 'leave'));
    await w.run(post('j2', 'bob', 'join'));
    await w.run(post('j3', 'alice', 'join'));
    await w.run(post('j4', 'bob', 'leave'));

    expect(gateway.posts.map((p) => p.payload)).toEqual(['alice join', 'bob leave']);
    // The dropped ones are done too: a redelivery does not read again.
    expect([...ledger.done].sort()).toEqual(['j1', 'j2', 'j3', 'j4']);
  });
});

describe('queued job bodies', () => {
  it('parses a presence announcement and refuses a malformed one', () => {
    const presence = { room: 'presence-r', userId: 'u', event: 'leave' };
    const job = { kind: 'post', jobId: 'j', messageId: 'm', payload: 'f', targets: ['a'], presence };
    expect(parseJob(JSON.stringify(job))).toEqual(job);
    expect(() => parseJob(JSON.stringify({ ...job, presence: { ...presence, event: 'wave' } }))).toThrow(
      /malformed/,
    );
  });

  it('refuses a body that is not a job', () => {
    expect(() => parseJob('nope')).toThrow(/not JSON/);
    expect(() => parseJob('{"kind":"post","jobId":"x","messageId":"m","payload":"p","targets":[]}')).toThrow(
      /malformed/,
    );
  });
});

describe('the worker handler', () => {
  it("gives each job the invocation's remaining time (its claim's lease) and hands a job held elsewhere back", async () => {
    const { runtime } = fakeRuntime();
    const given: (number | undefined)[] = [];
    const worker = {
      run: async (job: FanoutJob, remainingMs?: number) => {
        given.push(remainingMs);
        if (job.jobId === 'held') throw new JobTakenError(job.jobId);
        return { delivered: 0, pruned: 0, failed: 0 };
      },
    } as unknown as FanoutWorker;
    const record = (jobId: string, messageId: string) =>
      ({ messageId, body: JSON.stringify(postJob(['a'], { jobId })) }) as SQSEvent['Records'][number];
    const context = { awsRequestId: 'r', getRemainingTimeInMillis: () => 42_000 } as unknown as Context;
    const answer = await createFanoutWorkerHandler(runtime, worker)(
      { Records: [record('free', 'm-free'), record('held', 'm-held')] },
      context,
    );
    expect(given).toEqual([42_000, 42_000]);
    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: 'm-held' }]);
  });
});

describe('the worker handler on the local queue', () => {
  it('delivers every job, retries a failing one and dead-letters it after the receive limit', async () => {
    // Prepare: a worker whose gateway throws for one job's only target.
    const { w, gateway } = worker([]);
    const { runtime } = fakeRuntime();
    let poisonRuns = 0;
    const flaky: typeof w = {
      run: async (job) => {
        if (job.kind === 'post' && job.targets[0] === 'poison') {
          poisonRuns += 1;
          throw new Error('worker crashed');
        }
        return w.run(job);
      },
    } as typeof w;
    const handler = createFanoutWorkerHandler(runtime, flaky);
    const dead: string[] = [];
    const queue = new LocalFanoutQueue((event: SQSEvent) => handler(event), {
      workers: 2,
      batchSize: 2,
      maxReceives: 3,
      region: 'local',
      queueArn: 'arn:aws:sqs:local:000000000000:fanout',
      onDeadLetter: (record) => dead.push(record.body),
    });

    // Act
    await queue.enqueue([
      postJob(['a', 'b']),
      { kind: 'post', jobId: 'm1.1', messageId: 'm1', payload: 'f', targets: ['poison'] },
      { kind: 'post', jobId: 'm1.2', messageId: 'm1', payload: 'f', targets: ['c'] },
    ]);
    await queue.idle();

    // Assess
    expect(gateway.posts.map((p) => p.connectionId).sort()).toEqual(['a', 'b', 'c']);
    expect(poisonRuns).toBe(3);
    expect(dead).toHaveLength(1);
    expect(JSON.parse(dead[0] ?? '{}').jobId).toBe('m1.1');
  });
});

describe('the local queue', () => {
  it('drops, once closed, the delayed jobs that a job running as it closed queued', async () => {
    vi.useFakeTimers();
    try {
      let runs = 0;
      const queue: LocalFanoutQueue = new LocalFanoutQueue(
        async (event: SQSEvent) => {
          runs += 1;
          await Promise.resolve();
          // A retry of what this job failed to reach, queued while the queue closes.
          if (runs === 1)
            await queue.enqueue([JSON.parse(event.Records[0]?.body ?? '{}')], { delaySeconds: 1 });
          return { batchItemFailures: [] };
        },
        { workers: 1, batchSize: 1, maxReceives: 3, region: 'local', queueArn: 'arn:aws:sqs:local:0:q' },
      );
      await queue.enqueue([{ kind: 'post', jobId: 'j', messageId: 'm', payload: 'f', targets: ['a'] }]);
      await queue.close();
      await vi.advanceTimersByTimeAsync(5_000);
      expect(runs).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('holds a delayed job back until its delay passed, and drops delayed jobs when closing', async () => {
    vi.useFakeTimers();
    try {
      const seen: string[] = [];
      const queue = new LocalFanoutQueue(
        async (event: SQSEvent) => {
          for (const r of event.Records) seen.push(JSON.parse(r.body).jobId);
          return { batchItemFailures: [] };
        },
        { workers: 1, batchSize: 1, maxReceives: 3, region: 'local', queueArn: 'arn:aws:sqs:local:0:q' },
      );
      const job = (jobId: string): FanoutJob => ({
        kind: 'post',
        jobId,
        messageId: 'm',
        payload: 'f',
        targets: ['a'],
      });
      await queue.enqueue([job('later')], { delaySeconds: 2 });
      await queue.enqueue([job('dropped')], { delaySeconds: 5 });
      await vi.advanceTimersByTimeAsync(1999);
      expect(seen).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      await queue.idle();
      expect(seen).toEqual(['later']);
      await queue.close();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(seen).toEqual(['later']);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('handing a large fan-out to the workers', () => {
  it('queues one plan job for a room over the inline limit and answers 202 with the stored seq', async () => {
    const { runtime, service, store, clock, fanoutQueue, gateway } = fakeRuntime(
      {},
      { inlineFanoutLimit: 1 },
    );
    for (const id of ['c1', 'c2']) {
      await service.connect(id, `user-${id}`, clock.now());
      await store.addMember({
        room: 'big',
        connectionId: id,
        userId: `user-${id}`,
        joinedAt: 1,
        expiresAt: 4_102_444_800,
      });
    }
    const push = createPushHandler(runtime, async () => ['test-key']);

    const answer = await push(pushEvent({ room: 'big', event: 'e', data: 1, exceptConnectionId: 'c2' }));

    expect(answer.statusCode).toBe(202);
    expect(JSON.parse(answer.body ?? '')).toEqual({ messageId: expect.any(String), seq: 1, queued: 2 });
    expect(fanoutQueue.jobs).toEqual([
      expect.objectContaining({ kind: 'plan', target: { room: 'big' }, except: ['c2'] }),
    ]);
    expect(gateway.posts).toHaveLength(0);
  });

  it('answers 503 when the queue is unavailable, and delivers nothing', async () => {
    const { runtime, service, store, clock, fanoutQueue, gateway } = fakeRuntime(
      {},
      { inlineFanoutLimit: 1 },
    );
    for (const id of ['c1', 'c2']) {
      await service.connect(id, `user-${id}`, clock.now());
      await store.addMember({
        room: 'big',
        connectionId: id,
        userId: `user-${id}`,
        joinedAt: 1,
        expiresAt: 4_102_444_800,
      });
    }
    fanoutQueue.enqueue = async () => {
      throw new Error('connect ECONNREFUSED sqs');
    };
    const push = createPushHandler(runtime, async () => ['test-key']);

    const answer = await push(pushEvent({ room: 'big', event: 'e', data: 1 }));

    expect(answer.statusCode).toBe(503);
    expect(JSON.parse(answer.body ?? '').error).toMatchObject({
      code: 'INTERNAL',
      message: expect.stringContaining('fan-out queue is unavailable'),
    });
    expect(answer.body).not.toContain('ECONNREFUSED');
    expect(gateway.posts).toHaveLength(0);
  });
});

function pushEvent(body: unknown): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/v1/push',
    rawQueryString: '',
    headers: { authorization: 'Bearer test-key', 'content-type': 'application/json' },
    requestContext: {
      accountId: '1',
      apiId: 'a',
      domainName: 'x',
      domainPrefix: 'x',
      http: { method: 'POST', path: '/v1/push', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 't' },
      requestId: 'r1',
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: 0,
    },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}
