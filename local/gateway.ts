import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '@aws-lambda-powertools/logger';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEventV2,
  APIGatewayRequestAuthorizerEvent,
} from 'aws-lambda';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { ACTION_ROUTES, ROUTE_KEYS, TOKEN_PARAMETER } from '../lambdas/domain/constants.js';
import { quote } from '../lambdas/domain/input.js';
import type { HttpResult, WsEvent, WsResult } from '../lambdas/handlers/wrapper.js';
import {
  type ApiIdentity,
  authorizerEvent,
  type ConnectionFacts,
  connectEvent,
  disconnectEvent,
  flatHeaders,
  httpApiEvent,
  messageEvent,
  queryOf,
} from './events.js';

/** The handler functions the gateway invokes, as Lambda would. */
export interface GatewayHandlers {
  authorizer(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult>;
  connect(event: WsEvent): Promise<WsResult>;
  disconnect(event: WsEvent): Promise<WsResult>;
  message(event: WsEvent): Promise<WsResult>;
  push(event: APIGatewayProxyEventV2): Promise<HttpResult>;
}

/**
 * An extra HTTP route of the local stack (the demo page, the dashboard, /metrics):
 * answers the request and returns true, or returns false to pass it on.
 */
export type LocalRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface GatewayLimits {
  maxMessageBytes: number;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
}

/**
 * A benchmark mode of `@connections`: every POST answers after `postDelayMs` (API Gateway's own
 * latency, ~15 ms on AWS, instead of loopback's ~0), and ids starting with `virtualPrefix` are
 * connections that need no socket (a POST to one is accepted and counted), so rooms of 100,000
 * can be measured on one machine. Off unless a benchmark asks for it.
 */
export interface ConnectionsEmulation {
  postDelayMs: number;
  virtualPrefix?: string;
  /**
   * A throttled endpoint: a POST that finds this many already being answered gets 429
   * `LimitExceededException` at once (with `postDelayMs`, a rate limit of about
   * maxConcurrentPosts / postDelayMs).
   */
  maxConcurrentPosts?: number;
}

interface LiveConnection extends ConnectionFacts {
  ws: WebSocket;
  lastActiveAt: number;
  timers: NodeJS.Timeout[];
}

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
};
const CONNECTIONS_PATH = /^(?:\/[^/@]+)?\/@connections\/([^/]+)\/?$/;

function newConnectionId(): string {
  // API Gateway's ids look like "L0SM9cOFvHcCIhw=": 16 characters, URL-safe here.
  return `${randomBytes(11).toString('base64url')}=`;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** An AWS-shaped error answer of the management API; the SDK reads the error type from the header. */
/**
 * The request's path and query, read as a path whatever it starts with: `new URL('//a:b/x', base)`
 * would read `a:b` as a host (and throw on it). Undefined when it is not a path at all.
 */
function requestTarget(req: IncomingMessage): URL | undefined {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return undefined;
  try {
    return new URL(`http://localhost${target}`);
  } catch {
    return undefined;
  }
}

function awsError(res: ServerResponse, status: number, type: string, message: string): void {
  send(res, status, { message }, { 'x-amzn-errortype': type });
}

function rejectUpgrade(socket: Duplex, status: number): void {
  const body = JSON.stringify({ message: STATUS_TEXT[status] ?? 'Error' });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * The local API Gateway: one HTTP server that is the WebSocket API (with the
 * authorizer and `$connect` run before the handshake completes), the
 * `@connections` management endpoint, and the push HTTP API.
 */
export class LocalGateway {
  readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly live = new Map<string, LiveConnection>();
  private readonly inflight = new Set<Promise<unknown>>();
  private virtualPosts = 0;
  private postsAnswering = 0;
  private throttledPosts = 0;
  private managementPosts = 0;

  constructor(
    private readonly api: ApiIdentity,
    private readonly handlers: () => GatewayHandlers,
    private readonly limits: GatewayLimits,
    private readonly logger: Logger,
    private readonly routes: readonly LocalRoute[] = [],
    private readonly emulation: ConnectionsEmulation = { postDelayMs: 0 },
  ) {
    // Frames above the limit still reach the handler, which answers PAYLOAD_TOO_LARGE; far larger ones close the socket.
    // No subprotocol is chosen: API Gateway picks one only when `$connect` returns the header, and
    // ours returns none, so a client that asks for one fails its handshake there as here.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: limits.maxMessageBytes * 4,
      handleProtocols: () => false,
    });
    this.server = createServer((req, res) => {
      this.track(this.onRequest(req, res)).catch((error: Error) => {
        this.logger.error('local gateway request failed', error);
        if (!res.headersSent) send(res, 500, { message: 'Internal server error' });
      });
    });
    this.server.on('upgrade', (req, socket, head) => {
      this.track(this.onUpgrade(req, socket, head)).catch((error: Error) => {
        this.logger.error('local gateway handshake failed', error);
        rejectUpgrade(socket, 500);
      });
    });
  }

  get connectionCount(): number {
    return this.live.size;
  }

  /** `POST @connections/{id}` requests received (PostToConnection calls), of any outcome. */
  get postsReceived(): number {
    return this.managementPosts;
  }

  /** Posts answered 429 because of `maxConcurrentPosts` (see ConnectionsEmulation). */
  get throttledDeliveries(): number {
    return this.throttledPosts;
  }

  /** Posts accepted for virtual connections (see ConnectionsEmulation). */
  get virtualDeliveries(): number {
    return this.virtualPosts;
  }

  /** The first `limit` open connections (id, user, connected at), for the local dashboard. */
  openConnections(limit: number): { connectionId: string; userId: string; connectedAt: number }[] {
    const out: { connectionId: string; userId: string; connectedAt: number }[] = [];
    for (const c of this.live.values()) {
      if (out.length >= limit) break;
      out.push({
        connectionId: c.connectionId,
        userId: String(c.authorizer?.userId ?? ''),
        connectedAt: c.connectedAt,
      });
    }
    return out;
  }

  /** Resolves once no handler work ($connect, frames, $disconnect) is in flight; tests wait on it. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Closes every connection (running `$disconnect` for each) and waits for work in flight. */
  async shutdown(): Promise<void> {
    for (const connection of this.live.values()) connection.ws.close(1001, 'Going away');
    const deadline = Date.now() + 5000;
    while ((this.live.size > 0 || this.inflight.size > 0) && Date.now() < deadline) {
      await Promise.allSettled([...this.inflight]);
      if (this.live.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const connection of this.live.values()) connection.ws.terminate();
    this.wss.close();
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    const done = () => this.inflight.delete(work);
    work.then(done, done);
    return work;
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = requestTarget(req);
    if (!url || (url.pathname !== '/' && url.pathname !== `/${this.api.stage}`)) {
      rejectUpgrade(socket, 404);
      return;
    }
    const headers = flatHeaders(req);
    const query = queryOf(url);
    const facts: ConnectionFacts = {
      connectionId: newConnectionId(),
      connectedAt: Date.now(),
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      userAgent: headers['user-agent'] ?? '',
    };
    // The authorizer's identity source: missing or empty, API Gateway answers 401 without calling it.
    if (!query?.[TOKEN_PARAMETER]) {
      rejectUpgrade(socket, 401);
      return;
    }
    const handlers = this.handlers();
    let allowed: APIGatewayAuthorizerResult;
    try {
      allowed = await handlers.authorizer(authorizerEvent(this.api, facts, headers, query));
    } catch (error) {
      // A Lambda authorizer that throws "Unauthorized" makes API Gateway answer 401; anything else is a 500.
      rejectUpgrade(socket, (error as Error).message === 'Unauthorized' ? 401 : 500);
      return;
    }
    const effect = allowed.policyDocument.Statement.find((s) => 'Effect' in s)?.Effect;
    if (effect !== 'Allow') {
      rejectUpgrade(socket, 403);
      return;
    }
    facts.authorizer = Object.fromEntries(
      Object.entries(allowed.context ?? {}).filter(([, v]) => v !== undefined && v !== null),
    ) as Record<string, string | number | boolean>;
    const connected = await handlers.connect(connectEvent(this.api, facts, headers, query));
    if (connected.statusCode < 200 || connected.statusCode >= 300) {
      rejectUpgrade(socket, connected.statusCode);
      return;
    }
    const gone = (reason: string) =>
      this.track(handlers.disconnect(disconnectEvent(this.api, facts, 1006, reason))).catch((error: Error) =>
        this.logger.error('$disconnect failed', error),
      );
    if (socket.destroyed || !socket.readable || !socket.writable) {
      // The client gave up during $connect: API Gateway would run $disconnect.
      socket.destroy();
      await gone('Client went away during $connect');
      return;
    }
    // ws drops a socket that closes mid-upgrade without calling back; $disconnect must still run.
    let adopted = false;
    socket.once('close', () => {
      if (!adopted) void gone('Client went away during the handshake');
    });
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      adopted = true;
      this.adopt(ws, facts);
    });
  }

  private adopt(ws: WebSocket, facts: ConnectionFacts): void {
    const connection: LiveConnection = { ...facts, ws, lastActiveAt: Date.now(), timers: [] };
    this.live.set(facts.connectionId, connection);
    const idle = () => ws.close(1001, 'Going away: idle timeout');
    let idleTimer = setTimeout(idle, this.limits.idleTimeoutMs);
    const lifetime = setTimeout(
      () => ws.close(1001, 'Going away: connection lifetime reached'),
      this.limits.maxLifetimeMs,
    );
    connection.timers.push(lifetime);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(idle, this.limits.idleTimeoutMs);
      connection.lastActiveAt = Date.now();
      if (isBinary) {
        // As API Gateway: WebSocket APIs take no binary frames; the client is disconnected with 1003.
        ws.close(1003, 'Binary frames are not supported');
        return;
      }
      const body = Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Buffer.concat(data as Buffer[]).toString('utf8');
      this.track(this.dispatch(connection, body)).catch((error: Error) =>
        this.logger.error('message route failed', error),
      );
    });
    ws.on('close', (code: number, reason: Buffer) => {
      clearTimeout(idleTimer);
      for (const timer of connection.timers) clearTimeout(timer);
      this.live.delete(facts.connectionId);
      this.track(this.handlers().disconnect(disconnectEvent(this.api, facts, code, reason.toString()))).catch(
        (error: Error) => this.logger.error('$disconnect failed', error),
      );
    });
    // ws reports what the client did wrong (bad UTF-8, a frame over maxPayload) and closes the socket:
    // the client's fault, so INFO without a stack.
    ws.on('error', (error: Error & { code?: string }) =>
      this.logger.info('websocket closed: the client broke the protocol', {
        connectionId: facts.connectionId,
        reason: error.message,
        code: error.code,
      }),
    );
  }

  private async dispatch(connection: LiveConnection, body: string): Promise<void> {
    // Route selection on $request.body.action, as API Gateway does it.
    let routeKey: string = ROUTE_KEYS.default;
    try {
      const action = (JSON.parse(body) as { action?: unknown })?.action;
      if (typeof action === 'string' && (ACTION_ROUTES as readonly string[]).includes(action))
        routeKey = action;
    } catch {
      // not JSON: $default
    }
    const answer = await this.handlers().message(messageEvent(this.api, connection, routeKey, body));
    // Every message route is two-way (it has a route response): API Gateway sends the integration's
    // returned body to the client as one text frame.
    if (
      typeof answer.body === 'string' &&
      answer.body !== '' &&
      connection.ws.readyState === WebSocket.OPEN
    ) {
      connection.ws.send(answer.body);
    }
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestTarget(req);
    if (!url) {
      send(res, 400, { message: 'Bad Request' });
      return;
    }
    const management = CONNECTIONS_PATH.exec(url.pathname);
    if (management?.[1]) {
      let connectionId: string;
      try {
        connectionId = decodeURIComponent(management[1]);
      } catch {
        awsError(res, 400, 'BadRequestException', 'Invalid connectionId');
        return;
      }
      await this.manage(req, res, connectionId);
      return;
    }
    if (url.pathname === '/v1' || url.pathname.startsWith('/v1/')) {
      const body = await readBody(req, 10 * 1024 * 1024);
      if (!body) {
        send(res, 413, { message: 'Request Entity Too Large' });
        return;
      }
      const answer = await this.handlers().push(httpApiEvent(this.api, req, url, body));
      const headers = Object.fromEntries(
        Object.entries(answer.headers ?? {}).map(([k, v]) => [k, String(v)]),
      );
      res.writeHead(answer.statusCode ?? 200, headers);
      res.end(answer.body ?? '');
      return;
    }
    for (const route of this.routes) {
      if (await route(req, res, url)) return;
    }
    send(res, 404, {
      error: {
        code: 'NOT_FOUND',
        message: `no route ${req.method} ${quote(url.pathname)}; WebSocket clients connect to ws://host:port/?token=..., backends call /v1/...`,
        timestamp: new Date().toISOString(),
        requestId: 'local',
      },
    });
  }

  /** Answers one accepted POST (after the emulated latency, when there is one). */
  private async post(res: ServerResponse, connectionId: string, body: Buffer): Promise<void> {
    if (this.emulation.postDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.emulation.postDelayMs));
    }
    const { virtualPrefix } = this.emulation;
    if (virtualPrefix && connectionId.startsWith(virtualPrefix)) {
      this.virtualPosts += 1;
      send(res, 200);
      return;
    }
    // Looked up after the delay: a connection closed meanwhile is gone, as on API Gateway.
    const connection = this.live.get(connectionId);
    if (!connection || connection.ws.readyState !== WebSocket.OPEN) {
      awsError(res, 410, 'GoneException', `connection ${connectionId} is gone`);
      return;
    }
    connection.ws.send(body.toString('utf8'));
    send(res, 200);
  }

  /** The `@connections/{id}` management API, with API Gateway's status codes and error headers. */
  private async manage(req: IncomingMessage, res: ServerResponse, connectionId: string): Promise<void> {
    const connection = this.live.get(connectionId);
    const open = connection && connection.ws.readyState === WebSocket.OPEN;
    switch (req.method) {
      case 'POST': {
        this.managementPosts += 1;
        const body = await readBody(req, this.limits.maxMessageBytes);
        if (!body) {
          awsError(res, 413, 'PayloadTooLargeException', 'Message too long');
          return;
        }
        const { maxConcurrentPosts } = this.emulation;
        if (maxConcurrentPosts !== undefined && this.postsAnswering >= maxConcurrentPosts) {
          this.throttledPosts += 1;
          awsError(res, 429, 'LimitExceededException', 'Rate exceeded');
          return;
        }
        this.postsAnswering += 1;
        try {
          await this.post(res, connectionId, body);
        } finally {
          this.postsAnswering -= 1;
        }
        return;
      }
      case 'GET':
        if (!open) {
          awsError(res, 410, 'GoneException', `connection ${connectionId} is gone`);
          return;
        }
        send(res, 200, {
          connectedAt: new Date(connection.connectedAt).toISOString(),
          identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
          lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
        });
        return;
      case 'DELETE':
        if (!open) {
          awsError(res, 410, 'GoneException', `connection ${connectionId} is gone`);
          return;
        }
        connection.ws.close(1000, 'Closed by the service');
        send(res, 204);
        return;
      default:
        awsError(res, 405, 'MethodNotAllowedException', `${req.method} is not supported on @connections`);
    }
  }
}
