import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../../lambdas/domain/constants.js';
import { createPushAuthorizerHandler } from '../../../lambdas/handlers/push-authorizer.js';
import { CountingSink, fakeRuntime } from '../fakes.js';

/** What API Gateway sends an HTTP API Lambda authorizer (payload 2.0) for `POST /v1/push`. */
function request(authorization?: string): APIGatewayRequestAuthorizerEventV2 {
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: 'arn:aws:execute-api:eu-west-1:123456789012:zyx987/$default/POST/v1/push',
    identitySource: authorization === undefined ? [] : [authorization],
    routeKey: 'ANY /v1/{proxy+}',
    rawPath: '/v1/push',
    rawQueryString: '',
    cookies: [],
    headers: {
      'content-type': 'application/json',
      ...(authorization === undefined ? {} : { authorization }),
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'zyx987',
      domainName: 'zyx987.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'zyx987',
      http: {
        method: 'POST',
        path: '/v1/push',
        protocol: 'HTTP/1.1',
        sourceIp: '198.51.100.4',
        userAgent: 'curl/8.5.0',
      },
      requestId: 'Yx3AAhVFjoEEMqw=',
      routeKey: 'ANY /v1/{proxy+}',
      stage: '$default',
      time: '21/Nov/2026:10:00:10 +0000',
      timeEpoch: 1795255210000,
    },
    pathParameters: { proxy: 'push' },
    stageVariables: {},
  } as unknown as APIGatewayRequestAuthorizerEventV2;
}

function authorizer(keys: () => Promise<string[]>) {
  const { runtime } = fakeRuntime();
  const sink = new CountingSink();
  const handler = createPushAuthorizerHandler(
    { config: runtime.config, observability: { ...runtime.observability, sink } },
    keys,
  );
  return { handler, sink };
}

describe('push API key authorizer', () => {
  it('authorizes a request whose Bearer key is one of the active keys, during a rotation too', async () => {
    const { handler, sink } = authorizer(async () => ['old-key', 'new-key']);

    expect(await handler(request('Bearer old-key'))).toEqual({ isAuthorized: true });
    expect(await handler(request('bearer new-key'))).toEqual({ isAuthorized: true });
    expect(sink.counts.get(METRICS.authFailures)).toBeUndefined();
  });

  it('refuses a wrong, malformed or missing key before the push function runs, and counts it', async () => {
    const { handler, sink } = authorizer(async () => ['test-key']);

    for (const authorization of ['Bearer wrong-key', 'Bearer test-key2', 'test-key', 'Basic dGVzdA==', '']) {
      expect(await handler(request(authorization)), authorization).toEqual({ isAuthorized: false });
    }
    expect(await handler(request())).toEqual({ isAuthorized: false });
    expect(sink.counts.get(METRICS.authFailures)).toBe(6);
    expect(sink.counts.get(METRICS.internalErrors)).toBeUndefined();
  });

  it('fails (API Gateway: 500, never an allow) and counts InternalErrors when the keys cannot be read', async () => {
    const { handler, sink } = authorizer(async () => {
      throw new Error('Secrets Manager: AccessDenied');
    });

    await expect(handler(request('Bearer test-key'))).rejects.toThrow('the API key could not be checked');
    expect(sink.counts.get(METRICS.internalErrors)).toBe(1);
  });
});
