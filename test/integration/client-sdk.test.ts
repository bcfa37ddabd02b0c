import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type ClientState,
  memoryStorage,
  RoomcastClient,
  type RoomcastClientOptions,
  type WebSocketLike,
} from '../../client/src/index.js';
import type { LocalStack } from '../../local/stack.js';
import {
  api,
  connect,
  connectionIdsOf,
  eventually,
  startProxiedStack,
  startTestStack,
  type TestClient,
  token,
} from './harness.js';

const stacks: LocalStack[] = [];
const clients: RoomcastClient[] = [];
const raw: TestClient[] = [];
let closeProxied: (() => Promise<void>) | undefined;

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const client of raw.splice(0)) await client.close();
  for (const s of stacks.splice(0)) await s.close();
  await closeProxied?.();
  closeProxied = undefined;
});

async function start(options: Parameters<typeof startTestStack>[0] = {}): Promise<LocalStack> {
  const started = await startTestStack(options);
  stacks.push(started);
  return started;
}

function sdk(s: LocalStack, user: string, options: Partial<RoomcastClientOptions> = {}) {
  const states: ClientState[] = [];
  let tokens = 0;
  const client = new RoomcastClient({
    url: s.urls.websocket,
    token: () => {
      tokens += 1;
      return token(user, { expiresIn: '5m' });
    },
    WebSocket,
    storage: memoryStorage(),
    ...options,
  });
  client.on('state', (state) => states.push(state));
  clients.push(client);
  return { client, states, tokens: () => tokens };
}

/** A stack where alice (through the SDK, connected) and bob (a bare client) are both in lobby. */
async function aliceAndBobInLobby() {
  const s = await start();
  const { client, states } = sdk(s, 'alice');
  await client.connect();
  const lobby = client.room('lobby');
  await lobby.join();
  const bob = await member(s, 'bob', 'lobby');
  return { s, client, states, lobby, bob };
}

/** Resolves once the state has been reached (now or later). */
function reached(
  client: RoomcastClient,
  states: ClientState[],
  wanted: ClientState,
  after = 0,
): Promise<void> {
  if (states.slice(after).includes(wanted)) return Promise.resolve();
  return new Promise((resolve) => {
    const off = client.on('state', (state) => {
      if (state === wanted) {
        off();
        resolve();
      }
    });
  });
}

async function member(s: LocalStack, user: string, room: string): Promise<TestClient> {
  const client = await connect(s, user);
  raw.push(client);
  expect(await client.request({ action: 'join', room })).toMatchObject({ type: 'ack' });
  return client;
}

describe('client SDK against the local stack', () => {
  it('sees every message exactly once and in order when the backend closes its connection mid-stream', async () => {
    const s = await start();
    const { client, states, tokens } = sdk(s, 'alice');
    await client.connect();
    const lobby = client.room('lobby');
    const seen: unknown[] = [];
    lobby.on('chat', (data) => seen.push(data));
    await lobby.join();
    const bob = await member(s, 'bob', 'lobby');

    const total = 30;
    for (let i = 1; i <= total; i++) {
      expect(await bob.request({ action: 'send', room: 'lobby', event: 'chat', data: i })).toMatchObject({
        type: 'ack',
      });
      if (i === 10) {
        const [id] = await connectionIdsOf(s, 'alice');
        expect((await api(s, 'DELETE', `/v1/connections/${id}`)).status).toBe(204);
      }
    }
    await eventually(async () => expect(seen).toHaveLength(total), 10_000);
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(states).toContain('reconnecting');
    expect(tokens()).toBeGreaterThanOrEqual(2);
  });

  it('recovers by resume what was published while it was away, with nothing after it to reveal the gap', async () => {
    const s = await start();
    let release: () => void = () => undefined;
    let held: Promise<void> | undefined;
    // Its reconnect waits (token() is held) until the publisher is done.
    const { client: slow, states } = sdk(s, 'alice', {
      token: async () => {
        await held;
        return token('alice', { expiresIn: '5m' });
      },
    });
    const room = slow.room('lobby');
    const seen: unknown[] = [];
    room.on('chat', (data) => seen.push(data));
    await slow.connect();
    await room.join();
    const bob = await member(s, 'bob', 'lobby');
    await bob.request({ action: 'send', room: 'lobby', event: 'chat', data: 1 });
    await eventually(async () => expect(seen).toEqual([1]));

    held = new Promise((resolve) => {
      release = resolve;
    });
    const [id] = await connectionIdsOf(s, 'alice');
    await api(s, 'DELETE', `/v1/connections/${id}`);
    await reached(slow, states, 'reconnecting');
    for (let i = 2; i <= 6; i++) await bob.request({ action: 'send', room: 'lobby', event: 'chat', data: i });
    release();

    await eventually(async () => expect(seen).toEqual([1, 2, 3, 4, 5, 6]), 10_000);
  });

  it('rolls over before the lifetime limit and loses nothing', async () => {
    const s = await start({ limits: { maxLifetimeMs: 4000 } });
    let sockets = 0;
    class Counting extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets += 1;
      }
    }
    const { client, states } = sdk(s, 'alice', { WebSocket: Counting, rolloverAfterMs: 1500 });
    await client.connect();
    const lobby = client.room('lobby');
    const seen: unknown[] = [];
    lobby.on('chat', (data) => seen.push(data));
    await lobby.join();

    // A backend publishes (a client's own connection would hit the short lifetime too) until the
    // client has replaced its connection twice, then a few more.
    let sent = 0;
    let after = -1;
    while (after < 5) {
      sent += 1;
      const push = await api(s, 'POST', '/v1/push', { body: { room: 'lobby', event: 'chat', data: sent } });
      expect(push.status).toBe(200);
      if (sockets >= 3 || after >= 0) after += 1;
    }
    await eventually(async () => expect(seen).toHaveLength(sent), 10_000);
    expect(seen).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    // Replaced before the limit, never lost: the state never left 'open'.
    expect(states).toEqual(['connecting', 'open']);
  });

  it('sends what was made during a disconnect after the resume, once', async () => {
    const { s, client, states, lobby, bob } = await aliceAndBobInLobby();
    const outgoing: string[] = [];
    client.on('outgoing', (o) => outgoing.push(o.state));

    const [id] = await connectionIdsOf(s, 'alice');
    await api(s, 'DELETE', `/v1/connections/${id}`);
    await reached(client, states, 'reconnecting');
    const ack = await lobby.send('chat', { text: 'offline' });

    expect(ack.messageId).toMatch(/^[0-9A-Z]{26}$/);
    expect(typeof ack.seq).toBe('number');
    expect(outgoing).toEqual(['pending', 'sent']);
    await bob.next((f) => f.type === 'message' && f.messageId === ack.messageId);
    // One more round trip, so a second copy would have arrived.
    await bob.request({ action: 'ping' });
    expect(bob.messages().filter((f) => f.messageId === ack.messageId)).toHaveLength(1);
  });

  it('reconnects a client that has joined more than 50 rooms (the server takes at most 50 per resume)', async () => {
    const s = await start();
    const refusals: string[] = [];
    class Watching extends WebSocket {
      constructor(url: string) {
        super(url);
        this.on('message', (data) => {
          const frame = JSON.parse(String(data));
          if (frame.type === 'error') refusals.push(`${frame.code}: ${frame.message}`);
        });
      }
    }
    let gaveUp: () => void = () => undefined;
    const dialledSixTimes = new Promise<void>((resolve) => {
      gaveUp = resolve;
    });
    let dials = 0;
    const { client, states } = sdk(s, 'alice', {
      WebSocket: Watching,
      backoffMinMs: 10,
      backoffMaxMs: 50,
      token: () => {
        if (++dials >= 6) gaveUp();
        return token('alice', { expiresIn: '5m' });
      },
    });
    await client.connect();
    for (let i = 0; i < 51; i++) await client.room(`r${i}`).join();

    const [id] = await connectionIdsOf(s, 'alice');
    const from = states.length;
    expect((await api(s, 'DELETE', `/v1/connections/${id}`)).status).toBe(204);
    // Open again, or dialled 6 times without getting there.
    await Promise.race([reached(client, states, 'open', from), dialledSixTimes]);

    expect({ states: states.slice(from), refusals }).toEqual({
      states: ['reconnecting', 'open'],
      refusals: [],
    });
  });

  it("sends every message queued while disconnected once it is back, past the server's burst of 40", async () => {
    const { s, client, states, lobby, bob } = await aliceAndBobInLobby();

    const [id] = await connectionIdsOf(s, 'alice');
    const from = states.length;
    await api(s, 'DELETE', `/v1/connections/${id}`);
    await reached(client, states, 'reconnecting', from);
    // A user typing in a chat while the network is away: 45 messages wait in the SDK's outbox.
    const sends = Array.from({ length: 45 }, (_, i) => lobby.send('chat', { text: `offline ${i}` }));
    const outcomes = await Promise.allSettled(sends);

    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    await bob.request({ action: 'ping' });
    expect(bob.messages().filter((f) => f.type === 'message')).toHaveLength(45);
  });

  it('delivers once, and does not echo it to the sender, when the ack of a send is lost with its connection', async () => {
    const s = await start();
    let dropped = false;
    // Fault: the first ack of a send never reaches the client, and the socket dies with it.
    class LosesFirstAck implements WebSocketLike {
      private readonly ws: WebSocket;
      onopen: WebSocketLike['onopen'] = null;
      onmessage: WebSocketLike['onmessage'] = null;
      onclose: WebSocketLike['onclose'] = null;
      onerror: WebSocketLike['onerror'] = null;
      constructor(url: string) {
        this.ws = new WebSocket(url);
        this.ws.onopen = (event) => this.onopen?.(event);
        this.ws.onclose = (event) => this.onclose?.(event);
        this.ws.onerror = (event) => this.onerror?.(event);
        this.ws.onmessage = (event) => {
          const frame = JSON.parse(String(event.data));
          if (!dropped && frame.type === 'ack' && typeof frame.messageId === 'string') {
            dropped = true;
            this.ws.terminate();
            return;
          }
          this.onmessage?.(event);
        };
      }
      send(data: string): void {
        this.ws.send(data);
      }
      close(code?: number, reason?: string): void {
        this.ws.close(code, reason);
      }
    }
    const { client } = sdk(s, 'alice', { WebSocket: LosesFirstAck });
    await client.connect();
    const lobby = client.room('lobby');
    const heard: string[] = [];
    lobby.on('chat', (_data, meta) => heard.push(meta.messageId));
    await lobby.join();
    const bob = await member(s, 'bob', 'lobby');

    const ack = await lobby.send('chat', { text: 'once' });

    expect(dropped).toBe(true);
    expect(ack).toMatchObject({ replayed: true });
    await bob.request({ action: 'ping' });
    expect(bob.messages().filter((f) => (f.data as { text?: string }).text === 'once')).toHaveLength(1);
    // The resume replayed the stored message to alice before the retried send's ack came back.
    // One more message from bob, so an echo of alice's would have come before it.
    const next = await bob.request({ action: 'send', room: 'lobby', event: 'chat', data: 'after' });
    await eventually(async () => expect(heard).toContain(next.messageId));
    expect(heard).toEqual([next.messageId]);
  });
});

describe('client SDK: positions and retries', () => {
  /** Holds the next token until the test lets the reconnect go on. */
  function gated() {
    let gate: Promise<void> = Promise.resolve();
    let release = () => {};
    return {
      wait: () => gate,
      close: () => {
        gate = new Promise((resolve) => {
          release = resolve;
        });
      },
      open: () => release(),
    };
  }
  const gatedSdk = (s: LocalStack, user: string, gate: ReturnType<typeof gated>, storage = memoryStorage()) =>
    sdk(s, user, {
      storage,
      token: async () => {
        await gate.wait();
        return token(user, { expiresIn: '5m' });
      },
    });
  /** Closes alice's connection from the backend, then publishes while the SDK cannot reconnect. */
  async function awayWhile(
    s: LocalStack,
    c: ReturnType<typeof sdk>,
    gate: ReturnType<typeof gated>,
    during: () => Promise<void>,
  ) {
    gate.close();
    const [id] = await connectionIdsOf(s, 'alice');
    await api(s, 'DELETE', `/v1/connections/${id}`);
    await reached(c.client, c.states, 'reconnecting');
    await during();
    const opened = c.states.length;
    gate.open();
    await reached(c.client, c.states, 'open', opened);
  }

  it('resumes a room a backend joined it to: what was published while it reconnected arrives', async () => {
    const s = await start();
    const gate = gated();
    const alice = gatedSdk(s, 'alice', gate);
    await alice.client.connect();
    const ops = alice.client.room('ops');
    const seen: unknown[] = [];
    ops.on('alert', (data) => seen.push(data));
    expect((await api(s, 'POST', '/v1/rooms/ops/members', { body: { userId: 'alice' } })).body).toEqual({
      joined: 1,
    });
    await eventually(async () => expect(ops.joined).toBe(true));
    await eventually(async () => expect(ops.stream.position).toBe(0));

    await awayWhile(s, alice, gate, async () => {
      expect(
        (await api(s, 'POST', '/v1/push', { body: { room: 'ops', event: 'alert', data: 1 } })).body.seq,
      ).toBe(1);
    });
    await api(s, 'POST', '/v1/push', { body: { room: 'ops', event: 'alert', data: 2 } });

    await eventually(async () => expect(seen).toEqual([1, 2]));
  });

  it("delivers a direct stored while it reconnected, before it had received any (the user's mailbox)", async () => {
    const s = await start();
    const gate = gated();
    const alice = gatedSdk(s, 'alice', gate);
    await alice.client.connect();
    const seen: unknown[] = [];
    alice.client.on('direct', (_event, data) => seen.push(data));
    const bob = await connect(s, 'bob');
    raw.push(bob);

    await awayWhile(s, alice, gate, async () => {
      expect(await bob.request({ action: 'direct', userId: 'alice', event: 'dm', data: 1 })).toMatchObject({
        seq: 1,
      });
    });
    await bob.request({ action: 'direct', userId: 'alice', event: 'dm', data: 2 });

    await eventually(async () => expect(seen).toEqual([1, 2]));
  });

  /** A first page: alice in lobby and team, 3 messages in each and 3 directs seen; positions kept in `storage`. */
  async function firstPage(s: LocalStack, storage: ReturnType<typeof memoryStorage>): Promise<TestClient> {
    const { client } = sdk(s, 'alice', { storage });
    await client.connect();
    let seen = 0;
    client.on('direct', () => seen++);
    const lobby = client.room('lobby');
    const team = client.room('team');
    lobby.on('chat', () => seen++);
    team.on('chat', () => seen++);
    await lobby.join();
    await team.join();
    const bob = await member(s, 'bob', 'lobby');
    await bob.request({ action: 'join', room: 'team' });
    for (let i = 1; i <= 3; i++) {
      await bob.request({ action: 'direct', userId: 'alice', event: 'dm', data: i });
      await bob.request({ action: 'send', room: 'lobby', event: 'chat', data: i });
      await bob.request({ action: 'send', room: 'team', event: 'chat', data: i });
    }
    await eventually(async () => expect(seen).toBe(9));
    client.close();
    return bob;
  }

  it('keeps the position of a room it has not opened yet on this page, so joining it later resumes from there', async () => {
    const storage = memoryStorage();
    const s = await start();
    const bob = await firstPage(s, storage);
    await bob.request({ action: 'send', room: 'lobby', event: 'chat', data: 4 });
    await bob.request({ action: 'send', room: 'team', event: 'chat', data: 4 });

    const { client } = sdk(s, 'alice', { storage });
    await client.connect();
    const seen: unknown[] = [];
    const lobby = client.room('lobby');
    lobby.on('chat', (data) => seen.push(`lobby${data}`));
    await lobby.join();
    const team = client.room('team');
    team.on('chat', (data) => seen.push(`team${data}`));
    await team.join();
    await bob.request({ action: 'send', room: 'team', event: 'chat', data: 5 });

    await eventually(async () => expect(seen).toEqual(['lobby4', 'team4', 'team5']));
  });

  it('starts over when the kept positions are past what a fresh server has (a restarted local stack)', async () => {
    const storage = memoryStorage();
    await firstPage(await start(), storage);
    const fresh = await start();
    const { client } = sdk(fresh, 'alice', { storage });
    const lobby = client.room('lobby'); // opened before connecting: its kept position is read at connect
    await client.connect();
    const seen: unknown[] = [];
    client.on('direct', (_event, data) => seen.push(data));
    lobby.on('chat', (data) => seen.push(`lobby${data}`));

    await lobby.join();
    const carol = await member(fresh, 'carol', 'lobby');
    await carol.request({ action: 'send', room: 'lobby', event: 'chat', data: 1 });
    for (let i = 1; i <= 4; i++)
      await carol.request({ action: 'direct', userId: 'alice', event: 'dm', data: `new${i}` });

    await eventually(async () => expect(seen).toEqual(['lobby1', 'new1', 'new2', 'new3', 'new4']));
  });

  /** The room positions the SDK keeps in `storage` for alice, as it stored them. */
  const keptRooms = (storage: ReturnType<typeof memoryStorage>) =>
    (JSON.parse(storage.getItem('roomcast:alice') ?? '{}') as { rooms?: Record<string, number> }).rooms ?? {};

  it('forgets a stale kept position of a room joined after connecting, before any message comes', async () => {
    const storage = memoryStorage();
    await firstPage(await start(), storage);
    expect(keptRooms(storage).lobby).toBe(3);
    const fresh = await start();
    const { client } = sdk(fresh, 'alice', { storage });
    await client.connect();
    await client.room('lobby').join();
    // A reload now must not resume from 3 once the fresh room has 3 messages it never saw.
    expect(Object.hasOwn(keptRooms(storage), 'lobby')).toBe(false);
  });

  it('keeps and resumes rooms named like Object.prototype properties (__proto__, constructor)', async () => {
    const s = await start();
    const storage = memoryStorage();
    const { client } = sdk(s, 'alice', { storage });
    await client.connect();
    const rooms = ['__proto__', 'constructor', 'toString'];
    const seen: string[] = [];
    for (const name of rooms) {
      const room = client.room(name);
      room.on('chat', (data) => seen.push(`${name}${data}`));
      await room.join();
    }
    const bob = await member(s, 'bob', '__proto__');
    for (const name of rooms.slice(1)) await bob.request({ action: 'join', room: name });
    for (const name of rooms) await bob.request({ action: 'send', room: name, event: 'chat', data: 1 });
    await eventually(async () => expect(seen).toEqual(['__proto__1', 'constructor1', 'toString1']));
    expect(Object.entries(keptRooms(storage))).toEqual(rooms.map((name) => [name, 1]));
    // A reload: a second client from the same storage resumes each room past what it saw.
    client.close();
    const again = sdk(s, 'alice', { storage }).client;
    const replayed: string[] = [];
    for (const name of rooms) again.room(name).on('chat', (data) => replayed.push(`${name}${data}`));
    await again.connect();
    for (const name of rooms) await again.room(name).join();
    for (const name of rooms) await bob.request({ action: 'send', room: name, event: 'chat', data: 2 });
    await eventually(async () => expect(replayed).toEqual(['__proto__2', 'constructor2', 'toString2']));
    again.close();
  });

  it('reports a send sent (not failed) when its first attempt was still running as the connection dropped', async () => {
    let release = () => {};
    let reachedPut = () => {};
    const putReached = new Promise<void>((resolve) => {
      reachedPut = resolve;
    });
    let holding = false;
    const started = await startProxiedStack('sdk-conflict', {
      fault: (operation, body) => {
        const sk = (body.Item as { sk?: { S?: string } } | undefined)?.sk?.S;
        if (holding || operation !== 'PutItem' || !sk?.startsWith('SEQ#')) return undefined;
        holding = true;
        reachedPut();
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    });
    closeProxied = started.close;
    const s = started.stack;
    const conflicts: unknown[] = [];
    class Watching extends WebSocket {
      constructor(url: string) {
        super(url);
        this.on('message', (data) => {
          const frame = JSON.parse(data.toString());
          if (frame.type === 'error' && frame.code === 'CONFLICT') conflicts.push(frame);
        });
      }
    }
    const alice = sdk(s, 'alice', { backoffMinMs: 10, backoffMaxMs: 20, WebSocket: Watching });
    const outgoing: string[] = [];
    alice.client.on('outgoing', (o) => outgoing.push(o.state));
    await alice.client.connect();
    const lobby = alice.client.room('lobby');
    await lobby.join();
    const bob = await member(s, 'bob', 'lobby');

    const sending = lobby.send('chat', { text: 'once' });
    await putReached;
    // The backend closes alice's connection while the server is still storing the message; the SDK
    // reconnects and sends it again with the same key, which the server answers CONFLICT (still running).
    const opened = alice.states.length;
    const [id] = await connectionIdsOf(s, 'alice');
    await api(s, 'DELETE', `/v1/connections/${id}`);
    await reached(alice.client, alice.states, 'open', opened);
    await eventually(async () => expect(conflicts.length).toBeGreaterThan(0));
    release();

    expect(await sending).toMatchObject({ ok: true, replayed: true });
    expect(outgoing).toEqual(['pending', 'sent']);
    await bob.request({ action: 'ping' });
    expect(bob.messages().filter((f) => (f.data as { text?: string }).text === 'once')).toHaveLength(1);
  });
});
