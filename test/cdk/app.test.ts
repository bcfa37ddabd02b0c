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
