import { METRICS } from './constants.js';
import { digestOfSet } from './digest.js';
import { type FanoutResult, fanOut } from './fanout.js';
import type { FanoutJob, FanoutQueue, FanoutTarget, PlanJob, PostJob, PresenceClaim } from './fanout-plan.js';
import type { ConnectionGateway, MetricSink, TargetPage } from './ports.js';
import * as z from './zod.js';

export * from './fanout-plan.js';

/**
 * Large fan-outs, split into jobs that workers run in parallel.
 *
 * The request path enqueues ONE `plan` job (so a push is either queued whole or
 * refused whole: nothing is half-announced). A worker runs the plan: it reads
 * the targets page by page and enqueues `post` jobs of at most `jobSize`
 * connections each, with ids derived from the message id, their position and a
 * digest of their targets, so a plan that runs twice over the same members
 * enqueues the same jobs again. A `post` job is recorded as done once it
 * finished; a redelivered job that finished is skipped, so only a worker that
 * crashed mid-job makes its connections see a frame twice (the client SDK drops
 * the repeat by `seq`). A plan run again after members came or went makes jobs
 * whose targets (and so ids) differ from the first run's: they run, and some
 * connections may get the frame twice, but none is skipped.
 */

/** The queued jobs' schema: a body that is not one is refused by parseJob. */
const text = (max?: number) =>
  z.string().check(z.minLength(1), ...(max === undefined ? [] : [z.maxLength(max)]));
const jobId = text(200);
const presence = z.optional(
  z.strictObject({ room: text(), userId: text(), event: z.enum(['join', 'leave']) }),
);
const fanoutJob = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('plan'),
    jobId,
    messageId: text(64),
    payload: text(),
    target: z.union([z.strictObject({ room: text() }), z.strictObject({ broadcast: z.literal(true) })]),
    except: z.array(z.string()),
    presence,
  }),
  z.strictObject({
    kind: z.literal('post'),
    jobId,
    messageId: text(64),
    payload: text(),
    targets: z.array(text()).check(z.minLength(1)),
    presence,
    attempt: z.optional(z.number().check(z.int(), z.gte(1), z.lte(10))),
  }),
]);

export class InvalidJobError extends Error {
  override readonly name = 'InvalidJobError';
}

/** Parses a queued job; a body that is not one is refused (it would fail the same way every time). */
export function parseJob(body: string): FanoutJob {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (cause) {
    throw new InvalidJobError('queued job is not JSON', { cause });
  }
  const parsed = fanoutJob.safeParse(raw);
  if (!parsed.success)
    throw new InvalidJobError(`queued job is malformed: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** What a worker may do with a post job: post it, skip it (it finished), or leave it to its holder. */
export type JobClaim = 'run' | 'done' | 'taken';

/**
 * Post jobs being run and finished, so a job delivered again is not posted again: claimed with a
 * lease (until `leaseUntilMs`, when the invocation running it ends) before posting, done after.
 */
export interface JobLedger {
  /** 'run' when the job is this worker's now: new, or its last holder's lease has passed. */
  claimJob(jobId: string, leaseUntilMs: number): Promise<JobClaim>;
  /** Gives a claim up (its run failed), so the job's redelivery may run it at once. */
  releaseJob(jobId: string, leaseUntilMs: number): Promise<void>;
  markJobDone(jobId: string): Promise<void>;
}

/** How long a job may run when the caller cannot say how long its invocation has left (the worker's timeout). */
export const DEFAULT_JOB_LEASE_MS = 60_000;

/**
 * A post job starts no post later than this before its invocation ends: the posts in flight
 * finish (a post gives up after 5 s), the rest is queued as a job of its own, and the job is
 * recorded as done, all before Lambda's timeout would kill it half way (and its redelivery post
 * to everyone again).
 */
export const JOB_WRAP_UP_MS = 10_000;

/**
 * Posts that still failed after the gateway's own retries (a fraction of a second: a throttling
 * storm outlasts them) are tried again as a job of their own, this many seconds later, once per
 * entry; what fails the last time counts as failed.
 */
export const FAILED_RETRY_DELAYS_S = [2, 10] as const;

/**
 * Another worker is running this job now (a copy SQS delivered twice, or one redelivered while its
 * first run is still posting): the queue delivers it again later, and by then it is done or its
 * holder's lease has passed.
 */
export class JobTakenError extends Error {
  constructor(jobId: string) {
    super(
      `fan-out job ${jobId} is being run by another worker; it comes back after the queue's visibility timeout`,
    );
    this.name = 'JobTakenError';
  }
}

export interface FanoutWorkerDeps {
  queue: FanoutQueue;
  ledger: JobLedger;
  gateway: ConnectionGateway;
  /** A target's connection ids, page by page (a room's members, or every connection). */
  targets(target: FanoutTarget): AsyncIterable<TargetPage>;
  /** Removes a connection found gone (the same prune as inline fan-outs). */
  prune(connectionId: string): Promise<unknown>;
  /** The user's connections in the room now: whether a queued presence announcement still holds. */
  roomUserConnections(room: string, userId: string): Promise<number>;
  metrics: MetricSink;
  clock: { now(): number };
  settings: { concurrency: number; jobSize: number };
}

/** Jobs enqueued per call: a plan of a very large room enqueues as it reads, not all at the end. */
const ENQUEUE_CHUNK = 10;

/**
 * Splits pages of targets into post jobs of at most `jobSize` distinct connections, minus
 * `except`. Each source's pages are batched on their own, with job ids from the source and the
 * job's place in it: a plan run again makes the same jobs, whatever order the sources answer in.
 */
export async function* postJobs(
  plan: Pick<PlanJob, 'messageId' | 'payload' | 'except' | 'presence'>,
  pages: AsyncIterable<TargetPage>,
  jobSize: number,
): AsyncGenerator<PostJob> {
  const seen = new Set(plan.except);
  const batches = new Map<string, { targets: string[]; count: number }>();
  const job = (source: string, batch: { targets: string[]; count: number }): PostJob => ({
    kind: 'post',
    // A job is known as done only for exactly the connections it posted to: ids from the position
    // alone would let a plan run again after a leave (every later batch shifted by one) skip a
    // connection whose job never ran, under an id a finished job had.
    jobId: `${plan.messageId}.${source}.${batch.count++}.${digestOfSet(batch.targets).slice(0, 16)}`,
    messageId: plan.messageId,
    payload: plan.payload,
    targets: batch.targets,
    ...(plan.presence ? { presence: plan.presence } : {}),
  });
  for await (const page of pages) {
    let batch = batches.get(page.source);
    if (!batch) {
      batch = { targets: [], count: 0 };
      batches.set(page.source, batch);
    }
    for (const id of page.ids) {
      if (seen.has(id)) continue;
      seen.add(id);
      batch.targets.push(id);
      if (batch.targets.length === jobSize) {
        yield job(page.source, batch);
        batch.targets = [];
      }
    }
  }
  for (const [source, batch] of batches) if (batch.targets.length > 0) yield job(source, batch);
}

/** Runs one queued job: a plan becomes post jobs; a post job is one bounded fan-out. */
export class FanoutWorker {
  constructor(private readonly deps: FanoutWorkerDeps) {}

  /**
   * `remainingMs`: how long the invocation running the job has left (Lambda's
   * getRemainingTimeInMillis); a post job's claim holds until then, by this worker's clock.
   */
  async run(job: FanoutJob, remainingMs = DEFAULT_JOB_LEASE_MS): Promise<FanoutResult & { jobs?: number }> {
    return job.kind === 'plan' ? this.plan(job) : this.post(job, this.deps.clock.now() + remainingMs);
  }

  private async plan(job: PlanJob): Promise<FanoutResult & { jobs: number }> {
    let pending: PostJob[] = [];
    let jobs = 0;
    for await (const post of postJobs(job, this.deps.targets(job.target), this.deps.settings.jobSize)) {
      pending.push(post);
      jobs += 1;
      if (pending.length === ENQUEUE_CHUNK) {
        await this.deps.queue.enqueue(pending);
        pending = [];
      }
    }
    if (pending.length > 0) await this.deps.queue.enqueue(pending);
    return { delivered: 0, pruned: 0, failed: 0, jobs };
  }

  private async post(job: PostJob, leaseUntilMs: number): Promise<FanoutResult> {
    const { deps } = this;
    const claim = await deps.ledger.claimJob(job.jobId, leaseUntilMs);
    if (claim === 'done') return { delivered: 0, pruned: 0, failed: 0 };
    if (claim === 'taken') throw new JobTakenError(job.jobId);
    try {
      return await this.postClaimed(job, leaseUntilMs);
    } catch (error) {
      // The run failed before the job was recorded: its redelivery must not find it taken by this run.
      await deps.ledger.releaseJob(job.jobId, leaseUntilMs).catch(() => undefined);
      throw error;
    }
  }

  private async postClaimed(job: PostJob, leaseUntilMs: number): Promise<FanoutResult> {
    const { deps } = this;
    if (job.presence && !(await this.stillHolds(job.presence))) {
      await deps.ledger.markJobDone(job.jobId);
      return { delivered: 0, pruned: 0, failed: 0 };
    }
    const started = deps.clock.now();
    const unsent: string[] = [];
    const failedIds: string[] = [];
    const result = await fanOut(job.targets, job.payload, {
      gateway: deps.gateway,
      prune: deps.prune,
      concurrency: deps.settings.concurrency,
      stop: () => deps.clock.now() >= leaseUntilMs - JOB_WRAP_UP_MS,
      unsent,
      failedIds,
    });
    if (await this.tryAgainLater(job, failedIds)) result.failed = 0;
    if (unsent.length > 0) {
      // Its id from this job's and what it holds: this job run again (its record lost) hands on the
      // same job, and a job that hands on all it holds (it started too late) makes a new one, not
      // itself again (which its own record, written next, would have it skip).
      const rest = digestOfSet([`job:${job.jobId}`, ...unsent]).slice(0, 16);
      await deps.queue.enqueue([{ ...job, jobId: `${job.messageId}.rest.${rest}`, targets: unsent }]);
    }
    deps.metrics.count(METRICS.delivered, result.delivered);
    deps.metrics.count(METRICS.pruned, result.pruned);
    deps.metrics.count(METRICS.failed, result.failed);
    deps.metrics.milliseconds(METRICS.fanoutDuration, deps.clock.now() - started);
    await deps.ledger.markJobDone(job.jobId);
    return result;
  }

  /**
   * Queues the connections a post job failed to reach as a job of their own, delayed, while the
   * job has tries left. True when queued (they have not failed yet); false when they count as
   * failed (no tries left, or the queue refused: they are not posted to again either way).
   */
  private async tryAgainLater(job: PostJob, failedIds: string[]): Promise<boolean> {
    const attempt = job.attempt ?? 0;
    const delaySeconds = FAILED_RETRY_DELAYS_S[attempt];
    if (failedIds.length === 0 || delaySeconds === undefined) return false;
    const retry: PostJob = {
      ...job,
      jobId: `${job.messageId}.retry${attempt + 1}.${digestOfSet(failedIds).slice(0, 16)}`,
      targets: failedIds,
      attempt: attempt + 1,
    };
    try {
      await this.deps.queue.enqueue([retry], { delaySeconds });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Whether the user is (for a `join`) or is not (for a `leave`) in the room now. A `join` and a
   * `leave` of the same user queued moments apart may run in either order; the one that no longer
   * holds is dropped, so a member is not left believing the opposite of what is true. A change
   * between this read and the posts can still cross them, in a window of one job's posting.
   */
  private async stillHolds(claim: PresenceClaim): Promise<boolean> {
    const present = (await this.deps.roomUserConnections(claim.room, claim.userId)) > 0;
    return claim.event === 'join' ? present : !present;
  }
}
