import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../lambdas/domain/constants.js';
import { addRoomcastStage } from '../../lib/app.js';
import { DEV_PRESET, PROD_PRESET, resolveStageSettings, StageConfigError } from '../../lib/config.js';
import { cdkJsonContext } from './synth.js';

const contextOf =
  (values: Record<string, unknown>) =>
  (key: string): unknown =>
    values[key];

describe('stage settings', () => {
  it('gives dev disposable defaults and prod protected ones', () => {
    const dev = resolveStageSettings('dev');
    const prod = resolveStageSettings('prod');

    expect(dev).toMatchObject({ stage: 'dev', removalPolicy: 'destroy', pointInTimeRecovery: false });
    expect(dev.deletionProtection).toBe(false);
    expect(prod).toMatchObject({ stage: 'prod', removalPolicy: 'retain', pointInTimeRecovery: true });
    expect(prod.deletionProtection).toBe(true);
    expect(prod.logRetentionDays).toBeGreaterThan(dev.logRetentionDays);
    expect(dev.maxDataBytes).toBe(LIMITS.defaultMaxDataBytes);
    expect(dev.clientAuth).toEqual({ mode: 'secret' });
    expect(dev.pushAuth).toBe('apikey');
  });

  it('starts any other stage name from the dev preset, or from prod with preset=prod', () => {
    const { stage: _a, ...feature } = resolveStageSettings('feature-x');
    const { stage: _b, ...staging } = resolveStageSettings('staging', contextOf({ preset: 'prod' }));

    expect(feature).toEqual(DEV_PRESET);
    expect(staging).toEqual(PROD_PRESET);
  });

  it('applies flat -c overrides given as CLI strings', () => {
    const settings = resolveStageSettings(
      'dev',
      contextOf({
        alarmEmail: 'ops@example.com',
        pointInTimeRecovery: 'true',
        maxDataBytes: '65536',
        allowedOrigins: 'https://app.example.com, https://admin.example.com',
        throttleRate: '10',
        pushAuth: 'iam',
      }),
    );

    expect(settings.alarmEmail).toBe('ops@example.com');
    expect(settings.pointInTimeRecovery).toBe(true);
    expect(settings.maxDataBytes).toBe(65536);
    expect(settings.allowedOrigins).toEqual(['https://app.example.com', 'https://admin.example.com']);
    expect(settings.websocketThrottle).toEqual({
      rateLimit: 10,
      burstLimit: DEV_PRESET.websocketThrottle.burstLimit,
    });
    expect(settings.pushAuth).toBe('iam');
  });

  it('switches client auth to OIDC when issuer, audience and JWKS URL are given', () => {
    const settings = resolveStageSettings(
      'prod',
      contextOf({
        jwtIssuer: 'https://issuer.example.com/',
        jwtAudience: 'roomcast',
        jwtJwksUrl: 'https://issuer.example.com/.well-known/jwks.json',
      }),
    );

    expect(settings.clientAuth).toEqual({
      mode: 'oidc',
      issuer: 'https://issuer.example.com/',
      audience: 'roomcast',
      jwksUrl: 'https://issuer.example.com/.well-known/jwks.json',
    });
  });

  it('merges a JSON context (settings) and a per-stage cdk.json object (roomcast:{stage})', () => {
    const settings = resolveStageSettings(
      'prod',
      contextOf({
        'roomcast:prod': { alarmEmail: 'prod-ops@example.com', alarms: { fanoutP99Ms: 1500 } },
        settings: '{"logRetentionDays": 365, "memorySize": 2048}',
      }),
    );

    expect(settings.alarmEmail).toBe('prod-ops@example.com');
    expect(settings.alarms).toEqual({ ...PROD_PRESET.alarms, fanoutP99Ms: 1500 });
    expect(settings.logRetentionDays).toBe(365);
    expect(settings.memorySize).toBe(2048);
  });

  it.each([
    ['a bad e-mail', { alarmEmail: 'not-an-email' }, /alarmEmail/],
    ['a retention CloudWatch does not offer', { logRetentionDays: '8' }, /logRetentionDays/],
    [
      'a payload limit above the frame limit',
      { maxDataBytes: String(LIMITS.maxMessageBytes + 1) },
      /maxDataBytes/,
    ],
    ['half an OIDC configuration', { jwtIssuer: 'https://issuer.example.com/' }, /clientAuth/],
    ['an unknown setting in the JSON context', { settings: '{"tableName":"x"}' }, /tableName|Unrecognized/],
    ['a JSON context that is not JSON', { settings: '{nope' }, /settings: must be a JSON object$/],
    ['a JSON context that is not an object', { settings: '[1]' }, /settings: must be a JSON object$/],
    ['an unknown preset', { preset: 'qa' }, /preset/],
  ])('rejects %s', (_name, context, message) => {
    expect(() => resolveStageSettings('dev', contextOf(context))).toThrow(StageConfigError);
    expect(() => resolveStageSettings('dev', contextOf(context))).toThrow(message);
  });

  it('refuses a context key that is no setting (a typo, or one only the settings JSON takes), naming it', () => {
    const keys = ['stage', 'cli-telemetry', '@aws-cdk/core:checkSecretUsage', 'aws:cdk:enable-path-metadata'];
    expect(resolveStageSettings('dev', contextOf({}), keys).stage).toBe('dev');
    expect(() => resolveStageSettings('dev', contextOf({}), [...keys, 'alarmEmial'])).toThrow(
      /unknown setting "alarmEmial"; -c takes .*alarmEmail/,
    );
    expect(() => resolveStageSettings('dev', contextOf({}), ['fanoutP99Ms'])).toThrow(
      /unknown setting "fanoutP99Ms".*-c settings=/,
    );
  });

  it('refuses such a key given to the app (-c on the command line)', () => {
    const app = new App({ context: { ...cdkJsonContext(), stage: 'dev', alarmEmial: 'ops@example.com' } });
    expect(() => addRoomcastStage(app, { nag: false })).toThrow(/unknown setting "alarmEmial"/);
  });

  it('rejects a stage name that cannot name resources', () => {
    expect(() => resolveStageSettings('Prod_1')).toThrow(/stage/);
  });
});
