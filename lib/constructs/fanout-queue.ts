import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FANOUT_MAX_RECEIVES } from '../../lambdas/domain/constants.js';

/** A function the queue can be bound to (RoomcastFunction). */
export interface IQueueBindable extends IGrantable {
  addEnvironment(key: string, value: string): void;
  readonly function: { addEventSource(source: SqsEventSource): void };
}

export interface FanoutQueueProps {
  /**
   * How long a job is hidden from other workers while one runs it: at least the
   * worker function's timeout, as SQS event sources require.
   */
  readonly visibilityTimeout: Duration;
  /**
   * Deliveries of one job before it goes to the dead-letter queue. Receives that found the worker
   * throttled (the account's concurrency used up) count too, so there is room for some.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * Worker invocations at once (the event source's maximum concurrency).
   * @default 50
   */
  readonly maxConcurrency?: number;
  /** @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The fan-out queue: large fan-outs are split into jobs here and run by the
 * worker function in parallel. Encrypted, TLS only, with a dead-letter queue for
 * jobs that failed `maxReceiveCount` times (alarmed by the stack's monitoring).
 */
export class FanoutQueue extends Construct {
  /** The variable that names the queue to the functions that enqueue. */
  static readonly ENV = 'FANOUT_QUEUE_URL';
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  private readonly props: FanoutQueueProps;

  constructor(scope: Construct, id: string, props: FanoutQueueProps) {
    super(scope, id);
    this.props = props;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy,
    });
    this.queue = new Queue(this, 'Jobs', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: props.visibilityTimeout,
      // A job nobody could run within a day is stale: its frame is long out of date.
      retentionPeriod: Duration.days(1),
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        maxReceiveCount: props.maxReceiveCount ?? FANOUT_MAX_RECEIVES,
      },
      removalPolicy,
    });
  }

  /** A function that enqueues jobs: the queue's URL and sqs:SendMessage on it, nothing else. */
  bindProducer(fn: IQueueBindable): void {
    fn.addEnvironment(FanoutQueue.ENV, this.queue.queueUrl);
    this.queue.grantSendMessages(fn);
  }

  /**
   * The worker: fed one job per invocation (a failed job is retried alone), and a
   * producer too, as a plan job enqueues post jobs.
   */
  bindWorker(fn: IQueueBindable): void {
    this.bindProducer(fn);
    fn.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: this.props.maxConcurrency ?? 50,
      }),
    );
  }
}
