/**
 * What a large fan-out is queued as: the jobs' shapes, the plan job, and the queue's port. No
 * parsing here (fanout-jobs.ts), so the request-path functions that only enqueue carry no schema.
 */

export type FanoutTarget = { room: string } | { broadcast: true };

/**
 * What a presence announcement says (a `join` when the user's first connection came into the
 * room, a `leave` when its last one went). Queued jobs run in no set order, so a worker checks it
 * still holds before posting: a `join` overtaken by the user's `leave` (or the reverse) is dropped.
 */
export interface PresenceClaim {
  room: string;
  userId: string;
  event: 'join' | 'leave';
}

export interface PlanJob {
  kind: 'plan';
  jobId: string;
  messageId: string;
  /** The serialized frame, posted as it is. */
  payload: string;
  target: FanoutTarget;
  /** Connections that must not get the frame (the sender, `exceptConnectionId`). */
  except: string[];
  /** Set for a presence announcement: posted only while it still holds. */
  presence?: PresenceClaim;
}

export interface PostJob {
  kind: 'post';
  jobId: string;
  messageId: string;
  payload: string;
  targets: string[];
  presence?: PresenceClaim;
  /** Set on a job of the connections an earlier post job still failed to reach: its try (1, 2). */
  attempt?: number;
}

export type FanoutJob = PlanJob | PostJob;

/** Where jobs wait for a worker: SQS on AWS, an in-memory queue locally. */
export interface FanoutQueue {
  /**
   * Enqueues every job or throws; the order of jobs is not kept. `delaySeconds` (0-900, as SQS)
   * holds them back that long before a worker may take them.
   */
  enqueue(jobs: readonly FanoutJob[], options?: { delaySeconds?: number }): Promise<void>;
}

/** The one plan job a large fan-out is queued as (its id from the message id, so a retry is the same job). */
export function planJob(
  messageId: string,
  payload: string,
  target: FanoutTarget,
  except: Iterable<string>,
  presence?: PresenceClaim,
): PlanJob {
  return {
    kind: 'plan',
    jobId: `${messageId}.plan`,
    messageId,
    payload,
    target,
    except: [...except],
    ...(presence ? { presence } : {}),
  };
}
