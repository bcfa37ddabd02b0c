import type { Template } from 'aws-cdk-lib/assertions';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Cfn, logicalIdOf, synthStage } from './synth.js';

let dev: Template;
let prod: Template;

beforeAll(() => {
  dev = synthStage('dev').template;
  prod = synthStage('prod').template;
});

describe('expiry stream consumer', () => {
  it('reports batch item failures and sends records it gives up on to an encrypted, TLS-only queue', () => {
    const queue = logicalIdOf(dev, 'AWS::SQS::Queue', 'ExpiryFailures');
    dev.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
    dev.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    dev.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it("keeps the records it gave up on with the stage's data: retained in prod, deleted in dev", () => {
    const policy = (t: Template) =>
      (t.findResources('AWS::SQS::Queue') as Record<string, { DeletionPolicy?: string }>)[
        logicalIdOf(t, 'AWS::SQS::Queue', 'ExpiryFailures')
      ]?.DeletionPolicy;
    expect(policy(prod)).toBe('Retain');
    expect(policy(dev)).toBe('Delete');
  });

  it('alarms on the failure queue depth and on IteratorAge, notifying the alarm topic', () => {
    const alarms = dev.findResources('AWS::CloudWatch::Alarm') as Record<
      string,
      { Properties: Record<string, Cfn> }
    >;
    const depth = alarms[logicalIdOf(dev, 'AWS::CloudWatch::Alarm', 'ExpiryFailuresAlarm')]?.Properties;
    const age = alarms[logicalIdOf(dev, 'AWS::CloudWatch::Alarm', 'ExpiryIteratorAgeAlarm')]?.Properties;
    expect(depth).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Threshold: 1,
    });
    expect(age).toMatchObject({ MetricName: 'IteratorAge', Namespace: 'AWS/Lambda' });
    for (const alarm of [depth, age]) {
      expect(alarm?.AlarmActions).toHaveLength(1);
      expect(alarm?.OKActions).toHaveLength(1);
    }
  });
});
