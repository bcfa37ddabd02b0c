import { RateLimitedError } from './errors.js';

/**
 * Per-connection rate limit of the frames that make the service deliver or
 * store something (`send`, `direct`, and `emit` when it lands): a token bucket
 * of `burst` frames refilled at `perSecond`, kept as GCRA's single number, the
 * theoretical arrival time ("tat"), on the connection's own stored item.
 */
export interface RateLimitPolicy {
  /** Sustained frames per second; 0 turns the limit off. */
  perSecond: number;
  /** Frames allowed at once after a quiet spell. */
  burst: number;
}

/** GCRA's two constants for a policy, in milliseconds. */
export function gcra(policy: RateLimitPolicy): { intervalMs: number; toleranceMs: number } {
  const intervalMs = 1000 / policy.perSecond;
  return { intervalMs, toleranceMs: (policy.burst - 1) * intervalMs };
}

/** How long until a frame fits again, when the bucket's tat is `tat`. */
export function retryAfterMs(policy: RateLimitPolicy, tat: number, now: number): number {
  return Math.max(1, Math.ceil(tat - gcra(policy).toleranceMs - now));
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/** The port: takes one frame's worth from a connection's bucket in the store, atomically. */
export interface RateLimiter {
  take(connectionId: string, policy: RateLimitPolicy, now: number): Promise<RateDecision>;
}

/** The one check `send`, `direct` and `emit` call: throws RateLimitedError when the connection is over its limit. */
export interface ClientRateLimit {
  check(connectionId: string): Promise<void>;
}

export function clientRateLimit(
  limiter: RateLimiter,
  policy: RateLimitPolicy,
  clock: { now(): number },
): ClientRateLimit {
  if (policy.perSecond <= 0) return { check: async () => undefined };
  return {
    async check(connectionId) {
      const decision = await limiter.take(connectionId, policy, clock.now());
      if (!decision.allowed) {
        throw new RateLimitedError(
          `this connection sends more than ${policy.perSecond} frames a second (bursts of ${policy.burst}); retry in ${decision.retryAfterMs} ms`,
          decision.retryAfterMs,
        );
      }
    },
  };
}
