import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, eventually, startTestStack, type TestClient } from './harness.js';

let stack: LocalStack;
beforeAll(async () => {
  // The publishers here send as fast as their acks come back; the default per-connection limit
  // (20 a second, bursts of 40) would refuse some of them on a fast machine. limits.test.ts tests it.
  stack = await startTestStack({ rateLimit: { perSecond: 1000, burst: 1000 } });
});
afterAll(() => stack?.close());

type Frame = Record<string, unknown>;
const seqs = (frames: Frame[]) => frames.map((f) => f.seq as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function joined(userId: string, room: string, rooms?: string[]): Promise<TestClient> {
  const client = await connect(stack, userId, rooms);
  expect((await client.request({ action: 'join', room })).type).toBe('ack');
  return client;
}

async function pushTo(room: string, n: number) {
  for (let i = 1; i <= n; i += 1) {
    const res = await api(stack, 'POST', '/v1/push', { body: { room, event: 'n', data: { i } } });
    expect(res.status).toBe(200);
  }
}

describe('resume after a reconnect', () => {
  it('loses nothing and replays in seq order while another client keeps publishing', async () => {
    const room = 'resume-live';
    const publisher = await joined('pub', room);
    let reader = await joined('reader', room);
    const total = 60;
    const acks: Frame[] = [];
    const publishing = (async () => {
      for (let i = 1; i <= total; i += 1) {
        acks.push(await publisher.request({ action: 'send', room, event: 'n', data: { i } }));
      }
    })();
    await reader.next((f) => f.type === 'message' && (f.seq as number) >= 10);
    await reader.close();
    const firstSeen = reader.messages();
    const last = Math.max(...seqs(firstSeen));
    // While it is away, the publisher goes on.
    await eventually(async () => expect(acks.length).toBeGreaterThan(last + 5));
    reader = await connect(stack, 'reader');
    const ack = await reader.request({ action: 'resume', rooms: { [room]: last } });
    expect(ack).toMatchObject({ type: 'ack', ok: true, rooms: { [room]: { recovered: true } } });
    const latestAtAck = (ack.rooms as Record<string, { seq: number }>)[room]?.seq ?? 0;
    const beforeAck = reader.frames.slice(0, reader.frames.indexOf(ack)).filter((f) => f.type === 'message');
    // Replayed: everything from last+1, ascending (live frames may interleave, with seqs already replayed or later).
    const replayed = beforeAck.filter((f) => (f.seq as number) <= latestAtAck);
    expect(new Set(seqs(replayed))).toEqual(new Set(range(last + 1, latestAtAck)));
    await publishing;
    expect(seqs(acks)).toEqual(range(1, total));
    await reader.next((f) => f.type === 'message' && f.seq === total);
    const all = new Set([...seqs(firstSeen), ...seqs(reader.messages())]);
    expect([...all].sort((a, b) => a - b)).toEqual(range(1, total));
    // Each stored message is the same frame wherever it was seen.
    const byId = new Map(acks.map((a) => [a.seq, a.messageId]));
    for (const m of [...firstSeen, ...reader.messages()]) expect(m.messageId).toBe(byId.get(m.seq));
    await Promise.all([publisher.close(), reader.close()]);
  });

  it('reports forbidden rooms and a seq past the latest per room, and resumes the others', async () => {
    await pushTo('resume-open', 3);
    const client = await connect(stack, 'resumer');
    const ack = await client.request({
      action: 'resume',
      rooms: { 'resume-open': 1, 'private-nope': 0, 'resume-ahead': 5 },
    });
    expect(ack.rooms).toEqual({
      'resume-open': { seq: 3, recovered: true },
      'private-nope': { error: 'FORBIDDEN' },
      'resume-ahead': { error: 'VALIDATION_ERROR' },
    });
    expect(seqs(client.messages())).toEqual([2, 3]);
    // Joined the open room only.
    const members = await api(stack, 'GET', '/v1/rooms/resume-ahead');
    expect(members.body.count).toBe(0);
    const open = await api(stack, 'GET', '/v1/rooms/resume-open');
    expect(open.body.count).toBe(1);
    await client.close();
  });

  it('resumes a room named __proto__ like any other (a valid room name)', async () => {
    const room = '__proto__';
    await pushTo(room, 2);
    const client = await connect(stack, 'proto-resumer');
    // A computed key: an own property named __proto__, as JSON.parse makes it on the server.
    const ack = await client.request({ action: 'resume', rooms: { [room]: 0 } });
    expect(Object.entries(ack.rooms as object)).toEqual([[room, { seq: 2, recovered: true }]]);
    expect(seqs(client.messages())).toEqual([1, 2]);
    expect((await api(stack, 'GET', `/v1/rooms/${room}`)).body.count).toBe(1);
    await client.close();
  });

  it.each([
    [{ rooms: [1] }, 'rooms must be an object'],
    [JSON.parse('{"rooms":{"__proto__":"x"}}'), 'seq must be a number'],
    [{ rooms: { lobby: -1 } }, 'seq must be 0 or more'],
    [{ rooms: { lobby: 1.5 } }, 'seq must be a whole number'],
    [{ rooms: { 'bad room': 1 } }, 'rooms'],
    [{ rooms: Object.fromEntries(range(1, 51).map((i) => [`r${i}`, 0])) }, 'at most 50 rooms'],
    [{ user: -3 }, 'seq must be 0 or more'],
  ])('refuses a malformed resume %j with VALIDATION_ERROR and joins nothing', async (fields, message) => {
    const client = await connect(stack, 'bad-resume');
    const answer = await client.request({ action: 'resume', ...fields });
    expect(answer).toMatchObject({ type: 'error', code: 'VALIDATION_ERROR' });
    expect(answer.message).toContain(message);
    expect((await api(stack, 'GET', '/v1/rooms/r1')).body.count).toBe(0);
    await client.close();
  });
});

describe('sequence numbers', () => {
  it('gives concurrent publishers to one room seq 1..N with no hole and no duplicate', async () => {
    const room = 'seq-race';
    const publishers = await Promise.all(range(1, 8).map((i) => joined(`racer${i}`, room)));
    // Every frame goes out at once; the acks are awaited together (a generous wait: the store is busy).
    const acks = await Promise.all(
      publishers.flatMap((p, i) =>
        range(1, 8).map((j) => {
          const id = `s${i}-${j}`;
          p.ws.send(JSON.stringify({ action: 'send', id, room, event: 'n', data: { i, j } }));
          return p.next((f) => f.id === id, 45_000);
        }),
      ),
    );
    expect(acks.every((a) => a.type === 'ack')).toBe(true);
    expect(seqs(acks).sort((a, b) => a - b)).toEqual(range(1, 64));
    const first = await api(stack, 'GET', `/v1/rooms/${room}/history?since=0&limit=100`);
    expect(seqs(first.body.messages)).toEqual(range(1, 64));
    await Promise.all(publishers.map((p) => p.close()));
  }, 60_000);
});

describe('history', () => {
  it('pages backwards and forwards, from a client and from a backend', async () => {
    const room = 'hist-page';
    await pushTo(room, 12);
    const client = await connect(stack, 'historian');
    const page = async (fields: Frame) => {
      const id = `h${Math.random()}`;
      client.ws.send(JSON.stringify({ action: 'history', id, room, ...fields }));
      return client.next((f) => f.id === id);
    };
    const latest = await page({ limit: 5 });
    expect(latest).toMatchObject({ type: 'history', room, seq: 12, more: true });
    expect(seqs(latest.messages as Frame[])).toEqual([8, 9, 10, 11, 12]);
    expect(seqs((await page({ before: 8, limit: 5 })).messages as Frame[])).toEqual([3, 4, 5, 6, 7]);
    const oldest = await page({ before: 3, limit: 5 });
    expect(seqs(oldest.messages as Frame[])).toEqual([1, 2]);
    expect(oldest.more).toBe(false);
    const forward = await page({ since: 0, limit: 5 });
    expect(seqs(forward.messages as Frame[])).toEqual([1, 2, 3, 4, 5]);
    expect(forward.more).toBe(true);
    const tail = await page({ since: 10 });
    expect(seqs(tail.messages as Frame[])).toEqual([11, 12]);
    expect(tail.more).toBe(false);
    expect((tail.messages as Frame[])[0]).toMatchObject({
      type: 'message',
      room,
      event: 'n',
      data: { i: 11 },
    });

    const backend = await api(stack, 'GET', `/v1/rooms/${room}/history?before=12&limit=2`);
    expect(backend.status).toBe(200);
    expect(backend.body).toMatchObject({ room, seq: 12, more: true });
    expect(seqs(backend.body.messages)).toEqual([10, 11]);
    await client.close();
  });

  it.each([
    [{ since: 1, before: 5 }, 'not both'],
    [{ limit: 0 }, 'at least 1'],
    [{ limit: 101 }, 'at most 100'],
    [{ since: -1 }, '0 or more'],
    // Past what a stream can reach (12 digits): refused, not a query DynamoDB rejects (INTERNAL).
    [{ since: 9_999_999_999_998 }, 'at most 999999999999'],
    [{ before: Number.MAX_SAFE_INTEGER }, 'at most 999999999999'],
  ])('refuses %j with VALIDATION_ERROR', async (fields, message) => {
    const client = await connect(stack, 'hist-bad');
    const answer = await client.request({ action: 'history', room: 'hist-page', ...fields });
    expect(answer).toMatchObject({ type: 'error', code: 'VALIDATION_ERROR' });
    expect(answer.message).toContain(message);
    const query = new URLSearchParams(
      Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)]),
    );
    const http = await api(stack, 'GET', `/v1/rooms/hist-page/history?${query}`);
    expect(http.status).toBe(400);
    expect(http.body.error.code).toBe('VALIDATION_ERROR');
    await client.close();
  });

  it('refuses a private room outside the token claim', async () => {
    const client = await connect(stack, 'hist-private');
    const answer = await client.request({ action: 'history', room: 'private-vault' });
    expect(answer).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    await client.close();
  });
});

describe('the mailbox', () => {
  it('keeps messages for an offline user, and each of two devices gets them on resume', async () => {
    const first = await api(stack, 'POST', '/v1/push', {
      body: { userId: 'offline-carol', event: 'a', data: 1 },
    });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ delivered: 0, seq: 1 });
    await api(stack, 'POST', '/v1/push', { body: { userId: 'offline-carol', event: 'b', data: 2 } });
    const sender = await connect(stack, 'dave');
    const direct = await sender.request({ action: 'direct', userId: 'offline-carol', event: 'dm', data: 3 });
    expect(direct).toMatchObject({ type: 'ack', seq: 3 });

    const devices = await Promise.all([connect(stack, 'offline-carol'), connect(stack, 'offline-carol')]);
    for (const device of devices) {
      const ack = await device.request({ action: 'resume', user: 0 });
      expect(ack.user).toEqual({ seq: 3, recovered: true });
      const got = device.messages();
      expect(seqs(got)).toEqual([1, 2, 3]);
      expect(got[2]).toMatchObject({ event: 'dm', from: 'dave', data: 3 });
      expect(got[2]).not.toHaveProperty('room');
    }
    await Promise.all([sender.close(), ...devices.map((d) => d.close())]);
  });
});

describe('idempotency', () => {
  it('answers a repeated push with the first answer and delivers once; another body is a 409', async () => {
    const member = await joined('idem-member', 'idem-room');
    const body = { room: 'idem-room', event: 'once', data: { x: 1 } };
    const headers = { 'idempotency-key': 'order-42' };
    const first = await api(stack, 'POST', '/v1/push', { body, headers });
    const again = await api(stack, 'POST', '/v1/push', { body, headers });
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    const other = await api(stack, 'POST', '/v1/push', { body: { ...body, data: { x: 2 } }, headers });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('CONFLICT');
    await member.request({ action: 'ping' });
    expect(member.messages().filter((m) => m.event === 'once')).toHaveLength(1);
    await member.close();
  });

  it('lets one of two concurrent repeats run; the other is replayed or told to retry', async () => {
    const member = await joined('idem-member2', 'idem-race');
    const body = { room: 'idem-race', event: 'race', data: 1 };
    const headers = { 'idempotency-key': 'race-1' };
    const answers = await Promise.all([
      api(stack, 'POST', '/v1/push', { body, headers }),
      api(stack, 'POST', '/v1/push', { body, headers }),
    ]);
    const fresh = answers.filter((a) => a.status === 200 && a.headers.get('idempotent-replayed') === null);
    expect(fresh).toHaveLength(1);
    for (const a of answers.filter((x) => !fresh.includes(x))) {
      if (a.status === 409) expect(a.body.error.message).toContain('retry shortly');
      else expect(a.body).toEqual(fresh[0]?.body);
    }
    const batch = await api(stack, 'POST', '/v1/push/batch', {
      body: { messages: [{ ...body, idempotencyKey: 'race-1' }] },
    });
    expect(batch.body.results[0]).toEqual({ ...fresh[0]?.body, replayed: true });
    await member.request({ action: 'ping' });
    expect(member.messages().filter((m) => m.event === 'race')).toHaveLength(1);
    await member.close();
  });

  it('acks a repeated client send with the first messageId and seq, replayed, delivered once', async () => {
    const receiver = await joined('idem-rx', 'idem-send');
    let sender = await joined('idem-tx', 'idem-send');
    const frame = { action: 'send', room: 'idem-send', event: 'e', data: 1, idempotencyKey: 'k1' };
    const first = await sender.request(frame);
    await sender.close();
    sender = await joined('idem-tx', 'idem-send');
    const again = await sender.request(frame);
    expect(again).toMatchObject({ messageId: first.messageId, seq: first.seq, replayed: true });
    expect(first).not.toHaveProperty('replayed');
    const concurrent = await Promise.all([
      sender.request({ ...frame, idempotencyKey: 'k2' }),
      sender.request({ ...frame, idempotencyKey: 'k2' }),
    ]);
    expect(concurrent.filter((a) => a.type === 'ack' && !a.replayed)).toHaveLength(1);
    await receiver.request({ action: 'ping' });
    expect(receiver.messages()).toHaveLength(2);
    const tooLong = await sender.request({ ...frame, idempotencyKey: 'x'.repeat(65) });
    expect(tooLong).toMatchObject({ type: 'error', code: 'VALIDATION_ERROR' });
    const badHeader = await api(stack, 'POST', '/v1/push', {
      body: { room: 'idem-send', event: 'e', data: 1 },
      headers: { 'idempotency-key': 'has space' },
    });
    expect(badHeader.status).toBe(400);
    await receiver.request({ action: 'ping' });
    expect(receiver.messages()).toHaveLength(2);
    await Promise.all([receiver.close(), sender.close()]);
  });

  it("keeps each user's keys apart, whatever '#' their user ids and keys hold", async () => {
    const target = await connect(stack, 'idem-scope-rx');
    const other = await connect(stack, 'idem#1234');
    const user = await connect(stack, 'idem');
    const direct = { action: 'direct', userId: 'idem-scope-rx', event: 'dm', data: 1 };

    const first = await other.request({ ...direct, idempotencyKey: 'k' });
    // Another user's first use of its own key: "idem" + "1234#k" spells what "idem#1234" + "k" did.
    const second = await user.request({ ...direct, idempotencyKey: '1234#k' });

    expect(second).toMatchObject({ type: 'ack', ok: true });
    expect(second).not.toHaveProperty('replayed');
    expect(second.messageId).not.toBe(first.messageId);
    await target.request({ action: 'ping' });
    expect(target.messages().map((m) => m.from)).toEqual(['idem#1234', 'idem']);
    await Promise.all([target.close(), other.close(), user.close()]);
  });
});

describe('store: false', () => {
  it('delivers live with no seq and keeps nothing', async () => {
    const room = 'typing-room';
    const receiver = await joined('typer-rx', room);
    const sender = await joined('typer-tx', room);
    const ack = await sender.request({ action: 'send', room, event: 'typing', data: null, store: false });
    expect(ack.type).toBe('ack');
    expect(ack).not.toHaveProperty('seq');
    const live = await receiver.next((f) => f.event === 'typing');
    expect(live).not.toHaveProperty('seq');
    const pushed = await api(stack, 'POST', '/v1/push', {
      body: { room, event: 't', data: 1, store: false },
    });
    expect(pushed.body).not.toHaveProperty('seq');
    const history = await api(stack, 'GET', `/v1/rooms/${room}/history`);
    expect(history.body).toMatchObject({ messages: [], seq: 0, more: false });
    await Promise.all([receiver.close(), sender.close()]);
  });
});

describe('retention', () => {
  it('resumes with recovered:false once the missed messages expired; 0 turns storing off', async () => {
    const short = await startTestStack({ historyTtlSeconds: 1, mailboxTtlSeconds: 0, sweepIntervalMs: 0 });
    try {
      const sender = await connect(short, 'ttl-tx');
      await sender.request({ action: 'join', room: 'ttl' });
      await sender.request({ action: 'send', room: 'ttl', event: 'e', data: 1 });
      await sender.request({ action: 'send', room: 'ttl', event: 'e', data: 2 });
      await eventually(async () => {
        const h = await api(short, 'GET', '/v1/rooms/ttl/history');
        expect(h.body.messages).toEqual([]);
      }, 5000);
      await short.sweep();
      const reader = await connect(short, 'ttl-rx');
      const ack = await reader.request({ action: 'resume', rooms: { ttl: 0 }, user: 0 });
      expect(ack.rooms).toEqual({ ttl: { seq: 2, recovered: true } });
      const gap = await reader.request({ action: 'resume', rooms: { ttl: 1 } });
      expect(gap.rooms).toEqual({ ttl: { seq: 2, recovered: false } });
      expect(reader.messages()).toEqual([]);
      // The next message still takes a fresh seq: numbers are never reused.
      expect(await sender.request({ action: 'send', room: 'ttl', event: 'e', data: 3 })).toMatchObject({
        seq: 3,
      });
      // The mailbox is off: a direct to an offline user is NOT_FOUND, a push is not stored.
      const direct = await sender.request({ action: 'direct', userId: 'nobody-home', event: 'e', data: 1 });
      expect(direct).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
      const pushed = await api(short, 'POST', '/v1/push', {
        body: { userId: 'nobody-home', event: 'e', data: 1 },
      });
      expect(pushed.body).toMatchObject({ delivered: 0 });
      expect(pushed.body).not.toHaveProperty('seq');
      await Promise.all([sender.close(), reader.close()]);
    } finally {
      await short.close();
    }
  });
});
