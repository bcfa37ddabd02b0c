import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { environmentSchema } from '../../lambdas/config.js';
import { LAMBDA_ENTRIES, type LambdaName } from '../../lambdas/entries/index.js';
import { DEV_PRESET, PROD_PRESET } from '../../lib/config.js';
import { STORE_CALLS, type StoreCall } from '../../lib/constructs/table.js';
import { FUNCTION_BINDINGS, METRICS_NAMESPACE } from '../../lib/stack.js';
import { type Cfn, logicalIdOf, synthStage } from './synth.js';

let dev: Template;
let prod: Template;
let oidc: Template;

const OIDC = {
  jwtIssuer: 'https://issuer.example.com/',
  jwtAudience: 'roomcast-api',
  jwtJwksUrl: 'https://issuer.example.com/.well-known/jwks.json',
};

beforeAll(() => {
  dev = synthStage('dev').template;
  prod = synthStage('prod', { allowedOrigins: 'https://app.example.com' }).template;
  oidc = synthStage('oidc', { ...OIDC, pushAuth: 'iam' }).template;
});

const capitalized = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

/** The entries a template deploys (the push key authorizer only on apikey stages). */
const deployed = (template: Template) =>
  LAMBDA_ENTRIES.filter((name) =>
    Object.keys(template.findResources('AWS::Lambda::Function')).some((id) =>
      id.startsWith(`${capitalized(name)}Function`),
    ),
  );

function fn(template: Template, name: LambdaName) {
  const id = logicalIdOf(template, 'AWS::Lambda::Function', `${capitalized(name)}Function`);
  return { id, props: template.toJSON().Resources[id].Properties as Record<string, Cfn> };
}

function env(template: Template, name: LambdaName): Record<string, unknown> {
  return fn(template, name).props.Environment.Variables;
}

/** Every statement of the policies attached to a function's role. */
function statements(
  template: Template,
  name: LambdaName,
): { Action: string | string[]; Resource: unknown }[] {
  const role = fn(template, name).props.Role['Fn::GetAtt'][0];
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const actionsOf = (template: Template, name: LambdaName) =>
  statements(template, name).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

describe('Lambda functions', () => {
  it('runs every entry of LAMBDA_ENTRIES on Node.js 22, arm64', () => {
    expect(Object.keys(dev.findResources('AWS::Lambda::Function'))).toHaveLength(LAMBDA_ENTRIES.length);
    for (const name of LAMBDA_ENTRIES) {
      const { props } = fn(dev, name);
      expect(props.Runtime, name).toBe('nodejs22.x');
      expect(props.Architectures, name).toEqual(['arm64']);
      expect(props.Handler, name).toBe('index.handler');
    }
  });

  it('gives each function its own log group with the stage retention', () => {
    for (const [template, days] of [
      [dev, DEV_PRESET.logRetentionDays],
      [prod, PROD_PRESET.logRetentionDays],
    ] as const) {
      for (const name of LAMBDA_ENTRIES) {
        const logGroup = fn(template, name).props.LoggingConfig.LogGroup.Ref;
        expect(logGroup).toMatch(new RegExp(`^${capitalized(name)}FunctionLogGroup`));
        expect(template.toJSON().Resources[logGroup].Properties.RetentionInDays).toBe(days);
      }
    }
  });

  it('sets source maps, Powertools names per stage and the log level', () => {
    for (const name of LAMBDA_ENTRIES) {
      expect(env(dev, name)).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'roomcast-dev',
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        LOG_LEVEL: DEV_PRESET.logLevel,
      });
      expect(env(prod, name).POWERTOOLS_SERVICE_NAME).toBe('roomcast-prod');
    }
  });

  it('sets only environment variables the handlers read (lambdas/config.ts) besides NODE_OPTIONS', () => {
    const known = new Set([...Object.keys(environmentSchema.shape), 'NODE_OPTIONS']);
    for (const template of [dev, prod, oidc]) {
      for (const name of deployed(template)) {
        for (const key of Object.keys(env(template, name))) expect(known, `${name}: ${key}`).toContain(key);
      }
    }
  });

  it('gives the table and @connections only to the functions that use them', () => {
    for (const name of ['disconnect', 'message', 'push'] as const) {
      expect(Object.keys(env(dev, name)), name).toEqual(
        expect.arrayContaining(['TABLE_NAME', 'CONNECTIONS_ENDPOINT']),
      );
    }
    // $connect stores the connection and posts to none.
    expect(Object.keys(env(dev, 'connect'))).toContain('TABLE_NAME');
    expect(env(dev, 'connect')).not.toHaveProperty('CONNECTIONS_ENDPOINT');
    // The expiry consumer announces presence leaves, so it posts to @connections too.
    expect(Object.keys(env(dev, 'expiry'))).toEqual(
      expect.arrayContaining(['TABLE_NAME', 'CONNECTIONS_ENDPOINT']),
    );
    // So does the reconciliation, for the leave of an orphan membership it deletes.
    expect(Object.keys(env(dev, 'reconcile'))).toEqual(
      expect.arrayContaining(['TABLE_NAME', 'CONNECTIONS_ENDPOINT']),
    );
    expect(env(dev, 'authorizer')).not.toHaveProperty('TABLE_NAME');
    expect(env(dev, 'authorizer')).not.toHaveProperty('CONNECTIONS_ENDPOINT');
  });

  it('points CONNECTIONS_ENDPOINT at the WebSocket stage: https://{apiId}.execute-api.{region}.{suffix}/{stage}', () => {
    const apiId = logicalIdOf(dev, 'AWS::ApiGatewayV2::Api', 'WebSocketApi');
    expect(env(dev, 'push').CONNECTIONS_ENDPOINT).toEqual({
      'Fn::Join': [
        '',
        [
          'https://',
          { Ref: apiId },
          '.execute-api.',
          { Ref: 'AWS::Region' },
          '.',
          { Ref: 'AWS::URLSuffix' },
          '/dev',
        ],
      ],
    });
  });

  it('gives the authorizer the JWT secret ARN, or the OIDC issuer, audience and JWKS URL', () => {
    const secret = logicalIdOf(dev, 'AWS::SecretsManager::Secret', 'AuthJwtSecret');

    expect(env(dev, 'authorizer').JWT_SECRET_ARN).toEqual({ Ref: secret });
    expect(env(oidc, 'authorizer')).toMatchObject({
      JWT_ISSUER: OIDC.jwtIssuer,
      JWT_AUDIENCE: OIDC.jwtAudience,
      JWT_JWKS_URL: OIDC.jwtJwksUrl,
    });
    expect(env(oidc, 'authorizer').JWT_SECRET_ARN).toBeUndefined();
    expect(env(prod, 'authorizer').ALLOWED_ORIGINS).toBe('https://app.example.com');
    expect(env(dev, 'authorizer').ALLOWED_ORIGINS).toBeUndefined();
  });

  it('deploys the push key authorizer on apikey stages only, with the key secret and nothing else', () => {
    expect(deployed(dev)).toContain('pushAuthorizer');
    expect(deployed(oidc)).not.toContain('pushAuthorizer');
    expect(env(dev, 'pushAuthorizer')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'roomcast-dev',
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      LOG_LEVEL: DEV_PRESET.logLevel,
      PUSH_AUTH: 'apikey',
      PUSH_API_KEYS_SECRET_ARN: { Ref: logicalIdOf(dev, 'AWS::SecretsManager::Secret', 'AuthPushApiKeys') },
    });
  });

  it('gives the push function its auth mode and key secret, and MAX_DATA_BYTES to message and push', () => {
    expect(env(dev, 'push')).toMatchObject({
      PUSH_AUTH: 'apikey',
      PUSH_API_KEYS_SECRET_ARN: { Ref: logicalIdOf(dev, 'AWS::SecretsManager::Secret', 'AuthPushApiKeys') },
      MAX_DATA_BYTES: String(DEV_PRESET.maxDataBytes),
    });
    expect(env(dev, 'message').MAX_DATA_BYTES).toBe(String(DEV_PRESET.maxDataBytes));
    for (const name of ['message', 'push'] as const) {
      expect(env(dev, name), name).toMatchObject({
        HISTORY_TTL_SECONDS: String(DEV_PRESET.historyTtlSeconds),
        MAILBOX_TTL_SECONDS: String(DEV_PRESET.mailboxTtlSeconds),
      });
    }
    expect(env(oidc, 'push').PUSH_AUTH).toBe('iam');
    expect(env(oidc, 'push').PUSH_API_KEYS_SECRET_ARN).toBeUndefined();
    for (const name of ['authorizer', 'connect', 'disconnect'] as const) {
      expect(env(dev, name).PUSH_API_KEYS_SECRET_ARN, name).toBeUndefined();
      expect(env(dev, name).MAX_DATA_BYTES, name).toBeUndefined();
    }
  });
});

describe('stage settings: tracing and reserved concurrency', () => {
  it('traces every function with X-Ray in the prod preset, none in dev, and grants the trace calls only then', () => {
    for (const name of LAMBDA_ENTRIES) {
      expect(fn(prod, name).props.TracingConfig, name).toEqual({ Mode: 'Active' });
      expect(fn(dev, name).props.TracingConfig, name).toBeUndefined();
      expect(actionsOf(prod, name), name).toEqual(
        expect.arrayContaining(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']),
      );
      expect(
        actionsOf(dev, name).filter((a) => a.startsWith('xray:')),
        name,
      ).toEqual([]);
    }
    expect(PROD_PRESET.tracing).toBe(true);
    expect(DEV_PRESET.tracing).toBe(false);
  });

  it('reserves concurrency for the authorizer and connect functions in prod, so messages cannot starve new connections', () => {
    for (const name of ['authorizer', 'connect'] as const) {
      expect(fn(prod, name).props.ReservedConcurrentExecutions, name).toBe(
        PROD_PRESET.connectReservedConcurrency,
      );
      expect(fn(dev, name).props.ReservedConcurrentExecutions, name).toBeUndefined();
    }
    for (const name of ['disconnect', 'message', 'push', 'expiry'] as const) {
      expect(fn(prod, name).props.ReservedConcurrentExecutions, name).toBeUndefined();
    }
    expect(PROD_PRESET.connectReservedConcurrency).toBeGreaterThan(0);
  });

  it('takes both from the context', () => {
    const { template } = synthStage('ctx', { tracing: 'true', connectReservedConcurrency: '20' });
    expect(fn(template, 'message').props.TracingConfig).toEqual({ Mode: 'Active' });
    expect(fn(template, 'connect').props.ReservedConcurrentExecutions).toBe(20);
  });
});

describe('stage settings: source maps', () => {
  const nodeOptions = (template: Template, name: LambdaName) =>
    (fn(template, name).props.Environment as { Variables: Record<string, unknown> }).Variables.NODE_OPTIONS;

  it('runs every function with --enable-source-maps in both presets', () => {
    for (const name of LAMBDA_ENTRIES) {
      expect(nodeOptions(prod, name), name).toBe('--enable-source-maps');
      expect(nodeOptions(dev, name), name).toBe('--enable-source-maps');
    }
  });

  it('turns them off from the context (-c sourceMaps=false), for a faster cold start', () => {
    const { template } = synthStage('nomaps', { sourceMaps: 'false' });
    for (const name of LAMBDA_ENTRIES) expect(nodeOptions(template, name), name).toBeUndefined();
  });
});

describe('IAM', () => {
  const manageConnections = (template: Template, name: LambdaName) =>
    statements(template, name)
      .filter((s) => s.Action === 'execute-api:ManageConnections')
      .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]))
      .map((r) => JSON.stringify(r));

  it("scopes ManageConnections to the stage's @connections/* for the methods each function calls", () => {
    const apiId = logicalIdOf(dev, 'AWS::ApiGatewayV2::Api', 'WebSocketApi');
    const arn = (method: string) =>
      JSON.stringify({
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':execute-api:',
            { Ref: 'AWS::Region' },
            ':',
            { Ref: 'AWS::AccountId' },
            ':',
            { Ref: apiId },
            `/dev/${method}/@connections/*`,
          ],
        ],
      });

    expect(manageConnections(dev, 'message')).toEqual([arn('POST')]);
    expect(manageConnections(dev, 'push').sort()).toEqual([arn('DELETE'), arn('POST')].sort());
    // Presence leaves are announced by $disconnect, the expiry consumer and the reconciliation.
    expect(manageConnections(dev, 'disconnect')).toEqual([arn('POST')]);
    expect(manageConnections(dev, 'expiry')).toEqual([arn('POST')]);
    expect(manageConnections(dev, 'reconcile')).toEqual([arn('POST')]);
    for (const name of ['authorizer', 'connect'] as const) {
      expect(manageConnections(dev, name), name).toEqual([]);
    }
  });

  /** The DynamoDB actions a function may call, by where: the table, its index gsi1, or elsewhere. */
  function dynamoGrants(template: Template, name: LambdaName) {
    const table = logicalIdOf(template, 'AWS::DynamoDB::Table', 'Table');
    const tableArn = JSON.stringify({ 'Fn::GetAtt': [table, 'Arn'] });
    const indexArn = JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/gsi1']] });
    const grants: Record<'table' | 'index' | 'other', Set<string>> = {
      table: new Set(),
      index: new Set(),
      other: new Set(),
    };
    for (const statement of statements(template, name)) {
      const actions = [statement.Action].flat().filter((a) => a.startsWith('dynamodb:'));
      for (const resource of [statement.Resource].flat()) {
        const where = JSON.stringify(resource);
        const bucket = where === tableArn ? 'table' : where === indexArn ? 'index' : 'other';
        for (const action of actions) grants[bucket].add(action.replace('dynamodb:', ''));
      }
    }
    return {
      table: [...grants.table].sort(),
      index: [...grants.index].sort(),
      other: [...grants.other].sort(),
    };
  }

  it.each([
    ['authorizer', { table: [], index: [], other: [] }],
    ['pushAuthorizer', { table: [], index: [], other: [] }],
    // putConnection: the connection and its broadcast entry, counters.
    ['connect', { table: ['PutItem', 'UpdateItem'], index: [], other: [] }],
    // removeConnection: deletes, memberships found on the index, counters; presence rooms' members to
    // announce to (their partitions, the first from the room's #META on), and the user's count in the
    // room read again after posting.
    ['disconnect', { table: ['DeleteItem', 'GetItem', 'Query', 'UpdateItem'], index: ['Query'], other: [] }],
    [
      'message',
      { table: ['DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'], index: ['Query'], other: [] },
    ],
    [
      'push',
      { table: ['DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'], index: ['Query'], other: [] },
    ],
    // settleExpired: counters; presence announcements (members, the user's count after posting,
    // prunes); the event source reads the stream.
    [
      'expiry',
      {
        table: ['DeleteItem', 'GetItem', 'Query', 'UpdateItem'],
        index: ['Query'],
        other: ['DescribeStream', 'GetRecords', 'GetShardIterator', 'ListStreams'],
      },
    ],
    // reconcile: the one Scan, SETs, orphan deletes after reading their connection, a room's
    // consistent recount before correcting its counters; an orphan membership's settling and its
    // announcement (members, prunes).
    [
      'reconcile',
      {
        table: ['DeleteItem', 'GetItem', 'PutItem', 'Query', 'Scan', 'UpdateItem'],
        index: ['Query'],
        other: [],
      },
    ],
  ] as const)(
    'grants %s exactly the DynamoDB calls its store operations make, on the table or gsi1',
    (name, expected) => {
      expect(dynamoGrants(dev, name as LambdaName)).toEqual(expected);
    },
  );

  it('grants each function only the store operations FUNCTION_BINDINGS lists, through STORE_CALLS', () => {
    for (const name of LAMBDA_ENTRIES) {
      const operations = FUNCTION_BINDINGS[name].store ?? [];
      const calls = operations.flatMap((operation) => STORE_CALLS[operation] as readonly StoreCall[]);
      const granted = dynamoGrants(dev, name);
      for (const on of ['table', 'index'] as const) {
        expect(granted[on], `${name} on ${on}`).toEqual(
          [...new Set(calls.filter((c) => c[1] === on).map((c) => c[0]))].sort(),
        );
      }
    }
  });

  it('grants Scan only to reconcile, and never batch operations or the whole index set (index/*)', () => {
    for (const name of LAMBDA_ENTRIES) {
      const text = JSON.stringify(statements(dev, name));
      for (const forbidden of ['dynamodb:Batch', '/index/*']) {
        expect(text, `${name}: ${forbidden}`).not.toContain(forbidden);
      }
      if (name === 'reconcile') expect(text).toContain('dynamodb:Scan');
      else expect(text, `${name}: dynamodb:Scan`).not.toContain('dynamodb:Scan');
    }
  });

  it('runs reconcile every 5 minutes from an EventBridge schedule', () => {
    const rules = Object.values(
      dev.findResources('AWS::Events::Rule', { Properties: { ScheduleExpression: 'rate(5 minutes)' } }),
    ) as { Properties: { Targets: { Arn: unknown }[] } }[];
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [logicalIdOf(dev, 'AWS::Lambda::Function', 'ReconcileFunction'), 'Arn'] },
      }),
    ]);
  });

  it('runs one reconciliation at a time, for up to 10 minutes (two looks and the wait between), dropping a run that finds one going', () => {
    const fn = logicalIdOf(dev, 'AWS::Lambda::Function', 'ReconcileFunction');
    expect(dev.toJSON().Resources[fn].Properties).toMatchObject({
      ReservedConcurrentExecutions: 1,
      Timeout: 600,
    });
    dev.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fn },
      MaximumEventAgeInSeconds: 60,
      MaximumRetryAttempts: 0,
    });
  });

  it('grants GetSecretValue only on the function’s own secret, and only to the functions that read one', () => {
    const secretStatements = (name: LambdaName) =>
      statements(dev, name).filter((s) => JSON.stringify(s.Action).includes('secretsmanager'));

    expect(secretStatements('authorizer')).toEqual([
      expect.objectContaining({
        Action: 'secretsmanager:GetSecretValue',
        Resource: { Ref: logicalIdOf(dev, 'AWS::SecretsManager::Secret', 'AuthJwtSecret') },
      }),
    ]);
    expect(secretStatements('push')).toEqual([
      expect.objectContaining({
        Action: 'secretsmanager:GetSecretValue',
        Resource: { Ref: logicalIdOf(dev, 'AWS::SecretsManager::Secret', 'AuthPushApiKeys') },
      }),
    ]);
    // The push API's key authorizer reads the keys secret and nothing else.
    expect(
      statements(dev, 'pushAuthorizer').filter((s) => !JSON.stringify(s.Action).includes('logs:')),
    ).toEqual([
      expect.objectContaining({
        Action: 'secretsmanager:GetSecretValue',
        Resource: { Ref: logicalIdOf(dev, 'AWS::SecretsManager::Secret', 'AuthPushApiKeys') },
      }),
    ]);
    for (const name of ['connect', 'disconnect', 'message', 'expiry', 'reconcile'] as const)
      expect(secretStatements(name), name).toEqual([]);
    expect(oidc.findResources('AWS::SecretsManager::Secret')).toEqual({});
  });

  it('uses no AWS managed policy and no wildcard action on the function roles', () => {
    for (const name of LAMBDA_ENTRIES) {
      const role = fn(dev, name).props.Role['Fn::GetAtt'][0];
      expect(dev.toJSON().Resources[role].Properties.ManagedPolicyArns, name).toBeUndefined();
      for (const action of actionsOf(dev, name)) expect(action, name).not.toContain('*');
    }
  });

  it('lets each function write logs to its own log group only', () => {
    for (const name of LAMBDA_ENTRIES) {
      const logGroup = fn(dev, name).props.LoggingConfig.LogGroup.Ref;
      const logs = statements(dev, name).filter((s) => JSON.stringify(s.Action).includes('logs:'));
      expect(logs, name).toEqual([
        expect.objectContaining({
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [logGroup, 'Arn'] },
        }),
      ]);
    }
  });
});

describe('secrets', () => {
  it('are generated by the deploy: no secret value appears in any template', () => {
    for (const template of [dev, prod, oidc]) {
      const json = template.toJSON();
      for (const secret of Object.values(template.findResources('AWS::SecretsManager::Secret'))) {
        expect(secret.Properties.SecretString).toBeUndefined();
        expect(secret.Properties.GenerateSecretString).toMatchObject({ ExcludePunctuation: true });
      }
      const text = JSON.stringify(json);
      // The local stack's default credentials, literal secrets in env vars, or a secret value property.
      for (const pattern of [
        /dev-jwt-secret/,
        /dev-api-key/,
        /"JWT_SECRET"/,
        /"PUSH_API_KEYS"/,
        /"SecretString"/,
      ]) {
        expect(text.match(pattern)?.[0], String(pattern)).toBeUndefined();
      }
    }
  });

  it('are retained in prod and deleted with the stack in dev', () => {
    for (const secret of Object.values(prod.findResources('AWS::SecretsManager::Secret'))) {
      expect(secret.DeletionPolicy).toBe('Retain');
    }
    for (const secret of Object.values(dev.findResources('AWS::SecretsManager::Secret'))) {
      expect(secret.DeletionPolicy).toBe('Delete');
    }
  });
});
