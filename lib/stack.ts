import {
  Aws,
  type CfnElement,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import { CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LAMBDA_ENTRIES, type LambdaName } from '../lambdas/entries/index.js';
import type { StageSettings } from './config.js';
import { RoomcastAuth } from './constructs/auth.js';
import { RoomcastEventBus } from './constructs/event-bus.js';
import { FanoutQueue } from './constructs/fanout-queue.js';
import { RoomcastFunction } from './constructs/function.js';
import { RoomcastMonitoring } from './constructs/monitoring.js';
import { RoomcastPushApi } from './constructs/push-api.js';
import { ConnectionsTable, type StoreOperation } from './constructs/table.js';
import { type ConnectionsMethod, RoomcastWebSocketApi } from './constructs/websocket-api.js';

/** CloudWatch namespace of the handlers' EMF metrics; stages differ by the `service` dimension. */
export const METRICS_NAMESPACE = 'Roomcast';

/** The Powertools service name (and `service` metric dimension) of a stage. */
export function serviceNameFor(stage: string): string {
  return `roomcast-${stage}`;
}

export interface RoomcastStackProps extends StackProps {
  /** The validated stage settings (resolveStageSettings). */
  readonly settings: StageSettings;
}

/**
 * What each function may touch, the one table of env and grants per function:
 * the store operations its code path calls (each grants the DynamoDB calls
 * STORE_CALLS lists for it, nothing more), the @connections methods it calls,
 * and whether it reads MAX_DATA_BYTES. A new function or a new call is added here.
 */
export const FUNCTION_BINDINGS: Record<
  LambdaName,
  {
    /** Store operations (ConnectionStore methods) the function's code path calls; absent: no table at all. */
    store?: readonly StoreOperation[];
    /** The @connections methods it calls; absent for functions with no management client at all. */
    connections?: ConnectionsMethod[];
    maxDataBytes?: boolean;
    /** Publishes events to backends (PutEvents on the stage's bus only). */
    events?: boolean;
    /** Hands large fan-outs to the workers (`produce`), or is the worker (`consume`). */
    fanoutQueue?: 'produce' | 'consume';
  }
> = {
  // Verifies the token and the origin only.
  authorizer: {},
  // Stores the connection (connection item, broadcast entry, counters); posts to none.
  connect: { store: ['putConnection'], events: true },
  // Removes the connection and its memberships (found on the index); announces presence leaves to the
  // rooms' members (and checks, after posting, that each still holds) (a delivery that meets a gone connection prunes it), through the fan-out workers in
  // rooms past INLINE_FANOUT_LIMIT.
  disconnect: {
    store: ['removeConnection', 'roomConnectionIds', 'roomUserConnections'],
    connections: ['POST'],
    events: true,
    fanoutQueue: 'produce',
  },
  // join/leave/send/direct; a delivery that meets a gone connection prunes it. Posts acks, errors, messages.
  message: {
    store: [
      'getConnection',
      'addMember',
      'recordRoom',
      'removeMember',
      'isMember',
      'roomConnectionIds',
      'roomUserConnections',
      'roomTargets',
      'userConnections',
      'removeConnection',
      'roomPresence',
    ],
    connections: ['POST'],
    maxDataBytes: true,
    events: true,
    fanoutQueue: 'produce',
  },
  // Every /v1 route; posts messages and closes connections.
  push: {
    store: [
      'getConnection',
      'removeConnection',
      'userConnections',
      'addMember',
      'recordRoom',
      'removeMember',
      'roomConnectionIds',
      'roomUserConnections',
      'roomTargets',
      'allConnectionIds',
      'listMembers',
      'stats',
      'checkHealth',
      'roomPresence',
    ],
    connections: ['POST', 'DELETE'],
    maxDataBytes: true,
    events: true,
    fanoutQueue: 'produce',
  },
  // Settles counters for items TTL deleted (plus reading the stream); announces the presence leaves.
  expiry: {
    store: ['settleExpired', 'noteExpiryLag', 'roomConnectionIds', 'roomUserConnections', 'removeConnection'],
    connections: ['POST'],
    events: true,
    fanoutQueue: 'produce',
  },
  // Every 5 minutes: recounts the counters (the only Scan) and deletes orphans; an orphan membership
  // is settled and its leave announced, like a TTL deletion's.
  reconcile: {
    store: ['reconcile', 'settleExpired', 'roomConnectionIds', 'roomUserConnections', 'removeConnection'],
    connections: ['POST'],
    events: true,
    fanoutQueue: 'produce',
  },
  // apikey stages: checks the push API key before the push function (its secret only, bound below).
  pushAuthorizer: {},
  // Runs queued fan-out jobs: reads a room's (or everyone's) connections, posts, prunes gone ones,
  // records finished jobs; a plan job enqueues post jobs; a presence announcement's job first checks
  // it still holds.
  fanoutWorker: {
    store: [
      'roomConnectionIds',
      'allConnectionIds',
      'removeConnection',
      'roomUserConnections',
      'claimJob',
      'releaseJob',
      'markJobDone',
    ],
    connections: ['POST'],
    events: true,
    fanoutQueue: 'consume',
  },
};

/** Functions whose reserved concurrency the stage setting connectReservedConcurrency sets. */
const CONNECT_PATH: readonly LambdaName[] = ['authorizer', 'connect'];

const TIMEOUTS: Record<LambdaName, Duration> = {
  authorizer: Duration.seconds(10),
  connect: Duration.seconds(10),
  // API Gateway waits 29 s at most for an integration. `$disconnect` announces the leaves of every
  // presence room the connection was in, up to INLINE_FANOUT_LIMIT members each inline (a connection
  // in ten such rooms of 2 000: 20 000 posts, ~5 s at 64 at a time), so it gets as long as the others.
  disconnect: Duration.seconds(29),
  message: Duration.seconds(29),
  push: Duration.seconds(29),
  expiry: Duration.seconds(60),
  // Two Scans of the whole table and the wait between them (RECONCILE_SETTLE_MS) when the first finds
  // anything; it runs every 5 minutes, one at a time (a run still going makes the next one drop).
  reconcile: Duration.minutes(10),
  pushAuthorizer: Duration.seconds(10),
  // A job of FANOUT_JOB_SIZE posts at ~15 ms each, 64 at a time, takes well under a second.
  fanoutWorker: Duration.seconds(60),
};

/** The stage's functions: every entry, but the push API's key authorizer only on apikey stages. */
export type RoomcastFunctions = Record<Exclude<LambdaName, 'pushAuthorizer'>, RoomcastFunction> & {
  readonly pushAuthorizer?: RoomcastFunction;
};

/**
 * One roomcast stage: table, secrets, the functions, the WebSocket API, the
 * push HTTP API, dashboard and alarms. Env-agnostic (no lookups), so it
 * synthesizes offline.
 */
export class RoomcastStack extends Stack {
  readonly settings: StageSettings;
  readonly table: ConnectionsTable;
  readonly auth: RoomcastAuth;
  readonly functions: RoomcastFunctions;
  readonly webSocketApi: RoomcastWebSocketApi;
  readonly pushApi: RoomcastPushApi;
  readonly monitoring: RoomcastMonitoring;
  readonly eventBus: RoomcastEventBus;
  readonly fanoutQueue: FanoutQueue;
  /** The expiry consumer's on-failure destination. */
  readonly expiryFailures: Queue;

  constructor(scope: Construct, id: string, props: RoomcastStackProps) {
    super(scope, id, props);
    const settings = props.settings;
    this.settings = settings;
    const removalPolicy = settings.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logRetention = settings.logRetentionDays as RetentionDays;
    const serviceName = serviceNameFor(settings.stage);

    this.table = new ConnectionsTable(this, 'Table', {
      removalPolicy,
      pointInTimeRecovery: settings.pointInTimeRecovery,
      deletionProtection: settings.deletionProtection,
    });

    this.auth = new RoomcastAuth(this, 'Auth', {
      clientAuth: settings.clientAuth,
      pushAuth: settings.pushAuth,
      removalPolicy,
    });

    const makeFunction = (entry: LambdaName, id: string) =>
      new RoomcastFunction(this, id, {
        entry,
        serviceName,
        metricsNamespace: METRICS_NAMESPACE,
        logRetention,
        removalPolicy,
        logLevel: settings.logLevel,
        memorySize: settings.memorySize,
        timeout: TIMEOUTS[entry],
        tracing: settings.tracing,
        sourceMaps: settings.sourceMaps,
        ...(CONNECT_PATH.includes(entry) && settings.connectReservedConcurrency > 0
          ? { reservedConcurrentExecutions: settings.connectReservedConcurrency }
          : {}),
        // One reconciliation at a time: two would each correct what the other is correcting.
        ...(entry === 'reconcile' ? { reservedConcurrentExecutions: 1 } : {}),
      });
    this.functions = {
      authorizer: makeFunction('authorizer', 'AuthorizerFunction'),
      connect: makeFunction('connect', 'ConnectFunction'),
      disconnect: makeFunction('disconnect', 'DisconnectFunction'),
      message: makeFunction('message', 'MessageFunction'),
      push: makeFunction('push', 'PushFunction'),
      expiry: makeFunction('expiry', 'ExpiryFunction'),
      fanoutWorker: makeFunction('fanoutWorker', 'FanoutWorkerFunction'),
      reconcile: makeFunction('reconcile', 'ReconcileFunction'),
      ...(settings.pushAuth === 'apikey'
        ? { pushAuthorizer: makeFunction('pushAuthorizer', 'PushAuthorizerFunction') }
        : {}),
    };
    const { authorizer, connect, disconnect, message, push, expiry, reconcile, pushAuthorizer } =
      this.functions;
    // Records the expiry consumer gave up on (after retries) land here, for inspection and replay.
    this.expiryFailures = new Queue(this, 'ExpiryFailures', {
      // Records kept for inspection and replay: kept with the stage's data.
      removalPolicy,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.expiryFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter (on-failure) destination of the expiry stream consumer.',
    });
    // The counters converge to the truth within one period after any fault (CONTRACT section 5).
    new Rule(this, 'ReconcileSchedule', {
      description: 'Recounts the roomcast counters and deletes orphaned items',
      schedule: Schedule.rate(Duration.minutes(5)),
      targets: [new LambdaFunction(reconcile.function, { retryAttempts: 0 })],
    });
    // A scheduled run throttled because the previous one is still going is dropped, not queued.
    reconcile.function.configureAsyncInvoke({ maxEventAge: Duration.minutes(1), retryAttempts: 0 });
    expiry.function.addEventSource(
      new DynamoEventSource(this.table.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        bisectBatchOnError: true,
        retryAttempts: 5,
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(this.expiryFailures),
        // Only deletions made by DynamoDB's TTL; the handlers' own deletes settle counters themselves.
        filters: [
          FilterCriteria.filter({
            eventName: FilterRule.isEqual('REMOVE'),
            userIdentity: {
              type: FilterRule.isEqual('Service'),
              principalId: FilterRule.isEqual('dynamodb.amazonaws.com'),
            },
          }),
        ],
      }),
    );

    this.webSocketApi = new RoomcastWebSocketApi(this, 'WebSocket', {
      apiName: `roomcast-${settings.stage}-ws`,
      authorizerFunction: authorizer.function,
      connectFunction: connect.function,
      disconnectFunction: disconnect.function,
      messageFunction: message.function,
      stageName: settings.stage,
      throttle: settings.websocketThrottle,
      accessLogRetention: logRetention,
      removalPolicy,
    });
    this.pushApi = new RoomcastPushApi(this, 'Push', {
      apiName: `roomcast-${settings.stage}-push`,
      pushFunction: push.function,
      authMode: settings.pushAuth,
      ...(pushAuthorizer ? { keyAuthorizerFunction: pushAuthorizer.function } : {}),
      throttle: settings.pushThrottle,
      accessLogRetention: logRetention,
      removalPolicy,
    });

    this.fanoutQueue = new FanoutQueue(this, 'Fanout', {
      // SQS event sources need at least the worker's timeout.
      visibilityTimeout: TIMEOUTS.fanoutWorker,
      removalPolicy,
    });
    this.eventBus = new RoomcastEventBus(this, 'Events', {
      bus: settings.eventBus,
      name: `roomcast-${settings.stage}`,
      source: `roomcast.${settings.stage}`,
      archiveDays: settings.eventArchiveDays,
      removalPolicy,
    });

    // Each function gets the variables its configuration reads and the grants it uses, no more.
    for (const [entry, fn] of this.deployedFunctions()) {
      const binding = FUNCTION_BINDINGS[entry];
      if (binding.store) this.table.bind(fn, binding.store);
      if (binding.connections) this.webSocketApi.bindConnections(fn, binding.connections);
      if (binding.maxDataBytes) {
        fn.addEnvironment('MAX_DATA_BYTES', String(settings.maxDataBytes));
        fn.addEnvironment('HISTORY_TTL_SECONDS', String(settings.historyTtlSeconds));
        fn.addEnvironment('MAILBOX_TTL_SECONDS', String(settings.mailboxTtlSeconds));
      }
      if (binding.events) this.eventBus.bind(fn);
      if (binding.fanoutQueue === 'produce') this.fanoutQueue.bindProducer(fn);
      if (binding.fanoutQueue === 'consume') this.fanoutQueue.bindWorker(fn);
    }
    this.auth.bindClientAuth(authorizer);
    if (settings.allowedOrigins.length > 0) {
      authorizer.addEnvironment('ALLOWED_ORIGINS', settings.allowedOrigins.join(','));
      authorizer.addEnvironment('ALLOW_NO_ORIGIN', String(settings.allowNoOrigin));
    }
    message.addEnvironment('RATE_LIMIT_PER_SECOND', String(settings.clientRateLimit.perSecond));
    message.addEnvironment('RATE_LIMIT_BURST', String(settings.clientRateLimit.burst));
    this.auth.bindPushAuth(push);
    if (pushAuthorizer) this.auth.bindPushAuth(pushAuthorizer);

    if (settings.apiGatewayCloudWatchRole) this.addApiGatewayLoggingRole();

    this.monitoring = new RoomcastMonitoring(this, 'Monitoring', {
      metricsNamespace: METRICS_NAMESPACE,
      serviceName,
      // Dashboard names are account-wide, not regional: the region keeps two regions' stages apart.
      dashboardName: `roomcast-${settings.stage}-${Aws.REGION}`,
      functions: Object.fromEntries(this.deployedFunctions().map(([name, fn]) => [name, fn.function])),
      table: this.table.table,
      webSocketApi: { apiId: this.webSocketApi.api.apiId, stageName: this.webSocketApi.stage.stageName },
      pushApi: { apiId: this.pushApi.api.apiId, stageName: this.pushApi.stage.stageName },
      // The authorizer refuses bad tokens by throwing (API Gateway's only way to answer 401).
      errorsAreNotFaults: { authorizer: TIMEOUTS.authorizer },
      // One run at a time, every 5 minutes, up to 10 minutes long: a long run drops the next one.
      throttledByDesign: { reconcile: 3 },
      thresholds: settings.alarms,
      eventsToBackends: this.eventBus.bus !== undefined,
      deadLetterQueues: { Fanout: this.fanoutQueue.deadLetterQueue },
      ...(settings.alarmEmail ? { alarmEmail: settings.alarmEmail } : {}),
    });
    this.addExpiryAlarms();

    this.addOutputs();
    this.addNagSuppressions();
  }

  /** The functions this stage deploys, in LAMBDA_ENTRIES order. */
  deployedFunctions(): [LambdaName, RoomcastFunction][] {
    const all: Partial<Record<LambdaName, RoomcastFunction>> = this.functions;
    return LAMBDA_ENTRIES.flatMap((entry) => {
      const fn = all[entry];
      return fn ? [[entry, fn] as [LambdaName, RoomcastFunction]] : [];
    });
  }

  /** The expiry consumer falls behind (IteratorAge) or gives up on records (its failure queue has messages). */
  private addExpiryAlarms(): void {
    const action = new SnsAction(this.monitoring.alarmTopic);
    const alarms = [
      new Alarm(this, 'ExpiryIteratorAgeAlarm', {
        alarmDescription: 'The expiry stream consumer is more than 5 minutes behind the table stream',
        metric: this.functions.expiry.function.metric('IteratorAge', {
          statistic: 'Maximum',
          period: Duration.minutes(5),
        }),
        threshold: 300_000,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'ExpiryFailuresAlarm', {
        alarmDescription: 'Stream records the expiry consumer gave up on are waiting in its failure queue',
        metric: this.expiryFailures.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period: Duration.minutes(5),
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    ];
    for (const alarm of alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      this.monitoring.alarms.push(alarm);
    }
  }

  /**
   * WebSocket access logs need the account-wide CloudWatch role of API
   * Gateway. Retained on delete: another stage in the account may rely on it.
   */
  private addApiGatewayLoggingRole(): void {
    const role = new Role(this, 'ApiGatewayLogsRole', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      description: 'API Gateway account role that writes WebSocket access logs',
      managedPolicies: [
        ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
      ],
    });
    role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    const account = new CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn });
    account.applyRemovalPolicy(RemovalPolicy.RETAIN);
    // The stage may turn on logging only once the account has the role.
    this.webSocketApi.stage.node.addDependency(account);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents for the account-wide API Gateway logging role; it only writes CloudWatch Logs.',
    });
  }

  private addOutputs(): void {
    const { settings } = this;
    new CfnOutput(this, 'WebSocketUrl', {
      description: 'Clients connect here: wss://.../{stage}?token=<jwt>',
      value: this.webSocketApi.url,
    });
    new CfnOutput(this, 'PushApiUrl', {
      description: 'Backends push here: POST {url}/push',
      value: this.pushApi.url,
    });
    new CfnOutput(this, 'ConnectionsEndpoint', {
      description: 'The @connections management endpoint of the WebSocket stage',
      value: this.webSocketApi.connectionsEndpoint,
    });
    new CfnOutput(this, 'TableName', { description: 'The DynamoDB table', value: this.table.tableName });
    new CfnOutput(this, 'DashboardUrl', {
      description: 'The CloudWatch dashboard of this stage',
      value: this.monitoring.dashboardUrl,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'SNS topic of the alarms; subscribe to it',
      value: this.monitoring.alarmTopic.topicArn,
    });
    if (this.auth.jwtSecret) {
      new CfnOutput(this, 'JwtSecretArn', {
        description: 'Secrets Manager secret holding the HS256 key that signs client JWTs',
        value: this.auth.jwtSecret.secretArn,
      });
    } else if (settings.clientAuth.mode === 'oidc') {
      new CfnOutput(this, 'JwtIssuer', {
        description: 'Clients present JWTs from this OpenID issuer',
        value: settings.clientAuth.issuer,
      });
    }
    new CfnOutput(this, 'PushAuth', {
      description: 'Push API authentication mode',
      value: settings.pushAuth,
    });
    if (this.auth.pushApiKeysSecret) {
      new CfnOutput(this, 'PushApiKeysSecretArn', {
        description: 'Secrets Manager secret holding the push API key(s): one key or a JSON array of keys',
        value: this.auth.pushApiKeysSecret.secretArn,
      });
    }
  }

  /** Every cdk-nag (AwsSolutions) finding this design accepts, each with its reason. */
  private addNagSuppressions(): void {
    const { settings } = this;
    Validations.of(this.webSocketApi.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'API Gateway WebSocket APIs accept an authorizer only on $connect, which has the JWT authorizer; every other route runs on a connection already authorized there.',
    });
    if (settings.pushAuth === 'apikey') {
      Validations.of(this.pushApi.api).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'GET /v1/health is open on purpose (load balancers and uptime checks carry no key); every other route has the API-key Lambda authorizer, and the push function checks the key again. Stages that want SigV4 on every route set pushAuth=iam.',
      });
    }
    const apiId = `<${this.getLogicalId(this.webSocketApi.api.node.defaultChild as CfnElement)}>`;
    const connectionsArn = (method: string) =>
      `arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:${apiId}/${settings.stage}/${method}/@connections/*`;
    for (const [entry, fn] of this.deployedFunctions()) {
      const binding = FUNCTION_BINDINGS[entry];
      Validations.of(fn.function).acknowledge({
        id: 'AwsSolutions-L1',
        reason:
          'Node.js 22 is the runtime the handlers are built and tested for (arm64); moving to a newer runtime is a deliberate, tested change.',
      });
      // Actions without resource-level permissions, granted on * (one acknowledgment per role).
      const onAnyResource = [
        ...(entry === 'expiry'
          ? [
              "dynamodb:ListStreams has no resource-level permissions, so the stream event source needs it on *; reading records is scoped to this table's stream.",
            ]
          : []),
        ...(settings.tracing
          ? [
              'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions, so they are granted on *.',
            ]
          : []),
      ];
      if (onAnyResource.length > 0) {
        Validations.of(fn.role).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: onAnyResource.join(' '),
        });
      }
      for (const method of binding.connections ?? []) {
        Validations.of(fn.role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${connectionsArn(method)}]`,
          reason: `@connections/* is any connection of this API stage, for ${method} only: connection ids are known only at run time.`,
        });
      }
    }
    if (this.auth.jwtSecret) {
      Validations.of(this.auth.jwtSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'The HS256 key is rotated by hand together with the token issuer: the secret holds both keys while tokens signed with the old one expire (README, Deploying to AWS); the handlers re-read it every SECRET_CACHE_SECONDS.',
      });
    }
    if (this.auth.pushApiKeysSecret) {
      Validations.of(this.auth.pushApiKeysSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Push API keys are shared with backends and rotated without downtime by hand: add the new key to the JSON array, switch the backends, remove the old key (README, Deploying to AWS). A rotation Lambda cannot switch the backends.',
      });
    }
    if (!settings.pointInTimeRecovery) {
      Validations.of(this.table.table).acknowledge({
        id: 'AwsSolutions-DDB3',
        reason: `Stage ${settings.stage} holds only short-lived connection state (TTL about two hours) and is disposable; prod turns point-in-time recovery on.`,
      });
    }
  }
}
