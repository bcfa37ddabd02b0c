import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_ENTRIES, type LambdaName } from '../../lambdas/entries/index.js';
import { addRoomcastStage } from '../../lib/app.js';
import { RoomcastFunction } from '../../lib/constructs/function.js';
import { ensureTable, startDynalite } from '../../local/dynamo.js';
import { cdkJsonContext } from './synth.js';

/**
 * Largest minified handler bundle we ship. Issue 11's goal is 300 KiB: the two authorizers (no
 * table, no queues) and `$connect` (table and events, 295 KiB) meet it. `$disconnect`, the stream
 * consumer and the reconciliation (plus @connections and the fan-out queue, for presence
 * announcements to large rooms: 355-362 KiB) build only what lifecycle.ts needs; the others parse
 * frames and queue fan-outs (392-410 KiB: the SDK's @smithy/core alone is about 120 KiB). Their
 * budgets hold the line.
 */
const BUNDLE_GOAL_BYTES = 300 * 1024;
const BUNDLE_BUDGET_BYTES: Partial<Record<LambdaName, number>> & { others: number } = {
  authorizer: BUNDLE_GOAL_BYTES,
  pushAuthorizer: BUNDLE_GOAL_BYTES,
  connect: BUNDLE_GOAL_BYTES,
  reconcile: 370 * 1024,
  disconnect: 365 * 1024,
  expiry: 365 * 1024,
  others: 415 * 1024,
};

/** The environment the stack gives the functions; nothing is contacted at import time. */
const bundleEnv = {
  PATH: process.env.PATH ?? '',
  AWS_REGION: 'eu-west-1',
  TABLE_NAME: 'roomcast-test',
  CONNECTIONS_ENDPOINT: 'https://abc123.execute-api.eu-west-1.amazonaws.com/bundle',
  JWT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt',
  PUSH_AUTH: 'apikey',
  PUSH_API_KEYS_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys',
  FANOUT_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/roomcast-bundle-fanout',
  POWERTOOLS_SERVICE_NAME: 'roomcast-bundle',
  POWERTOOLS_METRICS_NAMESPACE: 'Roomcast',
  POWERTOOLS_METRICS_DISABLED: 'true',
  LOG_LEVEL: 'ERROR',
};

// The one synth with real bundling: esbuild, locally, offline, no Docker.
let outdir: string;
let assets: Map<string, string>;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'roomcast-cdk-'));
  const app = new App({ outdir, context: { ...cdkJsonContext(), stage: 'bundle' } });
  const stack = addRoomcastStage(app, { nag: false });
  const assembly = app.synth();
  const artifact = assembly.getStackByName(stack.stackName);
  const template = artifact.template as {
    Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: string } } }>;
  };
  // The asset manifest maps each asset hash (the S3 key of a function's code) to its directory.
  const manifest = JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.assets.json`), 'utf8')) as {
    files: Record<string, { source: { path: string } }>;
  };
  assets = new Map();
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const name = LAMBDA_ENTRIES.find((entry) =>
      id.toLowerCase().startsWith(`${entry.toLowerCase()}function`),
    );
    const hash = resource.Properties.Code?.S3Key?.replace(/\.zip$/, '');
    const source = hash ? manifest.files[hash]?.source.path : undefined;
    if (name && source) assets.set(name, join(outdir, source));
  }
});

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('bundling', () => {
  it('bundles every entry locally with esbuild: minified index.js plus a source map', () => {
    expect([...assets.keys()].sort()).toEqual([...LAMBDA_ENTRIES].sort());
    for (const [name, dir] of assets) {
      expect(readdirSync(dir).sort(), name).toEqual(['index.js', 'index.js.map']);
      expect(statSync(join(dir, 'index.js')).size, name).toBeGreaterThan(10_000);
    }
  });

  it('keeps every handler bundle under its size budget', () => {
    for (const [name, dir] of assets) {
      const budget = BUNDLE_BUDGET_BYTES[name as LambdaName] ?? BUNDLE_BUDGET_BYTES.others;
      expect(statSync(join(dir, 'index.js')).size, name).toBeLessThanOrEqual(budget);
    }
  });

  it('produces bundles that load and export a handler with the environment the stack sets', () => {
    const env = bundleEnv;
    for (const [name, dir] of assets) {
      const file = join(dir, 'index.js');
      expect(existsSync(file), name).toBe(true);
      const out = execFileSync(
        process.execPath,
        [
          '--enable-source-maps',
          '-e',
          `process.stdout.write(typeof require(${JSON.stringify(file)}).handler)`,
        ],
        { env, encoding: 'utf8' },
      );
      expect(out, name).toBe('function');
    }
  });

  it('runs the bundled $connect and join against a real DynamoDB API, needing none of the SDK parts left out', async () => {
    // UNREACHED_SDK_MODULES are not in the bundles: a DynamoDB call that reached event streams or a
    // credential provider past the environment would fail here with MODULE_NOT_FOUND.
    const dynamo = await startDynalite();
    try {
      const credentials = { accessKeyId: 'bundle', secretAccessKey: 'bundle' };
      const admin = new DynamoDBClient({
        endpoint: dynamo.endpoint,
        region: bundleEnv.AWS_REGION,
        credentials,
      });
      await ensureTable(admin, bundleEnv.TABLE_NAME);
      const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
      const invoke = async (name: LambdaName, fixture: string) => {
        const script = `
          const event = JSON.parse(require('node:fs').readFileSync(${JSON.stringify(join(fixtures, `${fixture}.json`))}, 'utf8'));
          event.requestContext.connectedAt = Date.now();
          require(${JSON.stringify(join(assets.get(name) ?? '', 'index.js'))})
            .handler(event, { awsRequestId: 'r1', getRemainingTimeInMillis: () => 10000 })
            .then((r) => process.stdout.write(JSON.stringify(r)));`;
        const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
          encoding: 'utf8',
          env: {
            ...bundleEnv,
            DYNAMODB_ENDPOINT: dynamo.endpoint,
            AWS_ACCESS_KEY_ID: credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          },
        });
        return JSON.parse(stdout) as { statusCode: number; body?: string };
      };
      expect(await invoke('connect', 'connect')).toEqual({ statusCode: 200 });
      const joined = await invoke('message', 'message-join');
      expect(joined.statusCode).toBe(200);
      expect(JSON.parse(joined.body ?? '')).toMatchObject({ type: 'ack', id: 'c1' });
    } finally {
      await dynamo.close();
    }
  });

  it("keeps zod's English messages in the bundles that validate with zod/mini", () => {
    // zod/mini has no messages of its own; lambdas/domain/zod.ts installs the English ones, a side
    // effect the bundler must keep (package.json's sideEffects names that file). A push body that is
    // not an object is answered with one of them, by the bundled handler itself.
    const dir = assets.get('push');
    expect(dir).toBeDefined();
    const script = `
      const { handler } = require(${JSON.stringify(join(dir ?? '', 'index.js'))});
      const event = {
        version: '2.0', routeKey: 'ANY /v1/{proxy+}', rawPath: '/v1/push', rawQueryString: '',
        headers: { 'content-type': 'application/json', authorization: 'Bearer bundle-test-key' },
        body: '[]', isBase64Encoded: false,
        requestContext: { http: { method: 'POST', path: '/v1/push' }, requestId: 'r1', authorizer: { lambda: { keyId: 'k' } } },
      };
      handler(event, { awsRequestId: 'r1', getRemainingTimeInMillis: () => 10000 })
        .then((r) => process.stdout.write(JSON.stringify(r)));`;
    // Keys from the environment, not Secrets Manager: the check runs before the body is read.
    const { PUSH_API_KEYS_SECRET_ARN: _, ...env } = { ...bundleEnv, PUSH_API_KEYS: 'bundle-test-key' };
    const out = execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
    const answer = JSON.parse(out) as { statusCode: number; body: string };
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body).error.message).toBe(
      'invalid push body: Invalid input: expected object, received array',
    );
  });

  it('ships no source map, and no --enable-source-maps, for a function built with sourceMaps off', () => {
    // One function alone (-c sourceMaps=false sets this for every one of a stage's functions).
    const dir = mkdtempSync(join(tmpdir(), 'roomcast-nomaps-'));
    try {
      const app = new App({ outdir: dir });
      const stack = new Stack(app, 'NoMaps');
      new RoomcastFunction(stack, 'Reconcile', {
        entry: 'reconcile',
        serviceName: 'roomcast-nomaps',
        metricsNamespace: 'Roomcast',
        sourceMaps: false,
      });
      const assembly = app.synth();
      const manifest = JSON.parse(readFileSync(join(dir, 'NoMaps.assets.json'), 'utf8')) as {
        files: Record<string, { source: { path: string; packaging?: string } }>;
      };
      const code = Object.values(manifest.files)
        .map((f) => join(dir, f.source.path))
        .find((path) => existsSync(join(path, 'index.js')));
      expect(code).toBeDefined();
      expect(readdirSync(code ?? '')).toEqual(['index.js']);
      expect(readFileSync(join(code ?? '', 'index.js'), 'utf8')).not.toContain('sourceMappingURL');
      const template = assembly.getStackByName('NoMaps').template as {
        Resources: Record<string, { Type: string; Properties: { Environment?: { Variables: object } } }>;
      };
      const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function');
      expect(fn?.Properties.Environment?.Variables).not.toHaveProperty('NODE_OPTIONS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
