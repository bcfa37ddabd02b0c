import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { SignJWT } from 'jose';
import { inject } from 'vitest';
import WebSocket from 'ws';
import { type DynamoProxy, type DynamoProxyOptions, startDynamoProxy } from '../../bench/dynamo-proxy.js';
import { type LocalDynamo, startDynalite } from '../../local/dynamo.js';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack.js';

export const JWT_SECRET = 'integration-secret';
export const API_KEY = 'integration-key';

/** Starts the local stack on a free port, on dynalite or on the shared DynamoDB Local as the project says. */
export async function startTestStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const useDynamoDbLocal = process.env.ROOMCAST_TEST_DYNAMO === 'dynamodb-local';
  return startLocalStack({
    port: 0,
    jwtSecret: JWT_SECRET,
    apiKeys: [API_KEY],
    logLevel: 'SILENT',
    sweepIntervalMs: 0,
    reconcileIntervalMs: 0,
    // Tests reconcile once nothing is in flight: the second look follows the first at once.
    reconcileSettleMs: 0,
    ...(useDynamoDbLocal
      ? {
          dynamoEndpoint: inject('dynamoEndpoint'),
          // One DynamoDB Local serves every test file at once: give a busy moment room.
          dynamoTimeoutMs: 10_000,
          tableName: `roomcast-test-${randomUUID().slice(0, 8)}`,
        }
      : {}),
    ...options,
  });
}

/**
 * The local stack with a DynamoDB proxy in front of its table (dynalite of its own, or the shared
 * DynamoDB Local), for tests that watch requests or answer some themselves. `close` stops all three.
 */
export async function startProxiedStack(
  name: string,
  proxyOptions: DynamoProxyOptions,
  options: LocalStackOptions = {},
): Promise<{ stack: LocalStack; proxy: DynamoProxy; close(): Promise<void> }> {
  let dynamo: LocalDynamo | undefined;
  let endpoint: string;
  if (process.env.ROOMCAST_TEST_DYNAMO === 'dynamodb-local') {
    endpoint = inject('dynamoEndpoint');
  } else {
    dynamo = await startDynalite();
    endpoint = dynamo.endpoint;
  }
  const proxy = await startDynamoProxy(endpoint, proxyOptions);
  const stack = await startTestStack({
    dynamoEndpoint: proxy.url,
    tableName: `roomcast-${name}-${randomUUID().slice(0, 8)}`,
    ...options,
  });
  return {
    stack,
    proxy,
    close: async () => {
      await stack.close();
      await proxy.close();
      await dynamo?.close();
    },
  };
}

export async function token(
  sub: string | undefined,
  options: { rooms?: string[]; expiresIn?: string; secret?: string } = {},
): Promise<string> {
  const jwt = new SignJWT(options.rooms ? { rooms: options.rooms } : {}).setProtectedHeader({ alg: 'HS256' });
  if (sub !== undefined) jwt.setSubject(sub);
  return jwt
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
}

type Frame = Record<string, unknown> & { type: string };

/** A real WebSocket client that keeps every frame it receives and can wait for one. */
export class TestClient {
  readonly frames: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private seq = 0;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  /**
   * Waits for a frame that matches, including one already received. Like `eventually`, the
   * deadline only bounds a frame that never comes; it is no guess at how fast one does.
   */
  next(match: (f: Frame) => boolean, timeoutMs = 15_000): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  /** Sends a frame with its own id (or a fresh one) and waits for the ack, pong or error that answers it. */
  async request(frame: Record<string, unknown>): Promise<Frame> {
    this.seq += 1;
    const id = typeof frame.id === 'string' ? frame.id : `r${this.seq}`;
    this.ws.send(JSON.stringify({ ...frame, id }));
    return this.next((f) => f.id === id && ['ack', 'pong', 'error'].includes(f.type));
  }

  /** Sends raw text and waits for the next error frame after it. */
  async sendRaw(text: string | Buffer): Promise<Frame> {
    const before = this.frames.length;
    this.ws.send(text);
    return this.next((f) => f.type === 'error' && this.frames.indexOf(f) >= before);
  }

  messages(): Frame[] {
    return this.frames.filter((f) => f.type === 'message');
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

/** Opens a WebSocket and resolves once it is open, or rejects with the HTTP status of a refused handshake. */
export function connectRaw(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const client = new TestClient(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`handshake refused: ${res.statusCode}`), { status: res.statusCode }));
      res.resume();
    });
    ws.once('error', (error) => reject(error));
  });
}

export async function connect(stack: LocalStack, userId: string, rooms?: string[]): Promise<TestClient> {
  return connectRaw(`${stack.urls.websocket}?token=${await token(userId, rooms ? { rooms } : {})}`);
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
  body: any;
}

/** Calls the push API with the test key unless told otherwise. */
export async function api(
  stack: LocalStack,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; key?: string | null; headers?: Record<string, string> } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== null) headers.authorization = `Bearer ${options.key ?? API_KEY}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`http://127.0.0.1:${stack.port}${path}`, {
    method,
    headers,
    ...(body ? { body } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/**
 * Polls until the check passes; for effects that land asynchronously (e.g. $disconnect). The
 * deadline only bounds a check that never passes (kept under the tests' own timeouts): it is no
 * guess at how fast the effect lands, which on a loaded machine with DynamoDB Local took more
 * than the 3 s it once was.
 */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/** The connection id the service gave a client, read from the push API's view of the user. */
export async function connectionIdsOf(stack: LocalStack, userId: string): Promise<string[]> {
  const res = await api(stack, 'GET', `/v1/users/${encodeURIComponent(userId)}`);
  return (res.body.connections as { connectionId: string }[]).map((c) => c.connectionId);
}

/**
 * Stats once every earlier `$disconnect` has landed: stored connections equal live sockets (so
 * each one has begun), and then no handler is running (so each one's memberships are gone too:
 * they are removed alongside the connection counter, and may land after it).
 */
export async function settledStats(
  stack: LocalStack,
): Promise<{ connections: number; users: number; rooms: number }> {
  await eventually(async () => {
    const stats = (await api(stack, 'GET', '/v1/stats')).body;
    if (stats.connections !== stack.gateway.connectionCount) {
      throw new Error(`stored ${stats.connections} connections, ${stack.gateway.connectionCount} live`);
    }
  });
  await stack.gateway.idle();
  return (await api(stack, 'GET', '/v1/stats')).body;
}

/**
 * One HTTP request to the stack sent exactly as given: the request target as written (fetch and
 * curl normalize `.`, `%2E` and `//` away first) and any `Host` header (fetch cannot set it).
 */
export function rawRequest(
  stack: LocalStack,
  method: string,
  target: string,
  headers: Record<string, string> = { authorization: `Bearer ${API_KEY}` },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: stack.port, method, path: target, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}
