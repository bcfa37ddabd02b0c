import { readFileSync } from 'node:fs';
import { CURRENTLY_RECOMMENDED_FLAGS } from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { cdkJsonContext, synthStage } from './synth.js';

describe('the CDK app', () => {
  it("sets every feature flag a new app of this aws-cdk-lib gets, at cdk init's values", () => {
    const context = cdkJsonContext();

    for (const [flag, value] of Object.entries(CURRENTLY_RECOMMENDED_FLAGS)) {
      expect(context[flag], flag).toEqual(value);
    }
  });

  it('tags the stack itself and its resources with the app and the stage', () => {
    const { app, stack, template } = synthStage('dev');
    const artifact = app.synth().getStackByName(stack.stackName);

    expect(artifact.tags).toEqual({ app: 'roomcast', stage: 'dev' });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      Tags: [
        { Key: 'app', Value: 'roomcast' },
        { Key: 'stage', Value: 'dev' },
      ],
    });
  });

  it('gives no resource a fixed name that a second region of the same stage would collide with', () => {
    // Names that must be unique per account (IAM, dashboards) or per region; CloudFormation generates the others.
    const NAME_PROPERTIES = [
      'RoleName',
      'ManagedPolicyName',
      'DashboardName',
      'AlarmName',
      'TopicName',
      'TableName',
      'FunctionName',
      'LogGroupName',
      'Name',
    ];
    const NOT_UNIQUE = new Set(['AWS::ApiGatewayV2::Api', 'AWS::ApiGatewayV2::Authorizer']);
    // Regional names: a second region of the same stage has its own namespace (the contract names the
    // stage's bus roomcast-{stage} in every region).
    const REGIONAL = new Set(['AWS::Events::EventBus', 'AWS::Events::Archive']);
    for (const [stage, context] of [
      ['prod', { alarmEmail: 'ops@example.com' }],
      ['owner', { apiGatewayCloudWatchRole: 'true' }],
    ] as const) {
      const resources = synthStage(stage, context).template.toJSON().Resources as Record<
        string,
        { Type: string; Properties?: Record<string, unknown> }
      >;
      for (const [id, resource] of Object.entries(resources)) {
        for (const property of NAME_PROPERTIES) {
          const name = resource.Properties?.[property];
          // API names need not be unique, an authorizer's is scoped to its API; a Ref or GetAtt names another resource.
          if (name === undefined || NOT_UNIQUE.has(resource.Type) || REGIONAL.has(resource.Type)) continue;
          if (typeof name === 'object' && name !== null && !('Fn::Join' in name)) continue;
          expect(JSON.stringify(name), `${id} ${property}`).toContain('"Ref":"AWS::Region"');
        }
      }
    }
  });

  it('`npm run synth` synthesizes each stage into its own directory, without the ignored --all', () => {
    const { scripts } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const commands = scripts.synth?.split('&&').map((c) => c.trim()) ?? [];

    expect(commands).toEqual([
      'cdk synth --quiet -c stage=dev -o cdk.out/dev',
      'cdk synth --quiet -c stage=prod -o cdk.out/prod',
    ]);
  });
});
