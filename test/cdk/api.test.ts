import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTION_ROUTES, ROUTE_KEYS } from '../../lambdas/domain/constants.js';
import { PROD_PRESET } from '../../lib/config.js';
import {
  HEALTH_ROUTE_PATH,
  KEY_AUTHORIZER_CACHE_TTL,
  PUSH_ROUTE_PATH,
} from '../../lib/constructs/push-api.js';
import { logicalIdOf, synthStage } from './synth.js';

let dev: Template;
let prod: Template;
let iam: Template;

beforeAll(() => {
  dev = synthStage('dev').template;
  prod = synthStage('prod').template;
  iam = synthStage('iamstage', { pushAuth: 'iam' }).template;
});

function routes(template: Template, apiPrefix: string) {
  const apiId = logicalIdOf(template, 'AWS::ApiGatewayV2::Api', apiPrefix);
  return Object.values(template.findResources('AWS::ApiGatewayV2::Route')).filter(
    (route) => route.Properties.ApiId.Ref === apiId,
  );
}

describe('WebSocket API', () => {
  it('routes frames by $request.body.action', () => {
    dev.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
  });

  it('has $connect, $disconnect, $default and one route per action', () => {
    const keys = routes(dev, 'WebSocketApi').map((route) => route.Properties.RouteKey);

    expect(keys.sort()).toEqual(
      [ROUTE_KEYS.connect, ROUTE_KEYS.disconnect, ROUTE_KEYS.default, ...ACTION_ROUTES].sort(),
    );
  });

  it('authorizes $connect with the Lambda REQUEST authorizer reading ?token=', () => {
    const authorizerId = logicalIdOf(dev, 'AWS::ApiGatewayV2::Authorizer', 'WebSocketApiTokenAuthorizer');
    const authorizerFn = logicalIdOf(dev, 'AWS::Lambda::Function', 'AuthorizerFunction');

    dev.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
      AuthorizerUri: Match.objectLike({
        'Fn::Join': Match.arrayWith([Match.arrayWith([{ 'Fn::GetAtt': [authorizerFn, 'Arn'] }])]),
      }),
    });
    dev.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: '$connect',
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: authorizerId },
    });
  });

  it('sends every message route and $default to the one message function', () => {
    const messageFn = logicalIdOf(dev, 'AWS::Lambda::Function', 'MessageFunction');
    const integrations = dev.findResources('AWS::ApiGatewayV2::Integration');
    const targetOf = (routeKey: string) => {
      const route = routes(dev, 'WebSocketApi').find((r) => r.Properties.RouteKey === routeKey);
      const integrationId = route?.Properties.Target['Fn::Join'][1][1].Ref as string;
      return JSON.stringify(integrations[integrationId]?.Properties.IntegrationUri);
    };

    for (const key of [ROUTE_KEYS.default, ...ACTION_ROUTES]) {
      expect(targetOf(key), key).toContain(messageFn);
    }
    expect(targetOf(ROUTE_KEYS.connect)).toContain(
      logicalIdOf(dev, 'AWS::Lambda::Function', 'ConnectFunction'),
    );
    expect(targetOf(ROUTE_KEYS.disconnect)).toContain(
      logicalIdOf(dev, 'AWS::Lambda::Function', 'DisconnectFunction'),
    );
  });

  it("answers every message route with the handler's returned body (a route response), and $connect/$disconnect not", () => {
    const wsRoutes = Object.entries(dev.findResources('AWS::ApiGatewayV2::Route')).filter(
      ([, route]) =>
        route.Properties.ApiId.Ref === logicalIdOf(dev, 'AWS::ApiGatewayV2::Api', 'WebSocketApi'),
    );
    const responses = Object.values(dev.findResources('AWS::ApiGatewayV2::RouteResponse'));
    const answered = new Set(
      responses
        .filter((r) => r.Properties.RouteResponseKey === '$default')
        .map((r) => String(r.Properties.RouteId.Ref)),
    );
    for (const [id, route] of wsRoutes) {
      const key = String(route.Properties.RouteKey);
      const twoWay = key !== ROUTE_KEYS.connect && key !== ROUTE_KEYS.disconnect;
      expect(answered.has(id), key).toBe(twoWay);
      if (twoWay) expect(route.Properties.RouteResponseSelectionExpression, key).toBe('$default');
    }
  });

  it.each([
    ['dev', () => dev, 'dev', 100, 50],
    [
      'prod',
      () => prod,
      'prod',
      PROD_PRESET.websocketThrottle.rateLimit,
      PROD_PRESET.websocketThrottle.burstLimit,
    ],
  ])(
    'names the %s stage after the stage and throttles its routes',
    (_name, template, stageName, rate, burst) => {
      template().hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        ApiId: { Ref: logicalIdOf(template(), 'AWS::ApiGatewayV2::Api', 'WebSocketApi') },
        StageName: stageName,
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: rate, ThrottlingBurstLimit: burst },
      });
    },
  );

  it('writes JSON access logs to a log group with the stage retention', () => {
    const logGroup = logicalIdOf(prod, 'AWS::Logs::LogGroup', 'WebSocketAccessLogs');
    const stage = Object.values(prod.findResources('AWS::ApiGatewayV2::Stage')).find(
      (s) => s.Properties.StageName === 'prod',
    );
    const settings = stage?.Properties.AccessLogSettings;

    expect(settings.DestinationArn).toEqual({ 'Fn::GetAtt': [logGroup, 'Arn'] });
    expect(JSON.parse(settings.Format)).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      connectionId: '$context.connectionId',
      status: '$context.status',
    });
    prod.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: PROD_PRESET.logRetentionDays });
  });

  it('leaves the account-wide API Gateway logging role alone by default, in every preset', () => {
    // One role per account and region: two stages that both set it would fight over it.
    dev.resourceCountIs('AWS::ApiGateway::Account', 0);
    prod.resourceCountIs('AWS::ApiGateway::Account', 0);
    expect(
      dev.findResources('AWS::IAM::Role', {
        Properties: { Description: Match.stringLikeRegexp('API Gateway account role') },
      }),
    ).toEqual({});
  });

  it('sets the account role API Gateway needs to write WebSocket logs, before the stage, when asked to', () => {
    const { template } = synthStage('owner', { apiGatewayCloudWatchRole: 'true' });
    const account = logicalIdOf(template, 'AWS::ApiGateway::Account', 'ApiGatewayAccount');
    const stage = logicalIdOf(template, 'AWS::ApiGatewayV2::Stage', 'WebSocketStage');

    template.hasResource('AWS::ApiGateway::Account', { DeletionPolicy: 'Retain' });
    expect(template.toJSON().Resources[stage].DependsOn).toContain(account);
  });
});

describe('push HTTP API', () => {
  it('sends ANY /v1/{proxy+} and GET and HEAD /v1/health to the push function', () => {
    const pushFn = logicalIdOf(dev, 'AWS::Lambda::Function', 'PushFunction');
    const httpRoutes = routes(dev, 'PushApi');

    expect(httpRoutes.map((r) => r.Properties.RouteKey).sort()).toEqual(
      [`ANY ${PUSH_ROUTE_PATH}`, `GET ${HEALTH_ROUTE_PATH}`, `HEAD ${HEALTH_ROUTE_PATH}`].sort(),
    );
    const integrations = dev.findResources('AWS::ApiGatewayV2::Integration', {
      Properties: { ApiId: { Ref: logicalIdOf(dev, 'AWS::ApiGatewayV2::Api', 'PushApi') } },
    });
    expect(Object.values(integrations).map((i) => i.Properties)).toEqual([
      expect.objectContaining({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [pushFn, 'Arn'] },
      }),
    ]);
  });

  it('checks API keys with the Lambda authorizer before the push function, on every route but GET /v1/health', () => {
    const authorizerFn = logicalIdOf(dev, 'AWS::Lambda::Function', 'PushAuthorizerFunction');
    const authorizer = logicalIdOf(dev, 'AWS::ApiGatewayV2::Authorizer', 'PushApiKeyAuthorizer');
    const byKey = Object.fromEntries(
      routes(dev, 'PushApi').map((r) => [r.Properties.RouteKey, r.Properties]),
    );

    dev.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      ApiId: { Ref: logicalIdOf(dev, 'AWS::ApiGatewayV2::Api', 'PushApi') },
      AuthorizerType: 'REQUEST',
      AuthorizerPayloadFormatVersion: '2.0',
      EnableSimpleResponses: true,
      IdentitySource: ['$request.header.Authorization'],
      AuthorizerResultTtlInSeconds: KEY_AUTHORIZER_CACHE_TTL.toSeconds(),
      AuthorizerUri: Match.objectLike({
        'Fn::Join': Match.arrayWith([Match.arrayWith([{ 'Fn::GetAtt': [authorizerFn, 'Arn'] }])]),
      }),
    });
    expect(KEY_AUTHORIZER_CACHE_TTL.toSeconds()).toBeGreaterThan(0);
    expect(KEY_AUTHORIZER_CACHE_TTL.toSeconds()).toBeLessThanOrEqual(300);
    expect(byKey[`ANY ${PUSH_ROUTE_PATH}`]).toMatchObject({
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: authorizer },
    });
    expect(byKey[`GET ${HEALTH_ROUTE_PATH}`]?.AuthorizationType).toBe('NONE');
    // HEAD is a GET without a body (a load balancer's or uptime checker's probe): open too.
    expect(byKey[`HEAD ${HEALTH_ROUTE_PATH}`]?.AuthorizationType).toBe('NONE');
    dev.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [authorizerFn, 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
    });
  });

  it('requires SigV4 (AWS_IAM) on every route in iam mode', () => {
    const [route] = routes(iam, 'PushApi');

    expect(route?.Properties.AuthorizationType).toBe('AWS_IAM');
    expect(routes(iam, 'PushApi')).toHaveLength(1);
    iam.resourceCountIs('AWS::SecretsManager::Secret', 1);
    iam.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1); // the WebSocket $connect authorizer only
    expect(
      Object.keys(iam.findResources('AWS::Lambda::Function')).filter((id) =>
        id.startsWith('PushAuthorizerFunction'),
      ),
    ).toEqual([]);
  });

  it('throttles the $default stage and writes JSON access logs', () => {
    const stage = Object.values(prod.findResources('AWS::ApiGatewayV2::Stage')).find(
      (s) => s.Properties.StageName === '$default',
    );

    expect(stage?.Properties.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: PROD_PRESET.pushThrottle.rateLimit,
      ThrottlingBurstLimit: PROD_PRESET.pushThrottle.burstLimit,
    });
    expect(stage?.Properties.AccessLogSettings.DestinationArn).toEqual({
      'Fn::GetAtt': [logicalIdOf(prod, 'AWS::Logs::LogGroup', 'PushAccessLogs'), 'Arn'],
    });
    expect(JSON.parse(stage?.Properties.AccessLogSettings.Format)).toMatchObject({
      requestId: '$context.requestId',
      status: '$context.status',
    });
  });
});

describe('outputs', () => {
  it('name the wss:// URL, push URL, table, dashboard and where the secrets live', () => {
    const outputs = dev.toJSON().Outputs as Record<string, { Value: unknown }>;

    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'WebSocketUrl',
        'PushApiUrl',
        'TableName',
        'DashboardUrl',
        'JwtSecretArn',
        'PushApiKeysSecretArn',
        'AlarmTopicArn',
      ]),
    );
    expect(JSON.stringify(outputs.WebSocketUrl?.Value)).toMatch(/wss:\/\/.*\/dev"/);
    expect(JSON.stringify(outputs.PushApiUrl?.Value)).toContain('/v1');
    expect(JSON.stringify(outputs.DashboardUrl?.Value)).toContain('#dashboards:name=');
    expect(Object.keys(iam.toJSON().Outputs)).not.toContain('PushApiKeysSecretArn');
  });
});
