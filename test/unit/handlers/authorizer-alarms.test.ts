import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hs256Verifier, jwksVerifier, type TokenVerifier } from '../../../lambdas/adapters/auth.js';
import { METRICS } from '../../../lambdas/domain/constants.js';
import { createAuthorizerHandler, UNAUTHORIZED } from '../../../lambdas/handlers/authorizer.js';
import { CountingSink, fakeRuntime } from '../fakes.js';

function request(token?: string): APIGatewayRequestAuthorizerEvent {
  const event = JSON.parse(
    readFileSync(new URL('../../fixtures/authorizer-request.json', import.meta.url), 'utf8'),
  ) as APIGatewayRequestAuthorizerEvent;
  event.queryStringParameters = token === undefined ? {} : { token };
  return event;
}

/** The authorizer over the given verifier, counting its metrics. */
function authorizer(verify: TokenVerifier) {
  const { runtime } = fakeRuntime();
  const sink = new CountingSink();
  const handler = createAuthorizerHandler(
    { config: runtime.config, observability: { ...runtime.observability, sink } },
    verify,
  );
  return { handler, sink };
}

const expired = () =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
    .sign(new TextEncoder().encode('handler-secret'));

describe('authorizer: refusals are not faults, faults are', () => {
  it('refuses an expired, forged or missing token with Unauthorized (401) and counts no InternalErrors', async () => {
    const { handler, sink } = authorizer(hs256Verifier(async () => ['handler-secret']));

    await expect(handler(request(await expired()))).rejects.toThrow(new Error(UNAUTHORIZED));
    await expect(handler(request('not.a.jwt'))).rejects.toThrow(new Error(UNAUTHORIZED));
    await expect(handler(request())).rejects.toThrow(new Error(UNAUTHORIZED));

    expect(sink.counts.get(METRICS.authFailures)).toBe(3);
    expect(sink.counts.get(METRICS.internalErrors)).toBeUndefined();
  });

  it('counts InternalErrors and fails with a fault (API Gateway: 500, not 401) when the key cannot be read', async () => {
    const { handler, sink } = authorizer(
      hs256Verifier(async () => {
        throw new Error('Secrets Manager: connect ETIMEDOUT');
      }),
    );

    const failure = await handler(request(await expired())).catch((error: Error) => error);

    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).not.toBe(UNAUTHORIZED);
    expect(sink.counts.get(METRICS.internalErrors)).toBe(1);
    expect(sink.counts.get(METRICS.authFailures)).toBeUndefined();
  });

  describe('with an OpenID provider whose JWKS fails', () => {
    let server: Server;
    let url: string;
    beforeAll(async () => {
      server = createServer((_req, res) => res.writeHead(503).end('unavailable'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('counts the JWKS outage as a fault, not as a refused token', async () => {
      const { handler, sink } = authorizer(
        jwksVerifier({ issuer: 'https://issuer.example.com/', audience: 'roomcast', jwksUrl: url }),
      );
      // Well-formed, so verification gets as far as fetching the provider's keys.
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const token = `${part({ alg: 'ES256', kid: 'k1' })}.${part({ sub: 'alice', exp: 4102444800 })}.c2ln`;

      const failure = await handler(request(token)).catch((error: Error) => error);

      expect((failure as Error).message).not.toBe(UNAUTHORIZED);
      expect(sink.counts.get(METRICS.internalErrors)).toBe(1);
    });
  });
});
