import type { ConnectionGateway, PostOutcome } from './ports.js';

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
}

type Targets = Iterable<string> | AsyncIterable<readonly string[]>;

async function* batches(targets: Targets): AsyncGenerator<readonly string[]> {
  if (Symbol.asyncIterator in targets) {
    yield* targets as AsyncIterable<readonly string[]>;
  } else {
    yield [...(targets as Iterable<string>)];
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
  const pending = new Set<Promise<void>>();
  const prunes: Promise<void>[] = [];
  const limit = Math.max(1, options.concurrency);

  const record = (connectionId: string, outcome: PostOutcome) => {
    if (outcome === 'delivered') result.delivered += 1;
    else if (outcome === 'failed') result.failed += 1;
    else {
      result.pruned += 1;
      prunes.push(
        options.prune(connectionId).then(
          () => undefined,
          () => undefined,
        ),
      );
    }
  };

  for await (const page of batches(targets)) {
    for (const connectionId of page) {
      if (seen.has(connectionId)) continue;
      seen.add(connectionId);
      const task = options.gateway
        .post(connectionId, payload)
        .catch((): PostOutcome => 'failed')
        .then((outcome) => record(connectionId, outcome));
      const tracked: Promise<void> = task.finally(() => pending.delete(tracked));
      pending.add(tracked);
      if (pending.size >= limit) await Promise.race(pending);
    }
  }
  await Promise.all(pending);
  await Promise.all(prunes);
  return result;
}
