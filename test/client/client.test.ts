import { beforeEach, describe, expect, it } from 'vitest';
import {
  backoffDelay,
  memoryStorage,
  type Outgoing,
  RoomcastClient,
  type RoomcastClientOptions,
  RoomcastError,
} from '../../client/src/index.js';
import { FakeSocket, FakeTimers, flush, message } from './fakes.js';

function jwt(sub: string, n = 0): string {
  // base64url of the UTF-8 JSON, unpadded, as a JWT library encodes it.
  return `e30.${Buffer.from(JSON.stringify({ sub, n })).toString('base64url')}.sig`;
}

function setup(options: Partial<RoomcastClientOptions> = {}) {
  const timers = new FakeTimers();
  let tokens = 0;
  const client = new RoomcastClient({
    url: 'ws://test/',
    token: () => jwt('alice', ++tokens),
    WebSocket: FakeSocket,
    storage: memoryStorage(),
    timers,
    random: () => 0.5,
    ...options,
  });
  const delivered: unknown[] = [];
  const states: string[] = [];
  client.on('state', (s) => states.push(s));
  return { client, timers, delivered, states, tokens: () => tokens };
}

/** Connects and opens the first socket (nothing to resume yet). */
async function open(client: RoomcastClient): Promise<FakeSocket> {
  const connected = client.connect();
  await flush();
  const ws = FakeSocket.last();
  ws.open();
  await connected;
  return ws;
}

/** Joins a room whose latest seq is `latest`. */
async function joinRoom(client: RoomcastClient, ws: FakeSocket, name: string, latest: number) {
  const room = client.room(name);
  const joined = room.join();
  await flush();
  ws.receive({
    type: 'history',
    id: ws.lastOf('history').id,
    room: name,
    messages: [],
    seq: latest,
    more: false,
  });
  await flush();
  ws.ack('join');
  await joined;
  return room;
}

/** An open client that joined `lobby` (its latest seq `latest`), recording the `chat` data it delivers. */
async function inLobby(latest: number) {
  const { client, timers } = setup();
  const ws = await open(client);
  const lobby = await joinRoom(client, ws, 'lobby', latest);
  const seen: unknown[] = [];
  lobby.on('chat', (data) => seen.push(data));
  return { client, timers, ws, lobby, seen };
}

/** Reaches the rollover (`after` ms from now) and opens the replacement connection (its resume sent, not yet answered). */
async function startRollover(timers: FakeTimers, after = 6_600_000): Promise<FakeSocket> {
  const before = FakeSocket.all.length;
  await timers.advance(after);
  expect(FakeSocket.all).toHaveLength(before + 1);
  const next = FakeSocket.last();
  next.open();
  await flush();
  return next;
}

/** Whether the frames sent on `ws` make it a member of `room` (a join, or a resume listing it). */
function joinsOn(ws: FakeSocket, room: string): boolean {
  return ws.sent.some(
    (f) => (f.action === 'join' && f.room === room) || (f.action === 'resume' && f.rooms && room in f.rooms),
  );
}

beforeEach(() => {
  FakeSocket.all = [];
  FakeSocket.mailboxLatest = 0;
  FakeSocket.autoResume = true;
  FakeSocket.autoPong = true;
});

describe('close()', () => {
  it('leaves no timer behind when closed while a connection is still opening', async () => {
    const { client, timers } = setup();
    const connected = client.connect().catch((e: { code?: string }) => e.code);
    await flush();
    expect(FakeSocket.all).toHaveLength(1);
    client.close();
    expect(await connected).toBe('CLOSED');
    expect(timers.pending()).toEqual([]);
  });

  it('leaves no timer behind when closed from a state handler as the connection opens', async () => {
    const { client, timers } = setup();
    client.on('state', (state) => {
      if (state === 'open') client.close();
    });
    const connected = client.connect().catch((e: { code?: string }) => e.code);
    await flush();
    FakeSocket.last().open();
    expect(await connected).toBe('CLOSED');
    expect(client.state).toBe('closed');
    expect(timers.pending()).toEqual([]);
  });

  it('does not call token() again, nor leave a timer, when closed while a rollover fetches its token', async () => {
    let calls = 0;
    let fail: (error: Error) => void = () => undefined;
    const { client, timers } = setup({
      rolloverAfterMs: 1000,
      token: () => {
        calls += 1;
        if (calls === 1) return jwt('alice');
        return new Promise<string>((_resolve, reject) => {
          fail = reject;
        });
      },
    });
    await open(client);
    await timers.advance(1000); // the rollover starts: token() #2 is pending
    expect(calls).toBe(2);
    client.close(); // e.g. the user logs out: the token endpoint now refuses
    fail(new Error('401 from the token endpoint'));
    await timers.advance(120_000);
    expect({ calls, timers: timers.pending() }).toEqual({ calls: 2, timers: [] });
  });
});

describe('options', () => {
  it('takes the documented defaults for options passed as undefined (e.g. from an optional config)', async () => {
    FakeSocket.autoPong = false;
    const { client, timers } = setup({ requestTimeoutMs: undefined, pingAfterMs: undefined });
    const connected = client.connect();
    await flush();
    FakeSocket.last().open();
    await connected;
    // With real timers, setTimeout(fn, undefined) fires at once: the opening deadline would close
    // every socket before it opens, and the client would never connect.
    expect(timers.pending().every((ms) => Number.isFinite(ms))).toBe(true);
    const pong = client.ping().catch((error: RoomcastError) => error.code);
    await timers.advance(10_000);
    await expect(pong).resolves.toBe('TIMEOUT');
  });
});

describe('backoff', () => {
  it('stays between 0.5 s and min(30 s, 0.5 s·2^(attempt+1)), spread by the jitter', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const cap = Math.min(30_000, 500 * 2 ** (attempt + 1));
      expect(backoffDelay(attempt, () => 0)).toBe(500);
      expect(backoffDelay(attempt, () => 0.999999)).toBeLessThanOrEqual(cap);
      expect(backoffDelay(attempt, () => 0.999999)).toBeGreaterThan(cap * 0.99);
    }
    expect(backoffDelay(20, () => 1)).toBe(30_000);
    const spread = new Set([0.1, 0.4, 0.7].map((r) => backoffDelay(5, () => r)));
    expect(spread.size).toBe(3);
  });

  it('reconnects after a drop with growing delays and a fresh token for every attempt', async () => {
    const { client, timers, states, tokens } = setup({ random: () => 1 });
    const first = await open(client);
    expect(tokens()).toBe(1);
    first.drop();
    expect(states).toEqual(['connecting', 'open', 'reconnecting']);
    // Attempt 0 waits up to 1 s, attempt 1 up to 2 s: no socket before that.
    await timers.advance(999);
    expect(FakeSocket.all).toHaveLength(1);
    await timers.advance(1);
    expect(FakeSocket.all).toHaveLength(2);
    expect(tokens()).toBe(2);
    FakeSocket.last().drop();
    await timers.advance(1999);
    expect(FakeSocket.all).toHaveLength(2);
    await timers.advance(1);
    expect(FakeSocket.all).toHaveLength(3);
    expect(tokens()).toBe(3);
    expect(FakeSocket.last().url).toBe(`ws://test/?token=${encodeURIComponent(jwt('alice', 3))}`);
    FakeSocket.last().open();
    await flush();
    expect(states.at(-1)).toBe('open');
    client.close();
    expect(states.at(-1)).toBe('closed');
  });

  it('does not reconnect after close()', async () => {
    const { client, timers } = setup();
    await open(client);
    client.close();
    await timers.advance(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('counts a failing token() as a failed attempt and tries again', async () => {
    let calls = 0;
    const { client, timers } = setup({
      token: () => {
        calls += 1;
        if (calls === 1) throw new Error('auth down');
        return jwt('alice');
      },
    });
    void client.connect();
    await flush();
    expect(FakeSocket.all).toHaveLength(0);
    await timers.advance(1000);
    expect(calls).toBe(2);
    expect(FakeSocket.all).toHaveLength(1);
  });
});

describe('requests', () => {
  it('rejects with TIMEOUT when no answer comes in 10 s', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    const caught = client
      .room('lobby')
      .history()
      .catch((error: RoomcastError) => error);
    await timers.advance(9_999);
    expect(ws.sent.at(-1)?.action).toBe('history');
    await timers.advance(1);
    const error = await caught;
    expect(error).toBeInstanceOf(RoomcastError);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
  });

  it('rejects a history() made while disconnected with TIMEOUT 10 s after it was made; a send made then waits', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    ws.drop();
    let page = 'pending';
    client
      .room('lobby')
      .history({ limit: 10 })
      .catch((error: RoomcastError) => {
        page = error.code;
      });
    const sent = client.emit('order.created', { id: 7 });
    // No connection gets through meanwhile (each attempt fails to open).
    await timers.advance(9_999);
    expect(FakeSocket.all.length).toBeGreaterThan(1);
    expect(page).toBe('pending');
    await timers.advance(1);
    expect(page).toBe('TIMEOUT');
    // Once a connection opens, the emit goes out and the history request, already rejected, does not.
    await timers.advance(20_000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    expect(next.sent.map((f) => f.action)).toEqual(['resume', 'emit']);
    next.ack('emit', { messageId: 'e1', ts: 1 });
    await expect(sent).resolves.toMatchObject({ messageId: 'e1' });
  });

  it('rejects with the code of the error frame that answers it', async () => {
    const { client } = setup();
    const ws = await open(client);
    const room = client.room('private-x');
    const joined = room.join();
    await flush();
    const probe = ws.lastOf('history');
    ws.receive({ type: 'error', id: probe.id, code: 'FORBIDDEN', message: 'no' });
    await flush();
    ws.receive({
      type: 'error',
      id: ws.lastOf('join').id,
      code: 'FORBIDDEN',
      message: 'not in your rooms claim',
    });
    await expect(joined).rejects.toMatchObject({ code: 'FORBIDDEN', message: 'not in your rooms claim' });
    expect(room.joined).toBe(false);
  });
});

describe('ordering', () => {
  it('delivers in seq order, holding early frames and dropping repeats', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    const lobby = await joinRoom(client, ws, 'lobby', 40);
    const seen: unknown[] = [];
    lobby.on('chat', (data, meta) => seen.push([data, meta.seq, meta.room, meta.from]));
    ws.receive(message('lobby', 42));
    expect(seen).toEqual([]);
    ws.receive(message('lobby', 41));
    ws.receive(message('lobby', 41));
    ws.receive(message('lobby', 42));
    ws.receive(message('lobby', 43));
    expect(seen).toEqual([
      [41, 41, 'lobby', 'bob'],
      [42, 42, 'lobby', 'bob'],
      [43, 43, 'lobby', 'bob'],
    ]);
    // Repeats leave nothing behind that looks like a gap: no history request beyond the join's probe.
    await timers.advance(5000);
    expect(ws.sent.filter((f) => f.action === 'history')).toHaveLength(1);
  });

  it('delivers messages without seq (not stored) at once', async () => {
    const { client } = setup();
    const ws = await open(client);
    const direct: unknown[] = [];
    client.on('direct', (event, data, meta) => direct.push([event, data, meta.seq]));
    ws.receive({ type: 'message', event: 'typing', data: 1, messageId: 'x', ts: 1 });
    expect(direct).toEqual([['typing', 1, undefined]]);
  });

  it('fills a gap from history when the missing frame does not arrive', async () => {
    const { timers, ws, seen } = await inLobby(40);
    ws.receive(message('lobby', 41));
    ws.receive(message('lobby', 44));
    await timers.advance(999);
    expect(() => ws.lastOf('history')).not.toThrow();
    expect(ws.sent.filter((f) => f.action === 'history')).toHaveLength(1); // the probe only
    await timers.advance(1);
    const fill = ws.lastOf('history');
    expect(fill).toMatchObject({ room: 'lobby', since: 41 });
    ws.receive({
      type: 'history',
      id: fill.id,
      room: 'lobby',
      messages: [message('lobby', 42), message('lobby', 43), message('lobby', 44)],
      seq: 44,
      more: false,
    });
    await flush();
    expect(seen).toEqual([41, 42, 43, 44]);
  });

  it('skips what history no longer has', async () => {
    const { timers, ws, seen } = await inLobby(10);
    ws.receive(message('lobby', 20));
    await timers.advance(1000);
    ws.receive({
      type: 'history',
      id: ws.lastOf('history').id,
      room: 'lobby',
      messages: [message('lobby', 18), message('lobby', 19), message('lobby', 20)],
      seq: 20,
      more: false,
    });
    await flush();
    expect(seen).toEqual([18, 19, 20]);
  });

  it('does not fill a gap with its own message: the ack marks its seq as seen', async () => {
    const { timers, ws, lobby, seen } = await inLobby(5);
    const sent = lobby.send('chat', 'mine');
    ws.ack('send', { messageId: 'm6', seq: 6, ts: 6 });
    await sent;
    ws.receive(message('lobby', 7));
    await timers.advance(5000);
    expect(seen).toEqual([7]);
    expect(ws.sent.filter((f) => f.action === 'history')).toHaveLength(1);
  });
});

describe('the user stream', () => {
  it('fills a gap in direct messages by resuming the user stream', async () => {
    const { client, timers } = setup();
    FakeSocket.mailboxLatest = 6; // the user stream is at 6 when it connects
    const ws = await open(client);
    const seen: unknown[] = [];
    client.on('direct', (_event, data) => seen.push(data));
    ws.receive(message(undefined, 7));
    ws.receive(message(undefined, 9));
    expect(seen).toEqual([7]);
    await timers.advance(1000);
    const fill = ws.lastOf('resume');
    expect(fill).toMatchObject({ user: 7 });
    expect(fill.rooms).toBeUndefined();
    ws.receive(message(undefined, 8));
    ws.receive(message(undefined, 9));
    ws.ack('resume', { user: { seq: 9, recovered: true } });
    await flush();
    expect(seen).toEqual([7, 8, 9]);
  });
});

describe('filling a gap', () => {
  it('does not skip a live frame still on its way when the history page ends before a frame held meanwhile', async () => {
    const { timers, ws, seen } = await inLobby(40);
    ws.receive(message('lobby', 41));
    ws.receive(message('lobby', 43)); // 42 is late
    await timers.advance(1000);
    const fill = ws.lastOf('history');
    expect(fill).toMatchObject({ room: 'lobby', since: 41 });
    // 44 and 45 are stored after the server read the page, and 45's live frame overtakes 44's.
    ws.receive(message('lobby', 45));
    ws.page('lobby', [42, 43], 43);
    await flush();
    ws.receive(message('lobby', 44));
    await timers.advance(5000);
    expect(seen).toEqual([41, 42, 43, 44, 45]);
  });

  it('does not skip a direct message still on its way when the user stream is resumed to fill a gap', async () => {
    const { client, timers } = setup();
    FakeSocket.mailboxLatest = 6; // the user stream is at 6 when it connects
    const ws = await open(client);
    const seen: unknown[] = [];
    client.on('direct', (_event, data) => seen.push(data));
    ws.receive(message(undefined, 7));
    ws.receive(message(undefined, 9)); // 8 is late
    await timers.advance(1000);
    expect(ws.lastOf('resume')).toMatchObject({ user: 7 });
    // The server replays 8 and 9 and answers; 11, published after the replay was read, overtakes 10.
    ws.receive(message(undefined, 8));
    ws.receive(message(undefined, 9));
    ws.receive(message(undefined, 11));
    ws.ack('resume', { user: { seq: 9, recovered: true } });
    await flush();
    ws.receive(message(undefined, 10));
    await timers.advance(5000);
    expect(seen).toEqual([7, 8, 9, 10, 11]);
  });

  it('delivers what a page holds after a message that expired in the middle of it', async () => {
    const { timers, ws, seen } = await inLobby(40);
    ws.receive(message('lobby', 41));
    ws.receive(message('lobby', 45));
    await timers.advance(1000);
    // 43 expired: the page has 42 and 44; 45 is held.
    ws.page('lobby', [42, 44], 45);
    await flush();
    expect(seen).toEqual([41, 42, 44, 45]);
  });

  it('fills again what is still missing after a page when it does not come live', async () => {
    const { timers, ws, seen } = await inLobby(40);
    ws.receive(message('lobby', 41));
    ws.receive(message('lobby', 43));
    await timers.advance(1000);
    ws.receive(message('lobby', 45));
    ws.page('lobby', [42, 43], 43);
    await timers.advance(1000);
    // 44 never came live: a second fill asks for it.
    const again = ws.lastOf('history');
    expect(again).toMatchObject({ room: 'lobby', since: 43 });
    ws.page('lobby', [44, 45], 45);
    await flush();
    expect(seen).toEqual([41, 42, 43, 44, 45]);
  });
});

/**
 * A client connecting with the server's answer to its first resume held back (the test gives it),
 * recording the `direct` data it delivers; `connected` settles once that answer came.
 */
async function connectingUntilResume(options: Parameters<typeof setup>[0] = {}) {
  const { client, timers } = setup(options);
  FakeSocket.autoResume = false;
  const seen: unknown[] = [];
  client.on('direct', (_event, data) => seen.push(data));
  const connected = client.connect();
  await flush();
  const ws = FakeSocket.last();
  ws.open();
  await flush();
  return { client, timers, ws, seen, connected };
}

describe('the user stream from no position', () => {
  it("holds a live direct that overtakes the first connection's mailbox replay, and delivers all in order", async () => {
    const { timers, ws, seen, connected } = await connectingUntilResume();
    const resume = ws.lastOf('resume');
    expect(resume).toMatchObject({ user: 0 });
    // The mailbox holds 1 and 2; 3, stored after the server read it, comes live before the replay.
    ws.receive(message(undefined, 3));
    ws.receive(message(undefined, 1));
    ws.receive(message(undefined, 2));
    ws.receive({ type: 'ack', id: resume.id, ok: true, user: { seq: 2, recovered: true } });
    await connected;
    await timers.advance(5000);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('starts a kept user position over when the server has less (its data was reset), holding what overtakes the refill', async () => {
    const storage = memoryStorage();
    storage.setItem('roomcast:alice', JSON.stringify({ user: 7, rooms: {} }));
    const { timers, ws, seen, connected } = await connectingUntilResume({ storage });
    expect(ws.lastOf('resume')).toMatchObject({ user: 7 });
    ws.ack('resume', { user: { error: 'VALIDATION_ERROR' } });
    await connected;
    await flush();
    const refill = ws.lastOf('resume');
    expect(refill).toMatchObject({ user: 0 });
    ws.receive(message(undefined, 3));
    ws.receive(message(undefined, 1));
    ws.receive(message(undefined, 2));
    ws.receive({ type: 'ack', id: refill.id, ok: true, user: { seq: 2, recovered: true } });
    await timers.advance(5000);
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe('a room a backend joined it to', () => {
  it('delivers the latest message when its live frame comes after the read that told where the room is', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    const lobby = client.room('lobby');
    const seen: unknown[] = [];
    lobby.on('chat', (data) => seen.push(data));
    // The backend joins this connection and publishes seq 10 at once: the read sees it stored before
    // its live frame arrives.
    ws.receive({ type: 'room', room: 'lobby', event: 'joined' });
    await flush();
    expect(ws.lastOf('history')).toMatchObject({ room: 'lobby', limit: 1 });
    ws.page('lobby', [10], 10);
    await flush();
    ws.receive(message('lobby', 10));
    ws.receive(message('lobby', 10));
    ws.receive(message('lobby', 11));
    await timers.advance(5000);
    expect(seen).toEqual([10, 11]);
  });
});

describe('reconnect and resume', () => {
  it('resumes every joined room and the user stream from the last seq seen', async () => {
    const { client, timers } = setup();
    FakeSocket.mailboxLatest = 6; // the user stream is at 6 when it connects
    const ws = await open(client);
    const lobby = await joinRoom(client, ws, 'lobby', 40);
    await joinRoom(client, ws, 'team', 0);
    const seen: unknown[] = [];
    lobby.on('chat', (data) => seen.push(data));
    client.on('direct', (_e, data) => seen.push(`dm${data}`));
    ws.receive(message('lobby', 41));
    ws.receive(message(undefined, 7));
    ws.drop();
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    expect(next.lastOf('resume')).toMatchObject({ rooms: { lobby: 41, team: 0 }, user: 7 });
    // Replayed frames come before the answer; a repeat of 41 is dropped.
    next.receive(message('lobby', 41));
    next.receive(message('lobby', 42));
    next.receive(message(undefined, 8));
    next.ack('resume', { rooms: { lobby: { seq: 42, recovered: true }, team: { seq: 0, recovered: true } } });
    await flush();
    expect(client.state).toBe('open');
    expect(seen).toEqual([41, 'dm7', 42, 'dm8']);
  });

  it('resumes a room a backend joined it to', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    ws.receive({ type: 'room', event: 'joined', room: 'ops', by: 'server' });
    ws.receive(message('ops', 3));
    ws.drop();
    await timers.advance(1000);
    FakeSocket.last().open();
    await flush();
    expect(FakeSocket.last().lastOf('resume')).toMatchObject({ rooms: { ops: 3 } });
  });

  it('pages history for a room the resume could not recover', async () => {
    const { timers, ws, seen } = await inLobby(3);
    ws.drop();
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    next.ack('resume', { rooms: { lobby: { seq: 300, recovered: false } } });
    await flush();
    const first = next.lastOf('history');
    expect(first).toMatchObject({ room: 'lobby', since: 3 });
    next.receive({
      type: 'history',
      id: first.id,
      room: 'lobby',
      messages: [message('lobby', 4)],
      seq: 300,
      more: true,
    });
    await flush();
    expect(next.lastOf('history')).toMatchObject({ since: 4 });
    next.receive({
      type: 'history',
      id: next.lastOf('history').id,
      room: 'lobby',
      messages: [message('lobby', 5)],
      seq: 300,
      more: false,
    });
    await flush();
    expect(seen).toEqual([4, 5]);
  });

  it('reports a room it could not re-join and keeps the others', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    const a = await joinRoom(client, ws, 'a', 1);
    await joinRoom(client, ws, 'b', 1);
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    ws.drop();
    await timers.advance(1000);
    FakeSocket.last().open();
    await flush();
    FakeSocket.last().ack('resume', { rooms: { a: { error: 'FORBIDDEN' }, b: { seq: 1, recovered: true } } });
    await flush();
    expect(errors).toEqual(['FORBIDDEN']);
    expect(a.joined).toBe(false);
    expect(client.room('b').joined).toBe(true);
  });

  it('resumes more than 50 rooms in frames of at most 50, one after the other, and opens once all are answered', async () => {
    const { client, timers, states } = setup();
    const ws = await open(client);
    const names = Array.from({ length: 51 }, (_, i) => `r${i}`);
    for (const name of names) await joinRoom(client, ws, name, 1);
    ws.drop();
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    const first = next.lastOf('resume');
    expect(Object.keys(first.rooms)).toEqual(names.slice(0, 50));
    expect(first.user).toBe(0);
    expect(next.sent.filter((f) => f.action === 'resume')).toHaveLength(1);
    next.ack('resume', {
      rooms: Object.fromEntries(names.slice(0, 50).map((name) => [name, { seq: 1, recovered: true }])),
      user: { seq: 0, recovered: true },
    });
    await flush();
    const second = next.lastOf('resume');
    expect(second).not.toBe(first);
    expect(second.rooms).toEqual({ r50: 1 });
    expect(second.user).toBeUndefined();
    expect(states.at(-1)).toBe('reconnecting');
    next.ack('resume', { rooms: { r50: { seq: 1, recovered: true } } });
    await flush();
    expect(states.at(-1)).toBe('open');
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('joins the plain way the rooms of a resume the server refuses (VALIDATION_ERROR), reports it, and does not redial', async () => {
    const { client, timers, ws, lobby } = await inLobby(3);
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    ws.drop();
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    next.receive({ type: 'error', id: next.lastOf('resume').id, code: 'VALIDATION_ERROR', message: 'no' });
    await flush();
    expect(errors).toEqual(['VALIDATION_ERROR']);
    expect(next.lastOf('join')).toMatchObject({ room: 'lobby' });
    next.ack('join');
    await flush();
    expect(client.state).toBe('open');
    expect(lobby.joined).toBe(true);
    await timers.advance(60_000);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('keeps positions in storage for the next page load', async () => {
    const storage = memoryStorage();
    const first = setup({ storage });
    FakeSocket.mailboxLatest = 2; // the user stream is at 2 when it connects
    const ws = await open(first.client);
    await joinRoom(first.client, ws, 'lobby', 9);
    ws.receive(message('lobby', 10));
    ws.receive(message(undefined, 3));
    first.client.close();
    const second = setup({ storage });
    const connected = second.client.connect();
    await flush();
    const ws2 = FakeSocket.last();
    ws2.open();
    await flush();
    expect(ws2.lastOf('resume')).toMatchObject({ user: 3 });
    ws2.ack('resume', { user: { seq: 3, recovered: true } });
    await connected;
    const joined = second.client.room('lobby').join();
    await flush();
    expect(ws2.lastOf('resume')).toMatchObject({ rooms: { lobby: 10 } });
    ws2.ack('resume', { rooms: { lobby: { seq: 10, recovered: true } } });
    await joined;
  });
});

describe('storage that refuses to keep positions (localStorage full, or blocked)', () => {
  const refusing = () => ({
    getItem: () => null,
    setItem: () => {
      throw new Error('QuotaExceededError: the quota has been exceeded');
    },
  });

  it('still delivers, and reports a send sent with its ack, reporting the refusal once on the error event', async () => {
    const { client } = setup({ storage: refusing() });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    const ws = await open(client);
    const lobby = await joinRoom(client, ws, 'lobby', 0);
    const seen: unknown[] = [];
    lobby.on('chat', (data) => seen.push(data));
    const states: string[] = [];
    client.on('outgoing', (o: Outgoing) => states.push(o.state));
    const sent = lobby.send('chat', { text: 'hi' });
    ws.ack('send', { messageId: 'm1', ts: 1, seq: 1 });
    await expect(sent).resolves.toMatchObject({ messageId: 'm1', seq: 1 });
    expect(() => {
      ws.receive(message('lobby', 2));
      ws.receive(message('lobby', 3));
    }).not.toThrow();
    expect({ outgoing: states, seen, errors }).toEqual({
      outgoing: ['pending', 'sent'],
      seen: [2, 3],
      errors: ['STORAGE'],
    });
  });
});

describe('servers without resume', () => {
  it('joins the plain way when resume is an unknown action', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    const lobby = await joinRoom(client, ws, 'lobby', 4);
    ws.drop();
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    next.receive({
      type: 'error',
      id: next.lastOf('resume').id,
      code: 'UNKNOWN_ACTION',
      message: 'no resume',
    });
    await flush();
    expect(next.lastOf('join')).toMatchObject({ room: 'lobby' });
    next.ack('join');
    await flush();
    expect(client.state).toBe('open');
    expect(lobby.joined).toBe(true);
  });
});

describe('leave', () => {
  it('goes out only once a join still in flight has its answer, so the two never cross', async () => {
    const { client } = setup();
    const ws = await open(client);
    const lobby = client.room('lobby');
    const joined = lobby.join();
    const left = lobby.leave();
    await flush();
    ws.receive({
      type: 'history',
      id: ws.lastOf('history').id,
      room: 'lobby',
      messages: [],
      seq: 0,
      more: false,
    });
    await flush();
    expect(ws.sent.filter((f) => f.action === 'leave')).toHaveLength(0);
    ws.ack('join');
    await joined;
    await flush();
    expect(ws.sent.map((f) => f.action).slice(-2)).toEqual(['join', 'leave']);
    ws.ack('leave');
    await left;
    expect(lobby.joined).toBe(false);
  });

  it('is not re-joined by the resume, nor its replay delivered, when left while disconnected', async () => {
    const { timers, ws, lobby, seen } = await inLobby(3);
    ws.drop();
    const left = lobby.leave();
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    const resume = next.lastOf('resume');
    // What the server would do with a resume that names lobby: join it and replay what was missed.
    if (resume.rooms?.lobby !== undefined) next.receive(message('lobby', 4));
    next.ack('resume', {
      ...(resume.rooms ? { rooms: { lobby: { seq: 4, recovered: true } } } : {}),
      user: { seq: 0, recovered: true },
    });
    await flush();
    next.ack('leave');
    await left;
    expect({ resumed: resume.rooms, seen }).toEqual({ resumed: undefined, seen: [] });
    expect(lobby.joined).toBe(false);
  });

  it('delivers none of its messages once leave() is called, also before the answer', async () => {
    const { ws, lobby, seen } = await inLobby(3);
    const left = lobby.leave();
    await flush();
    ws.receive(message('lobby', 4));
    ws.ack('leave');
    await left;
    expect(seen).toEqual([]);
    const joined = lobby.join();
    await flush();
    expect(ws.lastOf('resume')).toMatchObject({ rooms: { lobby: 4 } });
    ws.receive(message('lobby', 5));
    ws.ack('resume', { rooms: { lobby: { seq: 5, recovered: true } } });
    await joined;
    ws.receive(message('lobby', 6));
    expect(seen).toEqual([5, 6]);
  });
});

describe('outbox', () => {
  it('sends what was made while disconnected after the resume, with an idempotency key, and reports pending → sent', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    const lobby = await joinRoom(client, ws, 'lobby', 0);
    const states: [string, string][] = [];
    client.on('outgoing', (o: Outgoing) => states.push([o.key, o.state]));
    ws.drop();
    const sent = lobby.send('chat', { text: 'hi' });
    const dm = client.direct('bob', 'dm', 1);
    expect(states).toEqual([
      [sent.key, 'pending'],
      [dm.key, 'pending'],
    ]);
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    expect(next.sent.map((f) => f.action)).toEqual(['resume']);
    next.ack('resume', { rooms: { lobby: { seq: 0, recovered: true } } });
    await flush();
    expect(next.sent.map((f) => f.action)).toEqual(['resume', 'send', 'direct']);
    expect(next.lastOf('send')).toMatchObject({
      room: 'lobby',
      idempotencyKey: sent.key,
      data: { text: 'hi' },
    });
    next.ack('send', { messageId: 'm1', seq: 1, ts: 1 });
    next.receive({
      type: 'error',
      id: next.lastOf('direct').id,
      code: 'NOT_FOUND',
      message: 'storing is off and bob is offline',
    });
    await expect(sent).resolves.toMatchObject({ messageId: 'm1', seq: 1 });
    await expect(dm).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(states.slice(2)).toEqual([
      [sent.key, 'sent'],
      [dm.key, 'failed'],
    ]);
  });

  it('sends again, after retryAfterMs and one after the other, what waited for the connection and was refused as over the rate', async () => {
    const { client, timers, ws, lobby } = await inLobby(0);
    const states: string[] = [];
    client.on('outgoing', (o: Outgoing) => states.push(`${o.data}:${o.state}`));
    ws.drop();
    const sends = [1, 2, 3].map((n) => lobby.send('chat', n));
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    next.ack('resume', { rooms: { lobby: { seq: 0, recovered: true } } });
    await flush();
    const [first, second, third] = next.sent.filter((f) => f.action === 'send');
    next.receive({ type: 'ack', id: first?.id, ok: true, messageId: 'm1', seq: 1, ts: 1 });
    for (const refused of [second, third])
      next.receive({
        type: 'error',
        id: refused?.id,
        code: 'RATE_LIMITED',
        message: 'slow',
        retryAfterMs: 50,
      });
    await timers.advance(49);
    expect(next.sent.filter((f) => f.action === 'send')).toHaveLength(3);
    await timers.advance(1);
    expect(next.sent.filter((f) => f.action === 'send').slice(3)).toEqual([second]);
    await timers.advance(50);
    expect(next.sent.filter((f) => f.action === 'send').slice(3)).toEqual([second, third]);
    for (const [i, retry] of next.sent
      .filter((f) => f.action === 'send')
      .slice(3)
      .entries())
      next.receive({ type: 'ack', id: retry.id, ok: true, messageId: `m${i + 2}`, seq: i + 2, ts: 1 });
    await expect(Promise.all(sends)).resolves.toHaveLength(3);
    expect(states.filter((s) => s.endsWith('failed'))).toEqual([]);
    // A send made while open is the app's own pace: RATE_LIMITED fails it, for the app to slow down.
    const live = lobby.send('chat', 4);
    next.receive({
      type: 'error',
      id: next.lastOf('send').id,
      code: 'RATE_LIMITED',
      message: 'slow',
      retryAfterMs: 50,
    });
    await expect(live).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 50 });
  });

  it('sends a request again with the same key when its connection dropped before the ack', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    const lobby = await joinRoom(client, ws, 'lobby', 0);
    const sent = lobby.send('chat', 'x');
    const key = ws.lastOf('send').idempotencyKey;
    ws.drop();
    await timers.advance(20_000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    next.ack('resume', { rooms: { lobby: { seq: 1, recovered: true } } });
    await flush();
    expect(next.lastOf('send').idempotencyKey).toBe(key);
    next.ack('send', { messageId: 'm1', seq: 1, ts: 1, replayed: true });
    await expect(sent).resolves.toMatchObject({ messageId: 'm1', replayed: true });
  });

  it('does not echo its own send that the resume replays when the ack was lost with the connection', async () => {
    const { timers, ws, lobby, seen } = await inLobby(0);
    const sent = lobby.send('chat', 'mine');
    const key = ws.lastOf('send').idempotencyKey;
    ws.drop();
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    // The server had stored the send (seq 1) before the connection died: the resume replays it, then
    // a message from this user's other tab (2) and one from bob (3).
    next.receive({ ...message('lobby', 1, 'mine'), from: 'alice' });
    next.receive({ ...message('lobby', 2, 'other tab'), from: 'alice' });
    next.receive(message('lobby', 3));
    next.ack('resume', { rooms: { lobby: { seq: 3, recovered: true } } });
    await flush();
    expect(seen).toEqual([]);
    expect(next.lastOf('send').idempotencyKey).toBe(key);
    next.ack('send', { messageId: 'm1', seq: 1, ts: 1, replayed: true });
    await sent;
    expect(seen).toEqual(['other tab', 3]);
    await timers.advance(5000);
    expect(next.sent.filter((f) => f.action === 'history')).toHaveLength(0);
  });

  it('does not echo its own send that the resume replays when the ack was lost, for a user id outside ASCII', async () => {
    const { client, timers } = setup({ token: () => jwt('józef') });
    const ws = await open(client);
    const lobby = await joinRoom(client, ws, 'lobby', 0);
    const seen: unknown[] = [];
    lobby.on('chat', (data) => seen.push(data));
    const sent = lobby.send('chat', 'mine');
    ws.drop();
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    // The server stored the send before the connection died; `from` is the token's sub as it is.
    next.receive({ ...message('lobby', 1, 'mine'), from: 'józef' });
    next.ack('resume', { rooms: { lobby: { seq: 1, recovered: true } } });
    await flush();
    next.ack('send', { messageId: 'm1', seq: 1, ts: 1, replayed: true });
    await sent;
    expect(seen).toEqual([]);
  });

  it('waits out a CONFLICT while an attempt lost with a later connection may still run, however long the first outage', async () => {
    const { client, timers } = setup();
    const ws1 = await open(client);
    let outcome: unknown = 'pending';
    const sent = client.direct('bob', 'chat', 1);
    sent.then(
      (ack) => {
        outcome = ack;
      },
      (error: RoomcastError) => {
        outcome = error.code;
      },
    );
    await flush();
    /** Waits (virtual time) for the client's next dial and opens it. */
    const openNext = async (after: FakeSocket) => {
      for (;;) {
        const last = FakeSocket.last();
        if (last !== after && !last.closed) {
          last.open();
          await flush();
          return last;
        }
        await timers.advance(100);
      }
    };
    // Dropped before any answer, and offline for 80 s (every dial meanwhile times out).
    ws1.drop();
    await timers.advance(80_000);
    const ws2 = await openNext(ws1);
    expect(ws2.lastOf('direct').idempotencyKey).toBe(sent.key);
    // This attempt claims the key on the server, and its connection drops too before the ack.
    ws2.drop();
    const ws3 = await openNext(ws2);
    ws3.receive({ type: 'error', id: ws3.lastOf('direct').id, code: 'CONFLICT', message: 'still running' });
    await flush();
    expect(outcome).toBe('pending');
    // Retried; once the second attempt has finished, its ack is replayed.
    await timers.advance(1000);
    const retry = ws3.lastOf('direct');
    ws3.receive({ type: 'ack', id: retry.id, ok: true, messageId: 'm1', ts: 1, seq: 1, replayed: true });
    await flush();
    expect(outcome).toMatchObject({ messageId: 'm1', replayed: true });
  });

  it('fails a send of a frame over 32 KiB with PAYLOAD_TOO_LARGE when API Gateway closes with 1009, and does not send it again', async () => {
    const { timers, ws, lobby } = await inLobby(0);
    const big = lobby.send('chat', 'x'.repeat(40_000));
    const small = lobby.send('chat', 'small');
    ws.drop(1009);
    await expect(big).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      message: expect.stringContaining('API Gateway refuses frames over 32 KiB'),
    });
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    next.ack('resume', { rooms: { lobby: { seq: 0, recovered: true } } });
    await flush();
    expect(next.sent.filter((f) => f.action === 'send').map((f) => f.data)).toEqual(['small']);
    next.ack('send', { messageId: 'm1', seq: 1, ts: 1 });
    await expect(small).resolves.toMatchObject({ seq: 1 });
  });

  it('refuses a frame over 128 KiB (counted in UTF-8 bytes) before it goes out, and sends one between 32 and 128 KiB', async () => {
    const { ws, lobby } = await inLobby(0);
    await expect(lobby.send('chat', 'é'.repeat(66_000))).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(ws.sent.filter((f) => f.action === 'send')).toEqual([]);
    const large = lobby.send('chat', 'x'.repeat(100_000));
    ws.ack('send', { messageId: 'm1', seq: 1, ts: 1 });
    await expect(large).resolves.toMatchObject({ seq: 1 });
  });

  it('rejects what waits with CLOSED on close()', async () => {
    const { client } = setup();
    const sent = client.emit('order.created', { id: 7 });
    client.close();
    await expect(sent).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('keeping the connection', () => {
  it('pings after 5 quiet minutes and not before', async () => {
    FakeSocket.autoPong = false;
    const { client, timers } = setup();
    const ws = await open(client);
    await timers.advance(200_000);
    ws.receive({ type: 'message', event: 'x', data: 1, messageId: 'a', ts: 1 });
    await timers.advance(299_999);
    expect(ws.sent.filter((f) => f.action === 'ping')).toHaveLength(0);
    await timers.advance(1);
    expect(ws.sent.filter((f) => f.action === 'ping')).toHaveLength(1);
    ws.ack('ping', { ts: 1 }, 'pong');
    await timers.advance(300_000);
    expect(ws.sent.filter((f) => f.action === 'ping')).toHaveLength(2);
  });

  it('finds a dead connection while the app keeps sending: only frames that come in count', async () => {
    FakeSocket.autoPong = false;
    const { client, timers, states } = setup();
    const ws = await open(client);
    // The network silently dropped the connection: nothing comes in any more. The app sends once a minute.
    for (let minute = 0; minute < 5; minute++) {
      client.emit('heartbeat', { minute }).catch(() => undefined);
      await timers.advance(60_000);
    }
    expect(ws.sent.filter((f) => f.action === 'ping')).toHaveLength(1);
    await timers.advance(10_000);
    expect(ws.closed).toBe(true);
    expect(states).toContain('reconnecting');
  });

  it('keeps pinging on the connection that replaced a lost one', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    await timers.advance(100_000);
    ws.drop();
    await timers.advance(1000);
    const next = FakeSocket.last();
    next.open();
    await flush();
    await timers.advance(300_000);
    expect(next.sent.filter((f) => f.action === 'ping')).toHaveLength(1);
  });

  it('replaces a connection whose ping gets no pong', async () => {
    FakeSocket.autoPong = false;
    const { client, timers, states } = setup();
    const ws = await open(client);
    await timers.advance(300_000 + 10_000);
    expect(ws.closed).toBe(true);
    expect(states).toContain('reconnecting');
    await timers.advance(1000);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('joins a room joined during the rollover on the replacement connection', async () => {
    const { client, timers, ws } = await inLobby(0);
    const next = await startRollover(timers);
    const team = client.room('team');
    const joined = team.join();
    await flush();
    // The replacement's resume already lists the rooms to re-join: the join waits for it (on the old
    // connection the server would answer it, then the connection would close, leaving the room).
    expect(ws.sent.filter((f) => f.room === 'team')).toEqual([]);
    next.ack('resume', { rooms: { lobby: { seq: 0, recovered: true } } });
    await flush();
    expect(ws.closed).toBe(true);
    next.page('team', [], 5);
    await flush();
    next.ack('join');
    await joined;
    expect(joinsOn(next, 'team')).toBe(true);
    expect(client.state).toBe('open');
  });

  it('leaves a room left during the rollover on the replacement connection too', async () => {
    const { client, timers } = setup();
    const ws = await open(client);
    const team = await joinRoom(client, ws, 'team', 0);
    const next = await startRollover(timers);
    expect(next.lastOf('resume')).toMatchObject({ rooms: { team: 0 } });
    const left = team.leave();
    await flush();
    expect(ws.sent.filter((f) => f.action === 'leave')).toEqual([]);
    next.ack('resume', { rooms: { team: { seq: 0, recovered: true } } });
    await flush();
    expect(ws.closed).toBe(true);
    next.ack('leave');
    await left;
    // Else the user stays a member (presence lists it; the room keeps fanning out to it).
    expect(next.lastOf('leave')).toMatchObject({ room: 'team' });
  });

  it('joins on the replacement a room whose join went out before the rollover and was answered during it', async () => {
    const { client, timers, ws } = await inLobby(0);
    await timers.advance(6_600_000 - 1);
    const team = client.room('team');
    const joined = team.join();
    await flush();
    ws.page('team', [], 5);
    await flush();
    expect(ws.lastOf('join')).toMatchObject({ room: 'team' });
    await timers.advance(1);
    const next = FakeSocket.last();
    next.open();
    await flush();
    expect(next.lastOf('resume').rooms).toEqual({ lobby: 0 });
    ws.ack('join');
    await joined;
    next.ack('resume', { rooms: { lobby: { seq: 0, recovered: true } } });
    await flush();
    expect(next.lastOf('resume')).toEqual({ action: 'resume', id: expect.any(String), rooms: { team: 5 } });
    next.ack('resume', { rooms: { team: { seq: 5, recovered: true } } });
    await flush();
    expect(team.joined).toBe(true);
  });

  it('sends what was asked during a rollover on the connection in use when the replacement fails', async () => {
    const { client, timers, ws } = await inLobby(0);
    const next = await startRollover(timers);
    const pong = client.ping();
    await flush();
    expect(next.sent.filter((f) => f.action === 'ping')).toEqual([]);
    next.drop();
    await expect(pong).resolves.toMatchObject({ ts: 1 });
    expect(ws.lastOf('ping')).toBeDefined();
    expect(client.state).toBe('open');
  });

  it('does not echo its own send that the replacement connection gets live before the ack comes on the old one', async () => {
    const { timers, ws, lobby, seen } = await inLobby(0);
    await timers.advance(6_600_000 - 1);
    const sent = lobby.send('chat', 'mine');
    const next = await startRollover(timers, 1);
    // Stored as seq 1 and sent to the user's other connections, the replacement among them (it is
    // not the sending connection), before the sender's ack.
    next.receive({ ...message('lobby', 1, 'mine'), from: 'alice' });
    ws.ack('send', { messageId: 'm1', seq: 1, ts: 1 });
    await sent;
    next.ack('resume', { rooms: { lobby: { seq: 1, recovered: true } } });
    await flush();
    expect(seen).toEqual([]);
  });

  it("does not echo its own send that the replacement's resume replays before the ack comes on the old one", async () => {
    const { timers, ws, lobby, seen } = await inLobby(0);
    await timers.advance(6_600_000 - 1);
    const sent = lobby.send('chat', 'mine');
    await timers.advance(1);
    const next = FakeSocket.last();
    next.open();
    await flush();
    expect(next.lastOf('resume')).toMatchObject({ rooms: { lobby: 0 } });
    next.receive({ ...message('lobby', 1, 'mine'), from: 'alice' });
    ws.ack('send', { messageId: 'm1', seq: 1, ts: 1 });
    await sent;
    next.ack('resume', { rooms: { lobby: { seq: 1, recovered: true } } });
    await flush();
    expect(seen).toEqual([]);
  });

  it('delivers once, after the ack, a message of its other tab that comes on both connections while a send is out', async () => {
    const { timers, ws, lobby, seen } = await inLobby(0);
    await timers.advance(6_600_000 - 1);
    const sent = lobby.send('chat', 'mine');
    const next = await startRollover(timers, 1);
    next.receive({ ...message('lobby', 1, 'mine'), from: 'alice' });
    // The other tab's message goes to both connections; bob's after it too.
    next.receive({ ...message('lobby', 2, 'other tab'), from: 'alice' });
    ws.receive({ ...message('lobby', 2, 'other tab'), from: 'alice' });
    ws.receive(message('lobby', 3));
    await flush();
    expect(seen).toEqual([]);
    ws.ack('send', { messageId: 'm1', seq: 1, ts: 1 });
    await sent;
    next.ack('resume', { rooms: { lobby: { seq: 3, recovered: true } } });
    next.receive(message('lobby', 3));
    await flush();
    expect(seen).toEqual(['other tab', 3]);
  });

  it('rolls over before 2 hours with no gap and no repeat', async () => {
    const { client, timers, tokens } = setup();
    const ws = await open(client);
    const lobby = await joinRoom(client, ws, 'lobby', 0);
    const seen: unknown[] = [];
    lobby.on('chat', (data) => seen.push(data));
    ws.receive(message('lobby', 1));
    await timers.advance(6_600_000 - 1);
    expect(FakeSocket.all).toHaveLength(1);
    await timers.advance(1);
    const next = FakeSocket.last();
    expect(FakeSocket.all).toHaveLength(2);
    expect(tokens()).toBe(2);
    next.open();
    await flush();
    expect(next.lastOf('resume')).toMatchObject({ rooms: { lobby: 1 } });
    // Published during the overlap: both connections get it, or only the old one.
    ws.receive(message('lobby', 2));
    next.receive(message('lobby', 2));
    ws.receive(message('lobby', 3));
    // Not stored (typing): the same frame on both connections.
    const typing = { type: 'message', room: 'lobby', event: 'chat', data: 'typing', messageId: 't1', ts: 1 };
    ws.receive(typing);
    next.receive(typing);
    next.ack('resume', { rooms: { lobby: { seq: 3, recovered: true } } });
    await flush();
    expect(ws.closed).toBe(true);
    expect(client.state).toBe('open');
    next.receive(message('lobby', 3));
    next.receive(message('lobby', 4));
    expect(seen).toEqual([1, 2, 3, 'typing', 4]);
    // Requests now go on the new connection.
    void client.ping();
    expect(next.sent.at(-1)?.action).toBe('ping');
  });
});
