/** The clock and timers the client uses; tests pass fakes so backoff, pings and rollover run in milliseconds. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Exponential backoff with full jitter: a uniformly random delay between `minMs`
 * and `min(maxMs, minMs * 2^(attempt+1))`; attempt 0 waits 0.5–1 s, later ones up to 30 s.
 */
export function backoffDelay(attempt: number, random: () => number, minMs = 500, maxMs = 30_000): number {
  const cap = Math.min(maxMs, minMs * 2 ** (attempt + 1));
  return minMs + random() * (cap - minMs);
}
