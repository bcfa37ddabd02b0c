import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lambdas/config.js';

describe('loadConfig', () => {
  it('applies the defaults and picks the auth modes', () => {
    const config = loadConfig({ TABLE_NAME: 't', JWT_SECRET: 's', PUSH_API_KEYS: 'a, b' });
    expect(config).toMatchObject({
      tableName: 't',
      region: 'us-east-1',
      maxDataBytes: 32768,
      maxMessageBytes: 131072,
      clientAuth: { mode: 'secret', secret: 's' },
      pushAuth: { mode: 'keys', keys: ['a', 'b'] },
      allowedOrigins: [],
    });
  });

  it('keeps room messages a day and user messages a week by default; 0 turns storing off; negative is refused', () => {
    expect(loadConfig({})).toMatchObject({ historyTtlSeconds: 86_400, mailboxTtlSeconds: 604_800 });
    expect(loadConfig({ HISTORY_TTL_SECONDS: '0', MAILBOX_TTL_SECONDS: '60' })).toMatchObject({
      historyTtlSeconds: 0,
      mailboxTtlSeconds: 60,
    });
    expect(() => loadConfig({ HISTORY_TTL_SECONDS: '-1' })).toThrow(/HISTORY_TTL_SECONDS/);
  });

  it("keeps a connection's TTL under the room counters' week: a day at most", () => {
    expect(loadConfig({})).toMatchObject({ connectionTtlSeconds: 7_800 });
    expect(loadConfig({ CONNECTION_TTL_SECONDS: '86400' })).toMatchObject({ connectionTtlSeconds: 86_400 });
    expect(() => loadConfig({ CONNECTION_TTL_SECONDS: '86401' })).toThrow(/CONNECTION_TTL_SECONDS/);
  });

  it('prefers OIDC, then a secret ARN, and IAM for the push API when asked', () => {
    const config = loadConfig({
      TABLE_NAME: 't',
      JWT_ISSUER: 'https://issuer',
      JWT_AUDIENCE: 'aud',
      JWT_JWKS_URL: 'https://issuer/.well-known/jwks.json',
      PUSH_AUTH: 'iam',
    });
    expect(config.clientAuth).toEqual({
      mode: 'oidc',
      issuer: 'https://issuer',
      audience: 'aud',
      jwksUrl: 'https://issuer/.well-known/jwks.json',
    });
    expect(config.pushAuth).toEqual({ mode: 'iam' });
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ MAX_DATA_BYTES: '-1', JWT_ISSUER: 'x' })).toThrow(ConfigError);
    expect(() => loadConfig({ MAX_DATA_BYTES: '-1', PUSH_AUTH: 'basic' })).toThrow(
      /MAX_DATA_BYTES.*PUSH_AUTH|PUSH_AUTH.*MAX_DATA_BYTES/,
    );
  });
});

describe('createRuntime', () => {
  it('requires the table and the @connections endpoint that the authorizer does without', async () => {
    const { createRuntime } = await import('../../lambdas/runtime.js');
    expect(() => createRuntime(loadConfig({ CONNECTIONS_ENDPOINT: 'https://x.example' }))).toThrow(
      /TABLE_NAME/,
    );
    expect(() => createRuntime(loadConfig({ TABLE_NAME: 't' }))).toThrow(/CONNECTIONS_ENDPOINT/);
  });
});
