import {
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
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LAMBDA_ENTRIES, type LambdaName } from '../lambdas/entries/index.js';
import type { StageSettings } from './config.js';
import { RoomcastAuth } from './constructs/auth.js';
import { RoomcastFunction } from './constructs/function.js';
import { RoomcastMonitoring } from './constructs/monitoring.js';
import { RoomcastPushApi } from './constructs/push-api.js';
import { ConnectionsTable, type TableAccess } from './constructs/table.js';
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

/** What each function may touch: its table access and the @connections methods it calls. */
export const FUNCTION_BINDINGS: Record<
  LambdaName,
  /** `connections`: the @connections methods it calls; absent for functions with no management client at all. */
  { table?: TableAccess; connections?: ConnectionsMethod[]; maxDataBytes?: boolean }
> = {
  // Verifies the token and the origin only.
  authorizer: {},
  // Writes the connection, its broadcast entry and counters.
  connect: { table: 'write', connections: [] },
  // Reads the connection's memberships (GSI) and deletes them.
  disconnect: { table: 'readwrite', connections: [] },
  // Rooms and fan-out; posts acks, errors and messages.
  message: { table: 'readwrite', connections: ['POST'], maxDataBytes: true },
  // Every store operation; posts messages and closes connections.
  push: { table: 'readwrite', connections: ['POST', 'DELETE'], maxDataBytes: true },
  // Settles counters for items TTL deleted: counter updates only (plus reading the stream).
  expiry: { table: 'write' },
};

const TIMEOUTS: Record<LambdaName, Duration> = {
  authorizer: Duration.seconds(10),
  connect: Duration.seconds(10),
  disconnect: Duration.seconds(10),
  // API Gateway waits 29 s at most for an integration.
  message: Duration.seconds(29),
  push: Duration.seconds(29),
  expiry: Duration.seconds(60),
};

/**
 * One roomcast stage: table, secrets, six functions, the WebSocket API, the
 * push HTTP API, dashboard and alarms. Env-agnostic (no lookups), so it
 * synthesizes offline.
 */
export class RoomcastStack extends Stack {
  readonly settings: StageSettings;
  readonly table: ConnectionsTable;
  readonly auth: RoomcastAuth;
  readonly functions: Record<LambdaName, RoomcastFunction>;
  readonly webSocketApi: RoomcastWebSocketApi;
  readonly pushApi: RoomcastPushApi;
  readonly monitoring: RoomcastMonitoring;
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
      });
    this.functions = {
      authorizer: makeFunction('authorizer', 'AuthorizerFunction'),
      connect: makeFunction('connect', 'ConnectFunction'),
      disconnect: makeFunction('disconnect', 'DisconnectFunction'),
      message: makeFunction('message', 'MessageFunction'),
      push: makeFunction('push', 'PushFunction'),
      expiry: makeFunction('expiry', 'ExpiryFunction'),
    } satisfies Record<(typeof LAMBDA_ENTRIES)[number], RoomcastFunction>;
    const { authorizer, connect, disconnect, message, push, expiry } = this.functions;
    // Records the expiry consumer gave up on (after retries) land here, for inspection and replay.
    this.expiryFailures = new Queue(this, 'ExpiryFailures', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.expiryFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter (on-failure) destination of the expiry stream consumer.',
    });
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
      throttle: settings.pushThrottle,
      accessLogRetention: logRetention,
      removalPolicy,
    });

    // Each function gets the variables its configuration reads and the grants it uses, no more.
    for (const entry of LAMBDA_ENTRIES) {
      const fn = this.functions[entry];
      const binding = FUNCTION_BINDINGS[entry];
      if (binding.table) this.table.bind(fn, binding.table);
      if (binding.connections) this.webSocketApi.bindConnections(fn, binding.connections);
      if (binding.maxDataBytes) fn.addEnvironment('MAX_DATA_BYTES', String(settings.maxDataBytes));
    }
    this.auth.bindClientAuth(authorizer);
    if (settings.allowedOrigins.length > 0) {
      authorizer.addEnvironment('ALLOWED_ORIGINS', settings.allowedOrigins.join(','));
    }
    this.auth.bindPushAuth(push);

    if (settings.apiGatewayCloudWatchRole) this.addApiGatewayLoggingRole();

    this.monitoring = new RoomcastMonitoring(this, 'Monitoring', {
      metricsNamespace: METRICS_NAMESPACE,
      serviceName,
      dashboardName: `roomcast-${settings.stage}`,
      functions: Object.fromEntries(Object.entries(this.functions).map(([name, fn]) => [name, fn.function])),
      table: this.table.table,
      webSocketApi: { apiId: this.webSocketApi.api.apiId, stageName: this.webSocketApi.stage.stageName },
      pushApi: { apiId: this.pushApi.api.apiId, stageName: this.pushApi.stage.stageName },
      thresholds: settings.alarms,
      ...(settings.alarmEmail ? { alarmEmail: settings.alarmEmail } : {}),
    });
    this.addExpiryAlarms();

    this.addOutputs();
    this.addNagSuppressions();
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
          'In apikey mode the push function authenticates every route itself (Bearer API keys from Secrets Manager, constant-time comparison, several active keys); GET /v1/health is open on purpose. Stages that want API Gateway to authorize set pushAuth=iam.',
      });
    }
    const tableArn = `<${this.getLogicalId(this.table.table.node.defaultChild as CfnElement)}.Arn>`;
    const apiId = `<${this.getLogicalId(this.webSocketApi.api.node.defaultChild as CfnElement)}>`;
    const connectionsArn = (method: string) =>
      `arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:${apiId}/${settings.stage}/${method}/@connections/*`;
    for (const entry of LAMBDA_ENTRIES) {
      const fn = this.functions[entry];
      const binding = FUNCTION_BINDINGS[entry];
      Validations.of(fn.function).acknowledge({
        id: 'AwsSolutions-L1',
        reason:
          'Node.js 22 is the runtime the handlers are built and tested for (arm64); moving to a newer runtime is a deliberate, tested change.',
      });
      if (binding.table) {
        Validations.of(fn.role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${tableArn}/index/*]`,
          reason:
            "index/* is the one table's GSI (gsi1): a user's connections and a connection's rooms are queried there.",
        });
      }
      if (entry === 'expiry') {
        Validations.of(fn.role).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason:
            "dynamodb:ListStreams has no resource-level permissions, so the stream event source needs it on *; reading records is scoped to this table's stream.",
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
