import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../lambdas/domain/constants.js';
import { LAMBDA_ENTRIES } from '../../lambdas/entries/index.js';
import { DEV_PRESET, PROD_PRESET } from '../../lib/config.js';
import { METRICS_NAMESPACE } from '../../lib/stack.js';
import { type Cfn, logicalIdOf, synthStage } from './synth.js';

let dev: Template;
let prod: Template;

beforeAll(() => {
  dev = synthStage('dev').template;
  prod = synthStage('prod', { alarmEmail: 'ops@example.com' }).template;
});

/** The dashboard body with its tokens (Refs, Region) flattened, good enough to search. */
function dashboardBody(template: Template): string {
  const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  const parts = dashboard?.Properties.DashboardBody['Fn::Join'][1] as unknown[];
  return parts
    .map((part) => (typeof part === 'string' ? part : JSON.stringify(part).replaceAll('"', "'")))
    .join('');
}

type Alarm = { Properties: Record<string, Cfn> };
function alarms(template: Template): Record<string, Alarm> {
  return template.findResources('AWS::CloudWatch::Alarm') as Record<string, Alarm>;
}
function alarm(template: Template, prefix: string): Alarm {
  return alarms(template)[logicalIdOf(template, 'AWS::CloudWatch::Alarm', prefix)] as Alarm;
}

describe('dashboard', () => {
  it('is named after the stage and the region, as dashboard names are account-wide', () => {
    dev.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: { 'Fn::Join': ['', ['roomcast-dev-', { Ref: 'AWS::Region' }]] },
    });
  });

  it('shows API Gateway connections, messages, errors and integration latency', () => {
    const body = dashboardBody(dev);
    for (const metric of [
      'ConnectCount',
      'MessageCount',
      'ClientError',
      'ExecutionError',
      'IntegrationLatency',
    ]) {
      expect(body).toContain(`"AWS/ApiGateway","${metric}"`);
    }
    expect(body).toContain('"AWS/ApiGateway","5xx"');
  });

  it('shows Lambda invocations, errors, p99 duration, throttles and concurrency for every function', () => {
    const body = dashboardBody(dev);
    for (const metric of ['Invocations', 'Errors', 'Duration', 'Throttles', 'ConcurrentExecutions']) {
      expect(body).toContain(`"AWS/Lambda","${metric}"`);
    }
    expect(body).toContain('"stat":"p99"');
    for (const name of LAMBDA_ENTRIES) expect(body).toContain(`"label":"${name}"`);
  });

  it('shows DynamoDB consumed capacity, throttles and latency', () => {
    const body = dashboardBody(dev);
    for (const metric of [
      'ConsumedReadCapacityUnits',
      'ConsumedWriteCapacityUnits',
      'ReadThrottleEvents',
      'WriteThrottleEvents',
      'SuccessfulRequestLatency',
    ]) {
      expect(body).toContain(`"AWS/DynamoDB","${metric}"`);
    }
  });

  it("shows every custom metric of the handlers, in the stage's namespace and service dimension", () => {
    const body = dashboardBody(prod);
    for (const name of Object.values(METRICS)) {
      expect(body).toContain(`"${METRICS_NAMESPACE}","${name}","service","roomcast-prod"`);
    }
  });
});

describe('alarms', () => {
  it('alarm on errors and throttles of every function; on timeouts, not errors, of the $connect authorizer', () => {
    for (const name of LAMBDA_ENTRIES) {
      const fn = logicalIdOf(
        dev,
        'AWS::Lambda::Function',
        `${name.charAt(0).toUpperCase()}${name.slice(1)}Function`,
      );
      const forFn = Object.values(alarms(dev)).filter((a) =>
        a.Properties.Dimensions?.some(
          (d: { Value: unknown }) => JSON.stringify(d.Value) === JSON.stringify({ Ref: fn }),
        ),
      );
      // The authorizer throws to refuse a bad token (API Gateway's 401): its Errors are not faults.
      const expected =
        name === 'authorizer'
          ? ['Duration', 'Throttles']
          : name === 'expiry'
            ? ['Errors', 'IteratorAge', 'Throttles']
            : ['Errors', 'Throttles'];
      expect(forFn.map((a) => a.Properties.MetricName).sort(), name).toEqual(expected);
    }
    // Its faults count InternalErrors (below); a hung authorizer shows as an invocation near its 10 s timeout.
    expect(alarm(prod, 'MonitoringAuthorizerTimeouts').Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Duration',
      Statistic: 'Maximum',
      Threshold: 9000,
    });
    expect(alarm(prod, 'MonitoringPushErrors').Properties.Threshold).toBe(PROD_PRESET.alarms.lambdaErrors);
  });

  it('alarms on throttles of the reconciliation only when it was throttled for 15 minutes (one dropped run is by design)', () => {
    expect(alarm(prod, 'MonitoringReconcileThrottles').Properties).toMatchObject({
      MetricName: 'Throttles',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 1,
    });
    expect(alarm(prod, 'MonitoringPushThrottles').Properties).toMatchObject({ EvaluationPeriods: 1 });
  });

  it("alarm on the handlers' InternalErrors, which the authorizer's faults raise too", () => {
    for (const [template, stage, threshold] of [
      [dev, 'dev', DEV_PRESET.alarms.internalErrors],
      [prod, 'prod', PROD_PRESET.alarms.internalErrors],
    ] as const) {
      expect(alarm(template, 'MonitoringInternalErrors').Properties).toMatchObject({
        Namespace: METRICS_NAMESPACE,
        MetricName: METRICS.internalErrors,
        Dimensions: [{ Name: 'service', Value: `roomcast-${stage}` }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
  });

  it('alarm on WebSocket integration errors (a route answered 4xx/5xx)', () => {
    expect(alarm(prod, 'MonitoringWebSocketIntegrationErrors').Properties).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: 'IntegrationError',
      Dimensions: [
        { Name: 'ApiId', Value: { Ref: logicalIdOf(prod, 'AWS::ApiGatewayV2::Api', 'WebSocketApi') } },
        { Name: 'Stage', Value: 'prod' },
      ],
      Threshold: PROD_PRESET.alarms.internalErrors,
    });
  });

  it('alarm on DynamoDB throttles of the table and its index', () => {
    const { Properties } = alarm(dev, 'MonitoringTableThrottles');
    const metricNames = Properties.Metrics.filter((m: Cfn) => m.MetricStat).map(
      (m: Cfn) => `${m.MetricStat.Metric.MetricName}:${m.MetricStat.Metric.Dimensions.length}`,
    );

    expect(metricNames.sort()).toEqual(
      [
        'ReadThrottleEvents:1',
        'ReadThrottleEvents:2',
        'WriteThrottleEvents:1',
        'WriteThrottleEvents:2',
      ].sort(),
    );
  });

  it('alarm on WebSocket execution errors and push API 5xx', () => {
    expect(alarm(dev, 'MonitoringWebSocketExecutionErrors').Properties).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: 'ExecutionError',
      Dimensions: [
        { Name: 'ApiId', Value: { Ref: logicalIdOf(dev, 'AWS::ApiGatewayV2::Api', 'WebSocketApi') } },
        { Name: 'Stage', Value: 'dev' },
      ],
    });
    expect(alarm(dev, 'MonitoringPushApi5xx').Properties.MetricName).toBe('5xx');
  });

  it('alarm on the delivery failure rate failed / (delivered + failed)', () => {
    const { Properties } = alarm(prod, 'MonitoringDeliveryFailureRate');
    const byId = Object.fromEntries(Properties.Metrics.map((m: Cfn) => [m.Id, m]));

    expect(byId.expr_1.Expression).toBe('failed / (delivered + failed)');
    expect(byId.failed.MetricStat.Metric).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRICS.failed,
    });
    expect(byId.delivered.MetricStat.Metric).toMatchObject({
      MetricName: METRICS.delivered,
      Dimensions: [{ Name: 'service', Value: 'roomcast-prod' }],
    });
    expect(Properties.Threshold).toBe(PROD_PRESET.alarms.deliveryFailureRate);
  });

  it('alarm on p99 fan-out duration', () => {
    expect(alarm(prod, 'MonitoringFanoutDurationP99').Properties).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRICS.fanoutDuration,
      ExtendedStatistic: 'p99',
      Threshold: PROD_PRESET.alarms.fanoutP99Ms,
    });
  });

  it('notify the SNS topic on ALARM and OK, and treat missing data as fine', () => {
    const topic = logicalIdOf(dev, 'AWS::SNS::Topic', 'MonitoringAlarmTopic');
    for (const [id, { Properties }] of Object.entries(alarms(dev))) {
      expect(Properties.AlarmActions, id).toEqual([{ Ref: topic }]);
      expect(Properties.OKActions, id).toEqual([{ Ref: topic }]);
      expect(Properties.TreatMissingData, id).toBe('notBreaching');
    }
  });

  it('subscribe the alarm e-mail when one is set, and require TLS to publish', () => {
    prod.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    dev.resourceCountIs('AWS::SNS::Subscription', 0);
    const [policy] = Object.values(dev.findResources('AWS::SNS::TopicPolicy'));
    expect(JSON.stringify(policy?.Properties.PolicyDocument)).toContain('aws:SecureTransport');
  });

  it('reach the topic: its policy lets CloudWatch of this account publish, and still denies non-TLS', () => {
    const topic = logicalIdOf(dev, 'AWS::SNS::Topic', 'MonitoringAlarmTopic');
    const policies = Object.values(dev.findResources('AWS::SNS::TopicPolicy'));
    expect(policies).toHaveLength(1);
    const statements = policies[0]?.Properties.PolicyDocument.Statement as Cfn[];

    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: topic },
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: '*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
    expect(policies[0]?.Properties.Topics).toEqual([{ Ref: topic }]);
  });
});
