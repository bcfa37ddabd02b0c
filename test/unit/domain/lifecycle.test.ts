import { describe, expect, it } from 'vitest';
import { closeConnection } from '../../../lambdas/domain/lifecycle.js';
import type { ConnectionStore, Settled } from '../../../lambdas/domain/ports.js';
import { CountingSink, RecordingGateway } from '../fakes.js';

/** A store whose removal of connection `c` removed one presence room's membership, then failed on another. */
function storeThatFailsHalfWay(settled: Settled): ConnectionStore {
  return {
    removeConnection: async () => settled,
    async *roomConnectionIds() {
      yield { source: '0', ids: ['watcher'] };
    },
  } as unknown as ConnectionStore;
}

describe('closeConnection', () => {
  it('announces what a removal that failed half way did remove, then fails', async () => {
    const gateway = new RecordingGateway();
    const metrics = new CountingSink();
    const failure = new Error('throttled');
    const store = storeThatFailsHalfWay({
      connection: { connectionId: 'c', userId: 'u', lastOfUser: true },
      rooms: [{ room: 'presence-a', connectionId: 'c', userId: 'u', userChanged: true, members: 1 }],
      failure,
    });

    await expect(closeConnection({ store, gateway, metrics, concurrency: 4 }, 'c')).rejects.toBe(failure);

    expect(gateway.framesTo('watcher')).toEqual([
      { type: 'presence', room: 'presence-a', event: 'leave', userId: 'u' },
    ]);
    expect(metrics.counts.get('ConnectionsClosed')).toBe(1);
  });
});
