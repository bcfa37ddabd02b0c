import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTableInput, TABLE_SCHEMA } from '../../lambdas/adapters/table.js';
import { type Cfn, synthStage } from './synth.js';

let dev: Template;
let prod: Template;

beforeAll(() => {
  dev = synthStage('dev').template;
  prod = synthStage('prod').template;
});

function tableOf(template: Template) {
  const tables = Object.values(template.findResources('AWS::DynamoDB::Table'));
  expect(tables).toHaveLength(1);
  return tables[0] as {
    Properties: Record<string, Cfn>;
    DeletionPolicy?: string;
    UpdateReplacePolicy?: string;
  };
}

const byName = <T extends { AttributeName: string }>(items: T[]) =>
  [...items].sort((a, b) => a.AttributeName.localeCompare(b.AttributeName));

describe('DynamoDB table', () => {
  it('has the same keys, attributes and GSI as the local stack table (createTableInput)', () => {
    const local = createTableInput('roomcast');
    const { Properties: cdk } = tableOf(dev);

    expect(cdk.KeySchema).toEqual(local.KeySchema);
    expect(byName(cdk.AttributeDefinitions)).toEqual(byName(local.AttributeDefinitions));
    expect(cdk.BillingMode).toBe(local.BillingMode);
    expect(
      cdk.GlobalSecondaryIndexes.map((gsi: Record<string, unknown>) => ({
        IndexName: gsi.IndexName,
        KeySchema: gsi.KeySchema,
        Projection: gsi.Projection,
      })),
    ).toEqual(local.GlobalSecondaryIndexes);
  });

  it('expires items on the TTL attribute of TABLE_SCHEMA', () => {
    expect(tableOf(dev).Properties.TimeToLiveSpecification).toEqual({
      AttributeName: TABLE_SCHEMA.ttlAttribute,
      Enabled: true,
    });
  });

  it('streams old images to the expiry function, filtered to deletions by TTL', () => {
    expect(tableOf(dev).Properties.StreamSpecification).toEqual({ StreamViewType: 'OLD_IMAGE' });
    const mappings = (
      Object.values(dev.findResources('AWS::Lambda::EventSourceMapping')) as {
        Properties: Record<string, Cfn>;
      }[]
    ).filter((m) => JSON.stringify(m.Properties.EventSourceArn).includes('StreamArn'));
    expect(mappings).toHaveLength(1);
    const mapping = mappings[0]?.Properties ?? {};
    expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(mapping.BisectBatchOnFunctionError).toBe(true);
    const patterns = mapping.FilterCriteria.Filters.map((f: { Pattern: string }) => JSON.parse(f.Pattern));
    expect(patterns).toEqual([
      {
        eventName: ['REMOVE'],
        userIdentity: { type: ['Service'], principalId: ['dynamodb.amazonaws.com'] },
      },
    ]);
  });

  it('is disposable in dev: no PITR, no deletion protection, deleted with the stack', () => {
    const table = tableOf(dev);

    expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: false });
    expect(table.Properties.DeletionProtectionEnabled).toBe(false);
    expect(table.DeletionPolicy).toBe('Delete');
  });

  it('is kept and recoverable in prod: PITR, deletion protection, retained with the stack', () => {
    const table = tableOf(prod);

    expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
  });

  it('bills on demand and gives the table no fixed name, so stages never collide', () => {
    const { Properties } = tableOf(prod);

    expect(Properties.BillingMode).toBe('PAY_PER_REQUEST');
    expect(Properties.TableName).toBeUndefined();
  });
});
