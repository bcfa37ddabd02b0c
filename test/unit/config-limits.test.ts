import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lambdas/config.js';

describe('client limit settings', () => {
  it('defaults to 20 frames a second, bursts of 40, and lets Origin-less clients connect', () => {
    expect(loadConfig({})).toMatchObject({ rateLimit: { perSecond: 20, burst: 40 }, allowNoOrigin: true });
  });

  it('reads 0 as off, decimals as given, and ALLOW_NO_ORIGIN as a boolean', () => {
    expect(loadConfig({ RATE_LIMIT_PER_SECOND: '0' }).rateLimit.perSecond).toBe(0);
    expect(loadConfig({ RATE_LIMIT_PER_SECOND: '0.5', RATE_LIMIT_BURST: '3' }).rateLimit).toEqual({
      perSecond: 0.5,
      burst: 3,
    });
    expect(loadConfig({ ALLOW_NO_ORIGIN: 'false' }).allowNoOrigin).toBe(false);
  });

  it.each(['', '0x10', '-1', 'fast'])(
    'refuses RATE_LIMIT_PER_SECOND=%j rather than turning the limit off',
    (value) => {
      expect(() => loadConfig({ RATE_LIMIT_PER_SECOND: value })).toThrow(ConfigError);
    },
  );
});
