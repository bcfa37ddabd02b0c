import { describe, expect, it } from 'vitest';
import { RateLimitedError } from '../../../lambdas/domain/errors.js';
import { clientRateLimit, gcra, type RateLimiter, retryAfterMs } from '../../../lambdas/domain/rate-limit.js';

const clock = { now: () => 1_000_000 };

describe('clientRateLimit', () => {
  it('asks the store nothing when the limit is off (0 per second)', async () => {
    const limiter: RateLimiter = { take: () => Promise.reject(new Error('must not be called')) };
    await expect(
      clientRateLimit(limiter, { perSecond: 0, burst: 40 }, clock).check('c'),
    ).resolves.toBeUndefined();
  });

  it('throws RATE_LIMITED with retryAfterMs when the store refuses', async () => {
    const limiter: RateLimiter = { take: async () => ({ allowed: false, retryAfterMs: 50 }) };
    const error = await clientRateLimit(limiter, { perSecond: 20, burst: 40 }, clock)
      .check('c')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 50 });
  });
});

describe('gcra', () => {
  it('allows burst frames at once and one per interval after', () => {
    expect(gcra({ perSecond: 20, burst: 40 })).toEqual({ intervalMs: 50, toleranceMs: 1950 });
    // tat after 41 frames at once is now + 41 intervals: the next fits one interval later.
    expect(retryAfterMs({ perSecond: 20, burst: 40 }, 1_000_000 + 2050, 1_000_000)).toBe(100);
    expect(retryAfterMs({ perSecond: 20, burst: 40 }, 1_000_000, 1_000_000)).toBe(1);
  });
});
