import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addRoomcastStage } from '../../lib/app.js';
import type { RoomcastStack } from '../../lib/stack.js';

/** The context of cdk.json (feature flags and defaults), so tests synthesize what the CLI does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

export interface Synthesized {
  app: App;
  stack: RoomcastStack;
  template: Template;
}

/**
 * Synthesizes one stage the way bin/app.ts does, without bundling the
 * functions (context `aws:cdk:bundling-stacks: []`) so it stays fast.
 */
export function synthStage(stage: string, context: Record<string, unknown> = {}): Synthesized {
  const app = new App({
    context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], stage, ...context },
  });
  const stack = addRoomcastStage(app, { nag: false });
  return { app, stack, template: Template.fromStack(stack) };
}

export interface NagFinding {
  rule: string;
  severity: string | undefined;
  paths: string[];
}

/** Runs the cdk-nag AwsSolutions pack over a synthesized app; returns the unacknowledged findings. */
export function nagFindings(app: App): NagFinding[] {
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(app);
  return report.violations.map((v) => ({
    rule: v.ruleName,
    severity: v.severity,
    paths: v.violatingResources.map((r) => r.constructPath ?? ''),
  }));
}

/** The one resource of a type whose logical id starts with a prefix. */
export function logicalIdOf(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ')}`);
  return ids[0] as string;
}

/** Synthesized CloudFormation: untyped JSON that assertions walk into. */
// biome-ignore lint/suspicious/noExplicitAny: a template is untyped JSON; tests assert on its shape.
export type Cfn = any;
