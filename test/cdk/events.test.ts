import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../lambdas/domain/constants.js';
import { LAMBDA_ENTRIES, type LambdaName } from '../../lambdas/entries/index.js';
import { resolveStageSettings } from '../../lib/config.js';
import { FUNCTION_BINDINGS } from '../../lib/stack.js';
import { type Cfn, logicalIdOf, synthStage } from './synth.js';

const EXISTING = 'arn:aws:events:eu-west-1:123456789012:event-bus/shared';
let dev: Template;
let prod: Template;
let none: Template;
let existing: Template;

beforeAll(() => {
  dev = synthStage('dev').template;
  prod = synthStage('prod').template;
  none = synthStage('quiet', { eventBus: 'none' }).template;
  existing = synthStage('shared', { eventBus: EXISTING }).template;
});

const capitalized = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
const publishers = LAMBDA_ENTRIES.filter((name) => FUNCTION_BINDINGS[name].events);

function fn(template: Template, name: LambdaName) {
  const id = logicalIdOf(template, 'AWS::Lambda::Function', `${capitalized(name)}Function`);
  return template.toJSON().Resources[id].Properties as Record<string, Cfn>;
}

/** The PutEvents statements of a function's role. */
function putEvents(template: Template, name: LambdaName): Cfn[] {
  const role = fn(template, name).Role['Fn::GetAtt'][0];
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .filter((s: Cfn) => JSON.stringify(s.Action).includes('events:'));
}

describe('events to backends (EventBridge)', () => {
  it('creates the bus roomcast-{stage} by default, and only prod archives it', () => {
    dev.hasResourceProperties('AWS::Events::EventBus', { Name: 'roomcast-dev' });
    prod.hasResourceProperties('AWS::Events::EventBus', { Name: 'roomcast-prod' });
    expect(Object.keys(dev.findResources('AWS::Events::Archive'))).toHaveLength(0);
    prod.hasResourceProperties('AWS::Events::Archive', {
      EventPattern: { source: ['roomcast.prod'] },
      RetentionDays: 30,
    });
  });

  it('keeps the bus and its archive together in prod (the archive holds the events), deletes both in dev', () => {
    for (const type of ['AWS::Events::EventBus', 'AWS::Events::Archive']) {
      for (const resource of Object.values(prod.findResources(type))) {
        expect(resource, type).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      }
    }
    for (const resource of Object.values(dev.findResources('AWS::Events::EventBus'))) {
      expect(resource).toMatchObject({ DeletionPolicy: 'Delete' });
    }
  });

  it('grants events:PutEvents on that bus only, to the functions that publish only', () => {
    // The fan-out worker publishes too: a prune closes a connection (connection.closed, reason gone).
    // So does the reconciliation: an orphan membership it deletes leaves its room (room.left).
    expect(publishers).toEqual([
      'connect',
      'disconnect',
      'message',
      'push',
      'expiry',
      'reconcile',
      'fanoutWorker',
    ]);
    const bus = logicalIdOf(dev, 'AWS::Events::EventBus', 'EventsBus');
    for (const name of publishers) {
      expect(putEvents(dev, name), name).toEqual([
        expect.objectContaining({ Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [bus, 'Arn'] } }),
      ]);
      expect(fn(dev, name).Environment.Variables, name).toMatchObject({
        EVENT_BUS_NAME: { 'Fn::GetAtt': [bus, 'Arn'] },
        EVENT_SOURCE: 'roomcast.dev',
      });
    }
    expect(putEvents(dev, 'authorizer')).toEqual([]);
    expect(fn(dev, 'authorizer').Environment.Variables.EVENT_BUS_NAME).toBeUndefined();
  });

  it('uses an existing bus by its ARN without creating one', () => {
    expect(Object.keys(existing.findResources('AWS::Events::EventBus'))).toHaveLength(0);
    expect(putEvents(existing, 'message')).toEqual([
      expect.objectContaining({ Action: 'events:PutEvents', Resource: EXISTING }),
    ]);
    expect(fn(existing, 'message').Environment.Variables.EVENT_BUS_NAME).toBe(EXISTING);
  });

  it('with none creates no bus, no archive, no alarm, and grants and configures nothing', () => {
    expect(Object.keys(none.findResources('AWS::Events::EventBus'))).toHaveLength(0);
    expect(Object.keys(none.findResources('AWS::Events::Archive'))).toHaveLength(0);
    for (const name of LAMBDA_ENTRIES) {
      expect(putEvents(none, name), name).toEqual([]);
      expect(fn(none, name).Environment.Variables.EVENT_BUS_NAME, name).toBeUndefined();
    }
    const alarms = Object.values(none.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.filter((a) => a.Properties.MetricName === METRICS.eventsFailed)).toEqual([]);
  });

  it('alarms on events that could not be sent', () => {
    dev.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: METRICS.eventsFailed,
      Threshold: 1,
      Dimensions: [{ Name: 'service', Value: 'roomcast-dev' }],
    });
  });

  it('refuses an eventBus that is neither create, none nor an event bus ARN', () => {
    expect(() => resolveStageSettings('dev', (key) => (key === 'eventBus' ? 'my-bus' : undefined))).toThrow(
      /eventBus is create, none, or an event bus ARN/,
    );
  });
});
