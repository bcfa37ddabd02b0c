import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import * as fc from 'fast-check';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import * as zm from 'zod/mini';
import { claims, hs256Verifier, matchesApiKey } from '../../../lambdas/adapters/auth.js';
import { cachedSecret, parseApiKeys, parseJwtSecrets } from '../../../lambdas/adapters/secrets.js';
import { userId } from '../../../lambdas/domain/schemas.js';

const secret = 's3cret';
const sign = (
  claims: Record<string, unknown>,
  options: { sub?: string; exp?: string; key?: string; alg?: string } = {},
) => {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256' });
  if (options.sub !== undefined) jwt.setSubject(options.sub);
  if (options.exp !== '') jwt.setExpirationTime(options.exp ?? '1h');
  return jwt.sign(new TextEncoder().encode(options.key ?? secret));
};
const verify = hs256Verifier(async () => [secret]);

describe('hs256Verifier', () => {
  it('returns the user and the rooms claim', async () => {
    expect(await verify(await sign({ rooms: ['private-ops'] }, { sub: 'alice' }))).toEqual({
      userId: 'alice',
      rooms: ['private-ops'],
    });
  });

  it.each([
    ['expired', () => sign({}, { sub: 'a', exp: '-1m' }), 'token has expired'],
    ['badly signed', () => sign({}, { sub: 'a', key: 'other' }), 'token signature is not valid'],
    ['without sub', () => sign({}, {}), 'sub'],
    ['without exp', () => sign({}, { sub: 'a', exp: '' }), 'exp'],
    ['with a bad rooms claim', () => sign({ rooms: 'all' }, { sub: 'a' }), 'rooms'],
    ['garbage', async () => 'a.b.c', 'token is malformed'],
  ])('refuses a token that is %s', async (_, make, words) => {
    await expect(verify(await make())).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      message: expect.stringContaining(words),
    });
  });
});

describe('JWT key rotation', () => {
  it('accepts a token signed with any active secret and refuses others', async () => {
    const rotating = hs256Verifier(async () => ['old-secret', 'new-secret']);
    expect(await rotating(await sign({}, { sub: 'a', key: 'old-secret' }))).toMatchObject({ userId: 'a' });
    expect(await rotating(await sign({}, { sub: 'b', key: 'new-secret' }))).toMatchObject({ userId: 'b' });
    await expect(rotating(await sign({}, { sub: 'c', key: 'third' }))).rejects.toMatchObject({
      message: 'token signature is not valid',
    });
  });

  it('reads one secret, or a JSON array of them, without splitting on commas', () => {
    expect(parseJwtSecrets('a,b')).toEqual(['a,b']);
    expect(parseJwtSecrets('["old","new"]')).toEqual(['old', 'new']);
  });
});

describe('matchesApiKey', () => {
  it('matches any active key and nothing else', () => {
    expect(matchesApiKey('new', ['old', 'new'])).toBe(true);
    expect(matchesApiKey('ne', ['old', 'new'])).toBe(false);
    expect(matchesApiKey('', [])).toBe(false);
  });
});

describe('secrets', () => {
  it('caches a secret for its max age, then reads it again', async () => {
    const sm = mockClient(SecretsManagerClient);
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: 'one' }).resolves({ SecretString: 'two' });
    let now = 0;
    const read = cachedSecret(new SecretsManagerClient({ region: 'us-east-1' }), 'arn', 1000, () => now);
    expect(await read()).toBe('one');
    now = 999;
    expect(await read()).toBe('one');
    now = 2000;
    expect(await read()).toBe('two');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('serves the last good value when a refresh fails, and fails only when there never was one', async () => {
    const sm = mockClient(SecretsManagerClient);
    sm.on(GetSecretValueCommand)
      .rejectsOnce(new Error('throttled'))
      .resolvesOnce({ SecretString: 'good' })
      .rejectsOnce(new Error('outage'))
      .resolves({ SecretString: 'rotated' });
    let now = 0;
    const read = cachedSecret(new SecretsManagerClient({ region: 'us-east-1' }), 'arn', 1000, () => now);
    await expect(read()).rejects.toThrow('throttled');
    expect(await read()).toBe('good');
    now = 5000;
    expect(await read()).toBe('good');
    now = 6000;
    expect(await read()).toBe('good');
    now = 16_000;
    expect(await read()).toBe('rotated');
  });

  it('reads API keys from a JSON array or a list', () => {
    expect(parseApiKeys('["a","b"]')).toEqual(['a', 'b']);
    expect(parseApiKeys('a, b\nc')).toEqual(['a', 'b', 'c']);
    expect(() => parseApiKeys('[1]')).toThrow(/JSON array of strings/);
    expect(() => parseApiKeys('[oops')).toThrow(/not valid JSON/);
  });
});

describe('token claims', () => {
  it('accept exactly the user ids the client protocol accepts', () => {
    const sample = fc.oneof(
      fc.string({ maxLength: 140 }),
      fc.string({ unit: 'grapheme', maxLength: 140 }),
      fc.constantFrom('', ' ', 'a b', 'a\u0000', 'a'.repeat(128), 'a'.repeat(129), 'bob', 'ü-🙂'),
    );
    fc.assert(
      fc.property(sample, (sub) => {
        const asClaim = zm.safeParse(claims, { sub, exp: 1 }).success;
        expect(asClaim, JSON.stringify(sub)).toBe(userId.safeParse(sub).success);
      }),
      { numRuns: 2000 },
    );
  });
});
