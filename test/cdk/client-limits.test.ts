import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lambdas/config.js';
import { resolveStageSettings } from '../../lib/config.js';
import { type Cfn, logicalIdOf, synthStage } from './synth.js';

let dev: Template;
let strict: Template;
beforeAll(() => {
  dev = synthStage('dev').template;
  strict = synthStage('strict', {
    allowedOrigins: 'https://app.example.com',
    allowNoOrigin: 'false',
    rateLimitPerSecond: '5',
    rateLimitBurst: '10',
  }).template;
});

function env(template: Template, prefix: string): Record<string, string> {
  const id = logicalIdOf(template, 'AWS::Lambda::Function', prefix);
  return (template.toJSON().Resources[id].Properties as Cfn).Environment.Variables;
}

describe('client limits as stage settings', () => {
  it('gives the message function the per-connection rate limit, 20/s with bursts of 40 by default', () => {
    expect(env(dev, 'MessageFunction')).toMatchObject({
      RATE_LIMIT_PER_SECOND: '20',
      RATE_LIMIT_BURST: '40',
    });
    expect(env(strict, 'MessageFunction')).toMatchObject({
      RATE_LIMIT_PER_SECOND: '5',
      RATE_LIMIT_BURST: '10',
    });
    const { RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST } = env(strict, 'MessageFunction');
    expect(loadConfig({ RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST }).rateLimit).toEqual({
      perSecond: 5,
      burst: 10,
    });
  });

  it('tells the authorizer whether clients without Origin may connect when origins are listed', () => {
    expect(env(strict, 'AuthorizerFunction')).toMatchObject({
      ALLOWED_ORIGINS: 'https://app.example.com',
      ALLOW_NO_ORIGIN: 'false',
    });
    expect(env(dev, 'AuthorizerFunction').ALLOW_NO_ORIGIN).toBeUndefined();
    expect(resolveStageSettings('prod').allowNoOrigin).toBe(true);
    expect(() => resolveStageSettings('dev', (k) => (k === 'rateLimitBurst' ? '0' : undefined))).toThrow(
      /clientRateLimit.burst/,
    );
  });
});
