import type { ConnectionGateway, PostOutcome, TargetPage } from './ports.js';

export interface FanoutResult {
  delivered: number;
  pruned: number;
  failed: number;
}

export interface FanoutOptions {
  gateway: ConnectionGateway;
  /** Removes a connection found gone; errors are swallowed by the caller's accounting. */
  prune: (connectionId: string) => Promise<unknown>;
  concurrency: number;
  /** Connections that must not receive this frame (the sender, `exceptConnectionId`). */
  except?: ReadonlySet<string>;
  /**
   * Asked before each post: once true, no more posts start (those in flight finish) and the
   * targets not posted to go to `unsent` (a worker near its timeout hands them on).
   */
  stop?: () => boolean;
  /** Where the targets not posted to because of `stop` go. */
  unsent?: string[];
  /** Where the targets whose post failed (after the gateway's own retries) go. */
  failedIds?: string[];
}

export type Targets = Iterable<string> | AsyncIterable<TargetPage>;

async function* batches(targets: Targets): AsyncGenerator<readonly string[]> {
  if (Symbol.asyncIterator in targets) {
    for await (const page of prefetched(targets as AsyncIterable<TargetPage>)) yield page.ids;
  } else {
    yield [...(targets as Iterable<string>)];
  }
}

/** Asks for the next page as soon as one arrives, so reading page n+1 overlaps posting page n. */
async function* prefetched<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let next = iterator.next();
  for (;;) {
    const page = await next;
    if (page.done) return;
    next = iterator.next();
    // Awaited on the next turn; this only keeps an early failure from counting as unhandled.
    next.catch(() => undefined);
    yield page.value;
  }
}

/**
 * Posts one serialized frame to many connections with bounded concurrency.
 * Pages of targets are consumed as they arrive, so delivery starts before the
 * last page is read. Each connection gets the frame at most once; one failing
 * connection never stops the others; gone connections are pruned.
 */
export async function fanOut(
  targets: Targets,
  payload: string,
  options: FanoutOptions,
): Promise<FanoutResult> {
  const result: FanoutResult = { delivered: 0, pruned: 0, failed: 0 };
  const seen = new Set<string>(options.except);
  const limit = Math.max(1, options.concurrency);
  // A counter and one waiter, rather than racing every post in flight: the
  // limiter's cost stays constant per post however high the concurrency.
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const slotFreed = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });

  const post = async (connectionId: string) => {
    let outcome: PostOutcome;
    try {
      outcome = await options.gateway.post(connectionId, payload);
    } catch {
      outcome = 'failed';
    }
    if (outcome === 'delivered') result.delivered += 1;
    else if (outcome === 'failed') {
      result.failed += 1;
      options.failedIds?.push(connectionId);
    } else {
      result.pruned += 1;
      // In the post's slot: a storm of 410s (a network gone, thousands of connections with it)
      // prunes `concurrency` at a time, not every gone connection's cleanup at once.
      await options.prune(connectionId).then(ignore, ignore);
    }
    inFlight -= 1;
    const resume = wake;
    wake = undefined;
    resume?.();
  };

  let stopped = false;
  for await (const page of batches(targets)) {
    for (const connectionId of page) {
      if (seen.has(connectionId)) continue;
      seen.add(connectionId);
      while (inFlight >= limit) await slotFreed();
      stopped ||= options.stop?.() === true;
      if (stopped) {
        options.unsent?.push(connectionId);
        continue;
      }
      inFlight += 1;
      void post(connectionId);
    }
  }
  while (inFlight > 0) await slotFreed();
  return result;
}

function ignore(): void {}
