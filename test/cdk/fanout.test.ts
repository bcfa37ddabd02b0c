import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Cfn, logicalIdOf, synthStage } from './synth.js';

let dev: Template;
beforeAll(() => {
  dev = synthStage('dev').template;
});

const resources = () =>
  dev.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, Cfn> }>;
const fnId = (name: string) => logicalIdOf(dev, 'AWS::Lambda::Function', name);

/** The SQS actions a function's role may take on the fan-out queue. */
function sqsActions(functionName: string): string[] {
  const role = resources()[fnId(functionName)]?.Properties.Role['Fn::GetAtt'][0];
  const jobs = logicalIdOf(dev, 'AWS::SQS::Queue', 'FanoutJobs');
  return Object.values(resources())
    .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(role))
    .flatMap(
      (r) => r.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    )
    .filter((s) => JSON.stringify(s.Resource).includes(jobs))
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]))
    .filter((a) => a.startsWith('sqs:'))
    .sort();
}

describe('fan-out workers', () => {
  it('has an encrypted, TLS-only job queue whose jobs go to a dead-letter queue after 5 receives', () => {
    const jobs = logicalIdOf(dev, 'AWS::SQS::Queue', 'FanoutJobs');
    const dead = logicalIdOf(dev, 'AWS::SQS::Queue', 'FanoutDeadLetters');
    dev.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dead, 'Arn'] }, maxReceiveCount: 5 },
    });
    const policies = Object.values(resources()).filter((r) => r.Type === 'AWS::SQS::QueuePolicy');
    for (const queue of [jobs, dead]) {
      const policy = policies.find(
        (p) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: queue }]),
      );
      expect(JSON.stringify(policy?.Properties.PolicyDocument), queue).toContain(
        '"aws:SecureTransport":"false"',
      );
      expect(JSON.stringify(policy?.Properties.PolicyDocument), queue).toContain('"Effect":"Deny"');
    }
  });

  it('feeds the worker one job per invocation and retries only the failed one', () => {
    dev.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId('FanoutWorkerFunction') },
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(dev, 'AWS::SQS::Queue', 'FanoutJobs'), 'Arn'] },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('lets only the functions that hand fan-outs over send to the queue, and only the worker consume it', () => {
    // $disconnect and the stream consumer announce presence leaves to large rooms through the workers.
    for (const producer of [
      'MessageFunction',
      'PushFunction',
      'DisconnectFunction',
      'ExpiryFunction',
      'ReconcileFunction',
    ]) {
      expect(sqsActions(producer), producer).toEqual(expect.arrayContaining(['sqs:SendMessage']));
      expect(sqsActions(producer), producer).not.toContain('sqs:ReceiveMessage');
      expect(resources()[fnId(producer)]?.Properties.Environment.Variables.FANOUT_QUEUE_URL).toEqual({
        Ref: logicalIdOf(dev, 'AWS::SQS::Queue', 'FanoutJobs'),
      });
    }
    expect(sqsActions('FanoutWorkerFunction')).toEqual(
      expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:SendMessage']),
    );
    for (const other of ['ConnectFunction', 'AuthorizerFunction']) {
      expect(sqsActions(other), other).toEqual([]);
    }
  });

  it('alarms when a job lands in the dead-letter queue', () => {
    dev.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [logicalIdOf(dev, 'AWS::SQS::Queue', 'FanoutDeadLetters'), 'QueueName'] },
        },
      ],
      Threshold: 1,
    });
  });
});
