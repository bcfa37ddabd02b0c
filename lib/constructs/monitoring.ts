import { Aws, Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../lambdas/adapters/table.js';
import { METRICS, type MetricName } from '../../lambdas/domain/constants.js';

const PERIOD = Duration.minutes(5);

export interface AlarmThresholds {
  /** Errors of one function within 5 minutes. */
  readonly lambdaErrors: number;
  /** failed / (delivered + failed), 0..1. */
  readonly deliveryFailureRate: number;
  /** p99 FanoutDuration in milliseconds. */
  readonly fanoutP99Ms: number;
  /** Handled faults (InternalErrors) of the stage, and WebSocket IntegrationErrors, within 5 minutes. */
  readonly internalErrors: number;
}

export interface RoomcastMonitoringProps {
  /** Namespace of the handlers' EMF metrics (POWERTOOLS_METRICS_NAMESPACE). */
  readonly metricsNamespace: string;
  /** Value of the `service` dimension (POWERTOOLS_SERVICE_NAME). */
  readonly serviceName: string;
  /** The functions, by name. */
  readonly functions: Readonly<Record<string, IFunction>>;
  /**
   * Functions whose Lambda `Errors` are not faults, with their timeout: the
   * `$connect` authorizer refuses a bad token by throwing `Unauthorized` (the
   * only way to make API Gateway answer 401). They get no `Errors` alarm; their
   * handled faults raise `InternalErrors` (its own alarm), and a `Timeouts`
   * alarm fires when an invocation ran to 90% of the timeout.
   * @default - none
   */
  readonly errorsAreNotFaults?: Readonly<Record<string, Duration>>;
  /**
   * Functions throttled by design now and then: the reconciliation runs one at a time, and a run
   * still going when the schedule fires again makes that invocation drop. Their `Throttles` alarm
   * fires only when every 5-minute period of the last `periods` was throttled (no run could start
   * for that long), not on one dropped run.
   * @default - none
   */
  readonly throttledByDesign?: Readonly<Record<string, number>>;
  readonly table: ITable;
  /** WebSocket API id and stage name. */
  readonly webSocketApi: { readonly apiId: string; readonly stageName: string };
  /** Push HTTP API id and stage name. */
  readonly pushApi: { readonly apiId: string; readonly stageName: string };
  readonly thresholds: AlarmThresholds;
  /**
   * Dashboard name.
   * @default - CloudFormation-generated
   */
  readonly dashboardName?: string;
  /**
   * E-mail address subscribed to the alarm topic.
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Alarm on events to backends that could not be sent (EventsFailed).
   * @default false
   */
  readonly eventsToBackends?: boolean;
  /**
   * Dead-letter queues to alarm on: any message in one is a job (or record) that failed every retry.
   * @default - none
   */
  readonly deadLetterQueues?: Record<string, IQueue>;
}

/**
 * The stage's CloudWatch dashboard and alarms. Alarms notify one SNS topic
 * (TLS-only publishing, optional e-mail subscription) on ALARM and on OK.
 */
export class RoomcastMonitoring extends Construct {
  readonly dashboard: Dashboard;
  readonly alarmTopic: Topic;
  readonly alarms: Alarm[] = [];
  private readonly props: RoomcastMonitoringProps;

  constructor(scope: Construct, id: string, props: RoomcastMonitoringProps) {
    super(scope, id);
    this.props = props;
    this.alarmTopic = new Topic(this, 'AlarmTopic', { displayName: 'roomcast alarms', enforceSSL: true });
    // enforceSSL gives the topic a policy, which replaces the default one: without this statement
    // CloudWatch may not publish and no alarm reaches anyone.
    this.alarmTopic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarms',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    this.dashboard = new Dashboard(this, 'Dashboard', {
      ...(props.dashboardName ? { dashboardName: props.dashboardName } : {}),
      defaultInterval: Duration.hours(3),
    });
    this.addDashboardWidgets();
    this.addAlarms();
  }

  /** The console URL of the dashboard. */
  get dashboardUrl(): string {
    return `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${this.dashboard.dashboardName}`;
  }

  /** One of the handlers' custom metrics (METRICS), in this stage's namespace and service dimension. */
  customMetric(name: MetricName, statistic = 'Sum'): Metric {
    return new Metric({
      namespace: this.props.metricsNamespace,
      metricName: name,
      dimensionsMap: { service: this.props.serviceName },
      statistic,
      period: PERIOD,
    });
  }

  /** An API Gateway metric of one of the stage's two APIs (both report ApiId and Stage). */
  private apiMetric(api: 'webSocketApi' | 'pushApi', metricName: string, statistic = 'Sum'): Metric {
    const { apiId, stageName } = this.props[api];
    return new Metric({
      namespace: 'AWS/ApiGateway',
      metricName,
      dimensionsMap: { ApiId: apiId, Stage: stageName },
      statistic,
      period: PERIOD,
    });
  }

  private webSocketMetric(metricName: string, statistic = 'Sum'): Metric {
    return this.apiMetric('webSocketApi', metricName, statistic);
  }

  private pushApiMetric(metricName: string, statistic = 'Sum'): Metric {
    return this.apiMetric('pushApi', metricName, statistic);
  }

  private tableMetric(metricName: string, index?: string): Metric {
    return new Metric({
      namespace: 'AWS/DynamoDB',
      metricName,
      dimensionsMap: {
        TableName: this.props.table.tableName,
        ...(index ? { GlobalSecondaryIndexName: index } : {}),
      },
      statistic: 'Sum',
      period: PERIOD,
    });
  }

  /** Read and write throttle events of the table and its index, summed. */
  private tableThrottles(): MathExpression {
    const index = TABLE_SCHEMA.gsi1.indexName;
    return new MathExpression({
      expression: 'tr + tw + ir + iw',
      usingMetrics: {
        tr: this.tableMetric('ReadThrottleEvents'),
        tw: this.tableMetric('WriteThrottleEvents'),
        ir: this.tableMetric('ReadThrottleEvents', index),
        iw: this.tableMetric('WriteThrottleEvents', index),
      },
      label: 'DynamoDB throttle events',
      period: PERIOD,
    });
  }

  /** failed / (delivered + failed): the share of deliveries that failed after retries. */
  deliveryFailureRate(): MathExpression {
    return new MathExpression({
      expression: 'failed / (delivered + failed)',
      usingMetrics: {
        delivered: this.customMetric(METRICS.delivered),
        failed: this.customMetric(METRICS.failed),
      },
      label: 'delivery failure rate',
      period: PERIOD,
    });
  }

  private functionMetrics(map: (name: string, fn: IFunction) => IMetric): IMetric[] {
    return Object.entries(this.props.functions).map(([name, fn]) => map(name, fn));
  }

  private addDashboardWidgets(): void {
    const { table } = this.props;
    const graph = (title: string, left: IMetric[], right: IMetric[] = []) =>
      new GraphWidget({ title, left, right, width: 8, height: 6 });
    const operations = ['GetItem', 'PutItem', 'DeleteItem', 'UpdateItem', 'Query'];

    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# roomcast ${this.props.serviceName}\nWebSocket API, push API, functions, table and the handlers' metrics (namespace \`${this.props.metricsNamespace}\`, service \`${this.props.serviceName}\`).`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      graph(
        'WebSocket: connections and messages',
        [this.webSocketMetric('ConnectCount'), this.webSocketMetric('MessageCount')],
        [this.customMetric(METRICS.connectionsOpened), this.customMetric(METRICS.connectionsClosed)],
      ),
      graph('WebSocket: errors', [
        this.webSocketMetric('ClientError'),
        this.webSocketMetric('ExecutionError'),
        this.webSocketMetric('IntegrationError'),
      ]),
      graph('WebSocket: integration latency (p50, p99)', [
        this.webSocketMetric('IntegrationLatency', 'p50'),
        this.webSocketMetric('IntegrationLatency', 'p99'),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        'Push API: requests and errors',
        [this.pushApiMetric('Count'), this.customMetric(METRICS.pushRequests)],
        [this.pushApiMetric('4xx'), this.pushApiMetric('5xx')],
      ),
      graph('Push API: latency (p50, p99)', [
        this.pushApiMetric('Latency', 'p50'),
        this.pushApiMetric('Latency', 'p99'),
        this.pushApiMetric('IntegrationLatency', 'p99'),
      ]),
      graph(
        'Lambda: invocations',
        this.functionMetrics((name, fn) => fn.metricInvocations({ label: name })),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Lambda: errors',
        this.functionMetrics((name, fn) => fn.metricErrors({ label: name })),
      ),
      graph(
        'Lambda: p99 duration',
        this.functionMetrics((name, fn) => fn.metricDuration({ label: name, statistic: 'p99' })),
      ),
      graph(
        'Lambda: throttles and concurrency',
        this.functionMetrics((name, fn) => fn.metricThrottles({ label: `${name} throttles` })),
        this.functionMetrics((name, fn) =>
          fn.metric('ConcurrentExecutions', { label: `${name} concurrency`, statistic: 'Maximum' }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      graph('DynamoDB: consumed capacity', [
        table.metricConsumedReadCapacityUnits({ statistic: 'Sum', period: PERIOD }),
        table.metricConsumedWriteCapacityUnits({ statistic: 'Sum', period: PERIOD }),
      ]),
      graph('DynamoDB: throttles and errors', [
        this.tableThrottles(),
        table.metricUserErrors({ statistic: 'Sum', period: PERIOD }),
      ]),
      graph(
        'DynamoDB: latency (avg)',
        operations.map((operation) =>
          table.metricSuccessfulRequestLatency({
            dimensionsMap: { TableName: table.tableName, Operation: operation },
            label: operation,
            period: PERIOD,
          }),
        ),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Fan-out: deliveries',
        [
          this.customMetric(METRICS.delivered),
          this.customMetric(METRICS.pruned),
          this.customMetric(METRICS.failed),
        ],
        [this.deliveryFailureRate()],
      ),
      graph('Fan-out: duration (p50, p99, max)', [
        this.customMetric(METRICS.fanoutDuration, 'p50'),
        this.customMetric(METRICS.fanoutDuration, 'p99'),
        this.customMetric(METRICS.fanoutDuration, 'Maximum'),
      ]),
      graph('Clients: messages and errors', [
        this.customMetric(METRICS.messagesIn),
        this.customMetric(METRICS.clientErrors),
        this.customMetric(METRICS.validationErrors),
        this.customMetric(METRICS.authFailures),
        this.customMetric(METRICS.internalErrors),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Events to backends', [
        this.customMetric(METRICS.eventsPublished),
        this.customMetric(METRICS.eventsFailed),
        this.customMetric(METRICS.eventsSlow),
      ]),
      graph('Stored delivery', [
        this.customMetric(METRICS.stored),
        this.customMetric(METRICS.seqConflicts),
        this.customMetric(METRICS.replayed),
        this.customMetric(METRICS.headsBehind),
      ]),
    );
  }

  private alarm(id: string, description: string, metric: IMetric, threshold: number, periods = 1): Alarm {
    const alarm = new Alarm(this, id, {
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const action = new SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
    return alarm;
  }

  private addAlarms(): void {
    const { thresholds } = this.props;
    for (const [name, queue] of Object.entries(this.props.deadLetterQueues ?? {})) {
      this.alarm(
        `${name}DeadLetters`,
        `roomcast: ${name} jobs that failed every retry are waiting in the dead-letter queue`,
        queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
        1,
      );
    }
    const notFaults = this.props.errorsAreNotFaults ?? {};
    for (const [name, fn] of Object.entries(this.props.functions)) {
      const title = name.charAt(0).toUpperCase() + name.slice(1);
      const timeout = notFaults[name];
      if (timeout) {
        const threshold = Math.floor(timeout.toMilliseconds() * 0.9);
        this.alarm(
          `${title}Timeouts`,
          `roomcast ${name} function: an invocation ran ${threshold} ms or more (90% of its timeout) in 5 minutes`,
          fn.metricDuration({ statistic: 'Maximum', period: PERIOD }),
          threshold,
        );
      } else {
        this.alarm(
          `${title}Errors`,
          `roomcast ${name} function: ${thresholds.lambdaErrors} or more errors in 5 minutes`,
          fn.metricErrors({ statistic: 'Sum', period: PERIOD }),
          thresholds.lambdaErrors,
        );
      }
      const throttledPeriods = this.props.throttledByDesign?.[name] ?? 1;
      this.alarm(
        `${title}Throttles`,
        throttledPeriods > 1
          ? `roomcast ${name} function: invocations throttled in each of ${throttledPeriods} periods of 5 minutes (runs overlap)`
          : `roomcast ${name} function: invocations throttled (concurrency limit reached)`,
        fn.metricThrottles({ statistic: 'Sum', period: PERIOD }),
        1,
        throttledPeriods,
      );
    }
    this.alarm('TableThrottles', 'roomcast table: DynamoDB throttled requests', this.tableThrottles(), 1);
    this.alarm(
      'WebSocketExecutionErrors',
      'roomcast WebSocket API: execution errors (API Gateway could not run a route)',
      this.webSocketMetric('ExecutionError'),
      1,
    );
    // The wrappers answer every fault (INTERNAL), so Lambda Errors never see them: the handlers count them.
    this.alarm(
      'InternalErrors',
      `roomcast handlers: ${thresholds.internalErrors} or more faults answered INTERNAL (or refused connections for a fault) in 5 minutes`,
      this.customMetric(METRICS.internalErrors),
      thresholds.internalErrors,
    );
    this.alarm(
      'WebSocketIntegrationErrors',
      `roomcast WebSocket API: ${thresholds.internalErrors} or more routes answered 4xx/5xx by their function in 5 minutes`,
      this.webSocketMetric('IntegrationError'),
      thresholds.internalErrors,
    );
    this.alarm(
      'PushApi5xx',
      'roomcast push API: 5xx answers (integration or function failures)',
      this.pushApiMetric('5xx'),
      1,
    );
    this.alarm(
      'DeliveryFailureRate',
      `roomcast fan-out: more than ${thresholds.deliveryFailureRate * 100}% of deliveries failed after retries, 3 periods of 5 minutes`,
      this.deliveryFailureRate(),
      thresholds.deliveryFailureRate,
      3,
    );
    if (this.props.eventsToBackends) {
      this.alarm(
        'EventsFailed',
        'roomcast events to backends: events could not be put on the bus after retries (lost)',
        this.customMetric(METRICS.eventsFailed),
        1,
      );
    }
    this.alarm(
      'FanoutDurationP99',
      `roomcast fan-out: p99 FanoutDuration at or above ${thresholds.fanoutP99Ms} ms, 3 periods of 5 minutes`,
      this.customMetric(METRICS.fanoutDuration, 'p99'),
      thresholds.fanoutP99Ms,
      3,
    );
  }
}
