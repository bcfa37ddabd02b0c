import { readFileSync } from 'node:fs';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hs256Verifier } from '../../../lambdas/adapters/auth.js';
import { createObservability } from '../../../lambdas/adapters/observability.js';
import { createAuthorizerHandler } from '../../../lambdas/handlers/authorizer.js';
import { fakeRuntime } from '../fakes.js';

const event = (): APIGatewayRequestAuthorizerEvent =>
  JSON.parse(
    readFileSync(new URL('../../fixtures/authorizer-request.json', import.meta.url), 'utf8'),
  ) as APIGatewayRequestAuthorizerEvent;

const sign = (secret: string, expires: string | number = '1h') =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setExpirationTime(expires)
    .sign(new TextEncoder().encode(secret));

/** The authorizer at log level WARN (the local stack's default), with every line it writes. */
function authorizerAtWarn(env: Record<string, string> = {}) {
  const { runtime } = fakeRuntime(env);
  const observability = createObservability({ serviceName: 'roomcast', namespace: 'Test', logLevel: 'WARN' });
  const handler = createAuthorizerHandler(
    { ...runtime, observability },
    hs256Verifier(async () => ['right']),
  );
  const lines: string[] = [];
  const capture = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  const refusals = () => lines.filter((line) => line.includes('connection refused'));
  return { handler, lines, refusals };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('authorizer refusals are logged once at WARN with their reason, never the token', () => {
  it.each([
    ['bad signature', () => sign('wrong'), 'token signature is not valid'],
    ['expired', () => sign('right', Math.floor(Date.now() / 1000) - 3600), 'token has expired'],
  ])('%s', async (_name, token, reason) => {
    const { handler, refusals } = authorizerAtWarn();
    const request = event();
    const jwt = await token();
    request.queryStringParameters = { token: jwt };
    await expect(handler(request)).rejects.toThrow('Unauthorized');
    vi.restoreAllMocks();
    expect(refusals()).toHaveLength(1);
    expect(refusals()[0]).toContain(reason);
    expect(refusals()[0]).toContain('"level":"WARN"');
    expect(refusals().join('')).not.toContain(jwt);
  });

  it('missing token', async () => {
    const { handler, refusals } = authorizerAtWarn();
    const request = event();
    request.queryStringParameters = {};
    await expect(handler(request)).rejects.toThrow('Unauthorized');
    vi.restoreAllMocks();
    expect(refusals()).toHaveLength(1);
    expect(refusals()[0]).toContain('missing token');
  });

  it('origin not allowed', async () => {
    const { handler, refusals } = authorizerAtWarn({ ALLOWED_ORIGINS: 'https://other.example.com' });
    const request = event();
    const jwt = await sign('right');
    request.queryStringParameters = { token: jwt };
    const result = await handler(request);
    vi.restoreAllMocks();
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny' });
    expect(refusals()).toHaveLength(1);
    expect(refusals()[0]).toContain('origin not allowed');
    expect(refusals().join('')).not.toContain(jwt);
  });
});
