import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { matchesApiKey } from '../adapters/auth.js';
import { HTTP_STATUS, METRICS } from '../domain/constants.js';
import { NotFoundError, PayloadTooLargeError, UnauthorizedError, ValidationError } from '../domain/errors.js';
import { quote } from '../domain/input.js';
import {
  connectionId as connectionIdSchema,
  historyQuery,
  pageQuery,
  parseJson,
  pushBatchBody,
  pushBody,
  pushIdempotencyKey,
  roomMemberBody,
  roomName,
  userId as userIdSchema,
  validate,
} from '../domain/schemas.js';
import type { Runtime } from '../runtime.js';
import { describeProblem, type HttpResult, httpRoute, type Invocation, json } from './wrapper.js';

/**
 * Largest push request body: a full batch of maximum-size messages fits however its JSON is
 * written. `data` is measured compact, and the same `data` written with `\uXXXX` escapes (as
 * Python's json.dumps writes it) or pretty-printed takes two to three times the bytes: 25 messages
 * of 32 KiB can need about 2.5 MiB. Below Lambda's 6 MB request payload, which on AWS comes first.
 */
const MAX_BODY_BYTES = 5 * 1024 * 1024;

type Params = Record<string, string>;
interface Route {
  method: string;
  /** The route pattern, e.g. `/v1/rooms/{room}`: a bounded metric label. */
  path: string;
  pattern: RegExp;
  names: string[];
  public?: boolean;
  run: (params: Params, event: APIGatewayProxyEventV2, invocation: Invocation) => Promise<HttpResult>;
}

function route(method: string, path: string, run: Route['run'], isPublic = false): Route {
  const names: string[] = [];
  const pattern = new RegExp(
    `^${path.replace(/\{(\w+)\}/g, (_, name: string) => {
      names.push(name);
      return '([^/]+)';
    })}/?$`,
  );
  return { method, path, pattern, names, run, public: isPublic };
}

function bodyOf(event: APIGatewayProxyEventV2): unknown {
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(`request body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  return parseJson(text, 'request body');
}

function param(
  params: Params,
  name: string,
  schema: typeof roomName | typeof userIdSchema | typeof connectionIdSchema,
) {
  let decoded: string;
  try {
    decoded = decodeURIComponent(params[name] ?? '');
  } catch {
    throw new ValidationError(`${name} in path is not valid URL encoding (percent-encode it as UTF-8)`);
  }
  return validate(schema, decoded, `${name} in path`);
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  return event.headers?.[name] ?? event.headers?.[name.toLowerCase()];
}

/** The health check answers 503 after this long, well before the store's own timeouts give up (contract: within 3 s). */
export const HEALTH_BUDGET_MS = 2000;

/** The promise, or a rejection once `ms` have passed (the timer is cleared either way). */
function withinBudget<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  work.catch(() => undefined); // a late failure after the budget is not an unhandled rejection
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** The push HTTP API: every `/v1` route in one handler, behind API-key (or IAM) auth. */
export function createPushHandler(runtime: Runtime, apiKeys: (() => Promise<string[]>) | undefined) {
  const { service } = runtime;

  const routes: Route[] = [
    route(
      'GET',
      '/v1/health',
      async () => {
        try {
          await withinBudget(service.checkHealth(), HEALTH_BUDGET_MS);
          return json(200, { status: 'ok' });
        } catch (error) {
          runtime.observability.logger.error('health check failed', error as Error);
          return json(503, {
            status: 'unavailable',
            failing: 'store',
            message: 'the DynamoDB table cannot be reached',
          });
        }
      },
      true,
    ),
    route('POST', '/v1/push', async (_, event) => {
      const key = header(event, 'Idempotency-Key');
      const idempotencyKey =
        key === undefined ? undefined : validate(pushIdempotencyKey, key, 'Idempotency-Key header');
      const body = validate(pushBody, bodyOf(event), 'push body');
      const { replayed, ...answer } = await service.push(body, idempotencyKey);
      // A fan-out handed to the workers answers 202: accepted, stored, queued, not yet delivered.
      const result =
        answer.queued === undefined
          ? json(200, answer)
          : json(202, {
              messageId: answer.messageId,
              ...(answer.seq === undefined ? {} : { seq: answer.seq }),
              queued: answer.queued,
            });
      if (replayed) result.headers = { ...result.headers, 'idempotent-replayed': 'true' };
      return result;
    }),
    route('POST', '/v1/push/batch', async (_, event, invocation) => {
      const { messages } = validate(pushBatchBody, bodyOf(event), 'batch body');
      const results = await Promise.all(
        messages.map(async (message, index) => {
          try {
            const { replayed, ...answer } = await service.push(
              validate(pushBody, message, `messages.${index}`),
            );
            return replayed ? { ...answer, replayed: true } : answer;
          } catch (error) {
            // One message's failure is that message's answer; the others still go out.
            const problem = describeProblem(error, invocation, runtime);
            return {
              error: {
                code: problem.code,
                message: problem.message,
                status: problem.status ?? HTTP_STATUS[problem.code],
                ...(problem.details ? { details: problem.details } : {}),
              },
            };
          }
        }),
      );
      return json(200, { results });
    }),
    route('GET', '/v1/stats', async () => json(200, await service.stats())),
    route('GET', '/v1/users/{userId}', async (params) =>
      json(200, await service.user(param(params, 'userId', userIdSchema))),
    ),
    route('GET', '/v1/rooms/{room}', async (params, event) => {
      const room = param(params, 'room', roomName);
      const query = validate(pageQuery, event.queryStringParameters ?? {}, 'query');
      const { count, members } = await service.roomMembers(room, query);
      return json(200, {
        room,
        count,
        members: members.items.map((m) => ({
          userId: m.userId,
          connectionId: m.connectionId,
          joinedAt: m.joinedAt,
        })),
        ...(members.nextToken ? { nextToken: members.nextToken } : {}),
      });
    }),
    route('GET', '/v1/rooms/{room}/history', async (params, event) => {
      const room = param(params, 'room', roomName);
      const query = validate(historyQuery, event.queryStringParameters ?? {}, 'query');
      return json(200, { room, ...(await service.history(room, query)) });
    }),
    route('GET', '/v1/rooms/{room}/presence', async (params) =>
      json(200, await service.presence(param(params, 'room', roomName))),
    ),
    route('POST', '/v1/rooms/{room}/members', async (params, event) => {
      const room = param(params, 'room', roomName);
      const { userId } = validate(roomMemberBody, bodyOf(event), 'member body');
      return json(200, { joined: await service.joinUser(room, userId) });
    }),
    route('DELETE', '/v1/rooms/{room}/members/{userId}', async (params) => {
      const room = param(params, 'room', roomName);
      const userId = param(params, 'userId', userIdSchema);
      return json(200, { left: await service.leaveUser(room, userId) });
    }),
    route('DELETE', '/v1/connections/{connectionId}', async (params) => {
      await service.closeConnection(param(params, 'connectionId', connectionIdSchema));
      return { statusCode: 204 };
    }),
    route('DELETE', '/v1/users/{userId}/connections', async (params) => {
      return json(200, {
        disconnected: await service.closeUserConnections(param(params, 'userId', userIdSchema)),
      });
    }),
  ];

  async function authenticate(event: APIGatewayProxyEventV2): Promise<void> {
    if (!apiKeys) return; // IAM: API Gateway has verified the SigV4 signature already.
    const authorization = header(event, 'authorization');
    const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!match?.[1]) throw new UnauthorizedError('send the API key as "Authorization: Bearer <api-key>"');
    if (!matchesApiKey(match[1], await apiKeys())) throw new UnauthorizedError('the API key is not valid');
  }

  return httpRoute(runtime, 'push', async (event, invocation) => {
    const method = event.requestContext.http.method.toUpperCase();
    // HEAD is GET without a body (a load balancer's or monitor's health probe).
    const head = method === 'HEAD';
    const path = event.rawPath;
    const candidates = routes
      .map((r) => ({ r, match: r.pattern.exec(path) }))
      .filter((c): c is { r: Route; match: RegExpExecArray } => c.match !== null);
    const found = candidates.find((c) => c.r.method === (head ? 'GET' : method));
    if (!found?.r.public) await authenticate(event);
    if (!found) {
      const allowed = candidates.map((c) => c.r.method);
      throw new NotFoundError(
        allowed.length > 0
          ? `${quote(method, 16)} is not supported on ${quote(path)}; use ${allowed.join(' or ')}`
          : `no route ${quote(method, 16)} ${quote(path)}; the push API lives under /v1 (see the README)`,
      );
    }
    runtime.observability.sink.count(METRICS.pushRequests, 1, { route: `${found.r.method} ${found.r.path}` });
    const params: Params = Object.fromEntries(
      found.r.names.map((name, i) => [name, found.match[i + 1] ?? '']),
    );
    const answer = await found.r.run(params, event, invocation);
    return head ? { ...answer, body: '' } : answer;
  });
}
