import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, startTestStack, type TestClient } from './harness.js';
import { logsDuring } from './logs.js';

let stack: LocalStack;
let client: TestClient;
beforeAll(async () => {
  stack = await startTestStack({ logLevel: 'INFO' });
  client = await connect(stack, 'hostile');
  await client.request({ action: 'join', room: 'hostile-room' });
});
afterAll(async () => {
  await client?.close();
  await stack?.close();
});

const KIB = 1024;
const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('JSON nested deeper than 64 levels in data', () => {
  it('is a VALIDATION_ERROR for a frame, a push and a batch item, never INTERNAL', async () => {
    const logs = await logsDuring(async () => {
      await deeplyNested();
    });
    expect(logs.filter((l) => l.level === 'ERROR')).toEqual([]);
    expect(logs.filter((l) => l.code === 'VALIDATION_ERROR')).toHaveLength(3);
  });
});

/** A frame, a push and a batch item whose data is nested 4,500 deep. */
async function deeplyNested() {
  const sent = await client.sendRaw(
    `{"action":"send","id":"d1","room":"hostile-room","event":"e","data":${deep(4500)}}`,
  );
  expect(sent).toMatchObject({
    id: 'd1',
    code: 'VALIDATION_ERROR',
    message: expect.stringContaining('64 levels'),
  });
  const push = await api(stack, 'POST', '/v1/push', {
    rawBody: `{"room":"hostile-room","event":"e","data":${deep(4500)}}`,
  });
  expect(push.status).toBe(400);
  expect(push.body.error.code).toBe('VALIDATION_ERROR');
  const batch = await api(stack, 'POST', '/v1/push/batch', {
    rawBody: `{"messages":[{"room":"hostile-room","event":"e","data":${deep(4500)}},{"room":"hostile-room","event":"e","data":1}]}`,
  });
  expect(batch.status).toBe(200);
  expect(batch.body.results[0].error).toMatchObject({ code: 'VALIDATION_ERROR', status: 400 });
  expect(batch.body.results[1]).toMatchObject({ delivered: 1 });
}

describe('JSON nested exactly 64 levels in data', () => {
  it('accepts data nested exactly 64 levels', async () => {
    const ok = await client.request({
      action: 'send',
      room: 'hostile-room',
      event: 'e',
      data: JSON.parse(deep(64)),
    });
    expect(ok.type).toBe('ack');
    const refused = await client.request({
      action: 'send',
      room: 'hostile-room',
      event: 'e',
      data: JSON.parse(deep(65)),
    });
    expect(refused.code).toBe('VALIDATION_ERROR');
  });
});

describe('error size', () => {
  it('answers a 131,000-character unknown key with an error frame under 1 KiB that names it cut', async () => {
    const key = 'k'.repeat(131_000);
    const before = client.frames.length;
    client.ws.send(`{"action":"join","id":"big","room":"lobby","${key}":1}`);
    const error = await client.next((f) => f.id === 'big' && client.frames.indexOf(f) >= before);
    expect(error).toMatchObject({ type: 'error', code: 'VALIDATION_ERROR' });
    expect(JSON.stringify(error).length).toBeLessThan(KIB);
    expect(error.message).toContain('unknown field "kkk');
    expect(error.message).toContain('131000 characters');
  });

  it('keeps push error bodies under 1 KiB: unknown keys, many fields, long paths', async () => {
    const many = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`${'x'.repeat(500)}${i}`, i]));
    const res = await api(stack, 'POST', '/v1/push', { body: { room: 'r', event: 'e', ...many } });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body).length).toBeLessThan(KIB);
    const path = await api(stack, 'GET', `/v1/${'p'.repeat(8000)}`);
    expect(path.status).toBe(404);
    expect(JSON.stringify(path.body).length).toBeLessThan(KIB);
    const action = await client.sendRaw(`{"action":"${'a'.repeat(100_000)}"}`);
    expect(action.code).toBe('UNKNOWN_ACTION');
    expect(JSON.stringify(action).length).toBeLessThan(KIB);
  });
});

describe('unknown fields', () => {
  it('names the unknown field even when a required field is missing too', async () => {
    const error = await client.request({ action: 'join', rom: 'lobby' });
    expect(error.code).toBe('VALIDATION_ERROR');
    expect(error.message).toContain('unknown field "rom"');
    expect(error.message).toContain('room');
    const res = await api(stack, 'POST', '/v1/rooms/lobby/members', { body: { user: 'x' } });
    expect(res.body.error.message).toContain('unknown field "user"');
  });
});

describe('odd values', () => {
  it('reads limit only as decimal digits', async () => {
    for (const limit of ['0x10', '1e2', ' 16', '16.0', '+16', '']) {
      const res = await api(stack, 'GET', `/v1/rooms/hostile-room?limit=${encodeURIComponent(limit)}`);
      expect(res.status, limit).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
    }
    expect((await api(stack, 'GET', '/v1/rooms/hostile-room?limit=16')).status).toBe(200);
  });

  it('reads history positions and limit only as decimal digits', async () => {
    for (const [name, value] of [
      ['limit', '0x10'],
      ['since', '1e2'],
      ['before', ''],
      ['before', ' 5'],
      ['since', '-0'],
      ['limit', '16.0'],
    ] as const) {
      const res = await api(
        stack,
        'GET',
        `/v1/rooms/hostile-room/history?${name}=${encodeURIComponent(value)}`,
      );
      expect(res.status, `${name}=${value}`).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      expect(res.body.error.message).toContain(name);
    }
    expect((await api(stack, 'GET', '/v1/rooms/hostile-room/history?since=0&limit=16')).status).toBe(200);
  });

  it('names query parameters called like Object.prototype properties as unknown, as any other', async () => {
    for (const query of ['__proto__=1', 'constructor=1', 'toString=1&toString=2']) {
      const res = await api(stack, 'GET', `/v1/rooms/hostile-room/history?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.message, query).toContain(`unknown field "${query.split('=')[0]}"`);
    }
  });

  it('answers a path parameter that is not valid percent-encoding with 400', async () => {
    for (const [method, path] of [
      ['GET', '/v1/users/%ZZ'],
      ['GET', '/v1/rooms/%E0%A4%A'],
      ['DELETE', '/v1/users/%ZZ/connections'],
    ] as const) {
      const res = await api(stack, method, path);
      expect(res.status, path).toBe(400);
      expect(res.body.error.message).toContain('URL encoding');
    }
  });

  it('answers HEAD /v1/health like GET, without a key and without a body', async () => {
    const res = await fetch(`http://127.0.0.1:${stack.port}/v1/health`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    const stats = await fetch(`http://127.0.0.1:${stack.port}/v1/stats`, { method: 'HEAD' });
    expect(stats.status).toBe(401);
  });

  it('refuses numbers JSON cannot represent (1e400) in data instead of delivering null', async () => {
    const frame = await client.sendRaw(
      '{"action":"send","id":"inf","room":"hostile-room","event":"e","data":{"n":1e400}}',
    );
    expect(frame).toMatchObject({ id: 'inf', code: 'VALIDATION_ERROR' });
    const push = await api(stack, 'POST', '/v1/push', {
      rawBody: '{"room":"hostile-room","event":"e","data":-1e400}',
    });
    expect(push.status).toBe(400);
    expect(push.body.error.code).toBe('VALIDATION_ERROR');
  });
});
