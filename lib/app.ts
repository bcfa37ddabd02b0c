import { type App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolveStageSettings } from './config.js';
import { RoomcastStack } from './stack.js';

/** The stack id (and CloudFormation stack name) of a stage. */
export function stackNameFor(stage: string): string {
  return `roomcast-${stage}`;
}

/** The tags of a stage's stack and of every resource in it. */
export const STAGE_TAGS = (stage: string): Record<string, string> => ({ app: 'roomcast', stage });

export interface AddStageOptions {
  /**
   * Run the cdk-nag AwsSolutions checks over the app at synth (unacknowledged findings fail `cdk synth`).
   * @default true
   */
  readonly nag?: boolean;
}

/**
 * Adds the stack of the stage named by the context (`-c stage=dev`, default
 * `dev`) with its settings resolved from the context. bin/app.ts and the tests
 * both build the app through this function.
 */
export function addRoomcastStage(app: App, options: AddStageOptions = {}): RoomcastStack {
  const stage = String(app.node.tryGetContext('stage') ?? 'dev');
  const settings = resolveStageSettings(
    stage,
    (key) => app.node.tryGetContext(key),
    Object.keys(app.node.getAllContext()),
  );
  const stack = new RoomcastStack(app, stackNameFor(settings.stage), {
    stackName: stackNameFor(settings.stage),
    description: `roomcast ${settings.stage}: WebSocket API, push API, DynamoDB table, dashboard and alarms`,
    settings,
    // The stack's own tags (with @aws-cdk/core:explicitStackTags, Tags.of() no longer sets them).
    tags: STAGE_TAGS(settings.stage),
  });
  for (const [key, value] of Object.entries(STAGE_TAGS(settings.stage))) Tags.of(stack).add(key, value);
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return stack;
}
