import { describe, expect, it } from 'vitest';
import { METRICS } from '../../../lambdas/domain/constants.js';
import { serviceWithFakes } from '../fakes.js';

const caller = (connectionId: string, userId: string, rooms: string[] = []) => ({
  connectionId,
  userId,
  rooms,
});

describe('RoomcastService', () => {
  it('stores a connection with an expiry past the two-hour limit', async () => {
    const { service, store, clock } = serviceWithFakes();
    await service.connect('c1', 'alice', clock.now());
    expect(store.connections.get('c1')).toEqual({
      connectionId: 'c1',
      userId: 'alice',
      connectedAt: clock.now(),
      expiresAt: Math.floor(clock.now() / 1000) + 7800,
    });
  });

  it('joins, sends to other members with from and room, and acks with the messageId', async () => {
    const { service, gateway, clock } = serviceWithFakes();
    await service.connect('a', 'alice', clock.now());
    await service.connect('b', 'bob', clock.now());
    await service.handleFrame({ action: 'join', room: 'lobby' }, caller('a', 'alice'));
    await service.handleFrame({ action: 'join', room: 'lobby' }, caller('b', 'bob'));

    const ack = await service.handleFrame(
      { action: 'send', id: 'x', room: 'lobby', event: 'chat', data: { t: 1 } },
      caller('a', 'alice'),
    );

    expect(ack).toEqual({
      type: 'ack',
      id: 'x',
      ok: true,
      messageId: expect.any(String),
      ts: clock.now(),
      seq: 1,
    });
    expect(gateway.framesTo('b')).toEqual([
      {
        type: 'message',
        room: 'lobby',
        seq: 1,
        event: 'chat',
        data: { t: 1 },
        from: 'alice',
        messageId: (ack as { messageId: string }).messageId,
        ts: clock.now(),
      },
    ]);
    expect(gateway.framesTo('a')).toEqual([]);
  });

  it('refuses a private room outside the claim and a send from a non-member', async () => {
    const { service } = serviceWithFakes();
    await expect(
      service.handleFrame({ action: 'join', room: 'private-x' }, caller('a', 'alice')),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    await expect(
      service.handleFrame({ action: 'send', room: 'lobby', event: 'e', data: null }, caller('a', 'alice')),
    ).rejects.toMatchObject({ code: 'FORBIDDEN', message: 'join room lobby before sending to it' });
  });

  it('checks the data size before anything is delivered', async () => {
    const { service, gateway, clock } = serviceWithFakes({ maxDataBytes: 10 });
    await service.connect('a', 'alice', clock.now());
    await expect(service.push({ broadcast: true, event: 'e', data: 'x'.repeat(20) })).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect(gateway.posts).toEqual([]);
  });

  it('prunes gone connections during a push and counts the outcome metrics', async () => {
    const { service, store, gateway, metrics, clock } = serviceWithFakes();
    await service.connect('live', 'u', clock.now());
    await service.connect('dead', 'u', clock.now());
    gateway.outcomes.set('dead', 'gone');

    const result = await service.push({ userId: 'u', event: 'e', data: 1 });

    expect(result).toMatchObject({ delivered: 1, pruned: 1, failed: 0 });
    expect(store.connections.has('dead')).toBe(false);
    expect(metrics.counts.get(METRICS.delivered)).toBe(1);
    expect(metrics.counts.get(METRICS.pruned)).toBe(1);
    expect(metrics.counts.get(METRICS.connectionsClosed)).toBe(1);
  });

  it('joins and removes every connection of a user server-side', async () => {
    const { service, store, clock } = serviceWithFakes();
    await service.connect('p', 'u', clock.now());
    await service.connect('l', 'u', clock.now());
    expect(await service.joinUser('support', 'u')).toBe(2);
    expect(await store.countMembers('support')).toBe(2);
    expect(await service.leaveUser('support', 'u')).toBe(2);
    expect(await store.countMembers('support')).toBe(0);
  });

  it('closes a known connection and forgets it, and refuses an unknown one', async () => {
    const { service, store, gateway, clock } = serviceWithFakes();
    await service.connect('c', 'u', clock.now());
    await service.closeConnection('c');
    expect(gateway.closed).toEqual(['c']);
    expect(store.connections.size).toBe(0);
    await expect(service.closeConnection('c')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('undoes a join whose connection closed while the membership was being written', async () => {
    const { service, store, clock } = serviceWithFakes();
    await service.connect('c', 'alice', clock.now());
    const addMember = store.addMember.bind(store);
    // The close lands after the join checked the connection and before its membership is stored,
    // so the close's cleanup cannot have seen the membership.
    store.addMember = async (member, afterWrite) => {
      await service.disconnect('c');
      return addMember(member, afterWrite);
    };

    await expect(
      service.handleFrame({ action: 'join', room: 'lobby' }, caller('c', 'alice')),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await store.countMembers('lobby')).toBe(0);
  });

  it('joins a frame that says when its connection opened with one read, after the write', async () => {
    const { service, store, clock } = serviceWithFakes();
    // Opened a minute before this join: the membership's expiry comes from when it opened.
    const connectedAt = clock.now() - 60_000;
    await service.connect('c', 'alice', connectedAt);
    const getConnection = store.getConnection.bind(store);
    const reads: string[] = [];
    store.getConnection = async (id) => {
      reads.push(`${id} after ${(await store.countMembers('lobby')) === 1 ? 'the write' : 'nothing'}`);
      return getConnection(id);
    };

    await service.handleFrame({ action: 'join', room: 'lobby' }, { ...caller('c', 'alice'), connectedAt });
    expect(reads).toEqual(['c after the write']);
    // The membership lives exactly as long as its connection.
    expect((await store.listMembers('lobby', { limit: 10 })).items[0]?.expiresAt).toBe(
      store.connections.get('c')?.expiresAt,
    );
  });

  it('refuses such a join when the connection is already gone, and keeps no membership', async () => {
    const { service, store, clock } = serviceWithFakes();
    await expect(
      service.handleFrame(
        { action: 'join', room: 'lobby' },
        { ...caller('c', 'alice'), connectedAt: clock.now() },
      ),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await store.countMembers('lobby')).toBe(0);
  });

  it("announces nothing more when the close's own cleanup removed the join's membership first", async () => {
    const { service, store, gateway, clock } = serviceWithFakes();
    await service.connect('carol-1', 'carol', clock.now());
    await service.handleFrame({ action: 'join', room: 'presence-r' }, caller('carol-1', 'carol'));
    await service.connect('alice-1', 'alice', clock.now());
    const addMember = store.addMember.bind(store);
    // alice's membership is written (0→1), then her connection closes and its cleanup finds and
    // removes that membership (1→0, announced as her leave) before the join re-reads the connection.
    store.addMember = (member, afterWrite) =>
      addMember(member, async () => {
        await service.disconnect('alice-1');
        await afterWrite?.();
      });

    await expect(
      service.handleFrame({ action: 'join', room: 'presence-r' }, caller('alice-1', 'alice')),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const presence = gateway
      .framesTo('carol-1')
      .filter((f) => f.type === 'presence')
      .map((f) => `${f.event} ${f.userId}`);
    // The close's leave and nothing after it: carol must not be left believing alice is in the room.
    expect(presence).toEqual(['leave alice']);
    expect((await service.presence('presence-r')).users.map((u) => u.userId)).toEqual(['carol']);
  });

  it("announces a user joining or leaving a presence room while a closed connection's join is undone", async () => {
    const { service, store, gateway, clock } = serviceWithFakes();
    await service.connect('carol-1', 'carol', clock.now());
    await service.handleFrame({ action: 'join', room: 'presence-r' }, caller('carol-1', 'carol'));
    await service.connect('alice-open', 'alice', clock.now());
    const presenceEvents = () =>
      gateway
        .framesTo('carol-1')
        .filter((f) => f.type === 'presence')
        .map((f) => `${f.event} ${f.userId}`);
    const getConnection = store.getConnection.bind(store);
    /** alice's closed connection joins; `meanwhile` runs between its write and the read that undoes it. */
    const closedJoin = async (meanwhile: () => Promise<unknown>) => {
      store.getConnection = async (id) => {
        store.getConnection = getConnection;
        await meanwhile();
        return getConnection(id);
      };
      await expect(
        service.handleFrame(
          { action: 'join', room: 'presence-r' },
          { ...caller('alice-closed', 'alice'), connectedAt: clock.now() },
        ),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    };

    // Her count goes 0→1 (closed), 1→2 (open joins: no transition), 2→1 (undo: none): she is in.
    await closedJoin(() =>
      service.handleFrame({ action: 'join', room: 'presence-r' }, caller('alice-open', 'alice')),
    );
    expect(presenceEvents()).toEqual(['join alice']);

    // 1→2 (closed), 2→1 (open leaves: no transition), 1→0 (undo): she is gone.
    await closedJoin(() =>
      service.handleFrame({ action: 'leave', room: 'presence-r' }, caller('alice-open', 'alice')),
    );
    expect(presenceEvents()).toEqual(['join alice', 'leave alice']);
    expect((await service.presence('presence-r')).users.map((u) => u.userId)).toEqual(['carol']);
  });

  it("sends the leave again when a closed connection's join is undone in a room announced by the workers", async () => {
    // A queued leave of alice checked while her closed connection's join had her counted (0→1) was
    // dropped; the undo (1→0) is a second transition, and the workers get the leave again.
    const { service, clock, fanoutQueue } = serviceWithFakes({ inlineFanoutLimit: 1 });
    await service.connect('carol-1', 'carol', clock.now());
    await service.connect('bob-1', 'bob', clock.now());
    await service.handleFrame({ action: 'join', room: 'presence-big' }, caller('carol-1', 'carol'));
    await service.handleFrame({ action: 'join', room: 'presence-big' }, caller('bob-1', 'bob'));
    fanoutQueue.jobs.length = 0; // bob's own join announcement
    await expect(
      service.handleFrame(
        { action: 'join', room: 'presence-big' },
        { ...caller('alice-closed', 'alice'), connectedAt: clock.now() },
      ),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });

    expect(fanoutQueue.jobs.map((j) => ('presence' in j ? j.presence : undefined))).toEqual([
      { room: 'presence-big', userId: 'alice', event: 'leave' },
    ]);
  });
});
