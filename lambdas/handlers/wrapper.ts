import type { Logger } from '@aws-lambda-powertools/logger';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  APIGatewayProxyWebsocketEventV2,
  Context,
} from 'aws-lambda';
import { HTTP_STATUS, METRICS } from '../domain/constants.js';
import { type ErrorDetail, RateLimitedError, RoomcastError, UnavailableError } from '../domain/errors.js';
import { errorFrame } from '../domain/frames.js';
import { boundedProblem, frameIdOf } from '../domain/input.js';
import type { Runtime } from '../runtime.js';

/** A WebSocket event as API Gateway sends it once a Lambda authorizer has run. */
export type WsEvent = APIGatewayProxyWebsocketEventV2 & {
  requestContext: APIGatewayProxyWebsocketEventV2['requestContext'] & {
    authorizer?: Record<string, string | number | boolean | undefined> | null;
    identity?: { sourceIp?: string; userAgent?: string };
    disconnectStatusCode?: number;
    disconnectReason?: string;
  };
};

export type WsResult = { statusCode: number; body?: string };
export type HttpResult = APIGatewayProxyStructuredResultV2;

export interface Invocation {
  logger: Logger;
  requestId: string;
}

const OK: WsResult = { statusCode: 200 };

/** Anything that is not a RoomcastError is an internal fault: logged in full, answered in general words. */
export function describeProblem(
  error: unknown,
  invocation: Invocation,
  runtime: Pick<Runtime, 'observability'>,
) {
  const { sink } = runtime.observability;
  if (error instanceof UnavailableError) {
    // Ours, not the caller's (a dependency is down), but the message is fit to show: retry later.
    sink.count(METRICS.internalErrors);
    invocation.logger.warn('dependency unavailable', { reason: error.message, cause: String(error.cause) });
    return {
      code: error.code,
      message: error.message,
      details: undefined,
      retryAfterMs: undefined,
      status: 503,
    };
  }
  if (error instanceof RoomcastError) {
    sink.count(error.code === 'VALIDATION_ERROR' ? METRICS.validationErrors : METRICS.clientErrors);
    // Messages may quote input: cut so that any error frame or body stays under 1 KiB.
    const { message, details } = boundedProblem(error.message, error.details);
    invocation.logger.info('request refused', { code: error.code, reason: message });
    const retryAfterMs = error instanceof RateLimitedError ? error.retryAfterMs : undefined;
    return { code: error.code, message, details, retryAfterMs, status: undefined };
  }
  sink.count(METRICS.internalErrors);
  invocation.logger.error('request failed', error as Error);
  return {
    code: 'INTERNAL' as const,
    message: `something went wrong on our side; quote request id ${invocation.requestId} when reporting it`,
    details: undefined as ErrorDetail[] | undefined,
    retryAfterMs: undefined,
    status: undefined,
  };
}

export async function instrumented<T>(
  runtime: Pick<Runtime, 'observability' | 'events'>,
  name: string,
  keys: Record<string, unknown>,
  context: Context | undefined,
  body: (invocation: Invocation) => Promise<T>,
): Promise<T> {
  const { logger: root, metrics } = runtime.observability;
  const logger = root.createChild({ persistentKeys: { handler: name, ...keys } });
  if (context) logger.addContext(context);
  try {
    return await body({ logger, requestId: String(keys.requestId ?? 'unknown') });
  } finally {
    // Events to backends still being sent: waited for a bounded time, after the answer, before Lambda freezes.
    await runtime.events?.settle();
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}

/**
 * The one wrapper for WebSocket routes: log context, metrics flush, and every
 * error turned into the contract's error frame, returned as the route's answer
 * (two-way routes). The route always answers 200 so the connection stays open.
 */
export function websocketRoute(
  runtime: Pick<Runtime, 'observability' | 'events'>,
  name: string,
  handle: (event: WsEvent, invocation: Invocation) => Promise<WsResult | undefined>,
) {
  return (event: WsEvent, context?: Context): Promise<WsResult> => {
    const { connectionId, requestId, routeKey } = event.requestContext;
    return instrumented(runtime, name, { connectionId, requestId, routeKey }, context, async (invocation) => {
      try {
        return (await handle(event, invocation)) ?? OK;
      } catch (error) {
        const problem = describeProblem(error, invocation, runtime);
        if (event.requestContext.eventType !== 'MESSAGE') {
          return { statusCode: problem.status ?? HTTP_STATUS[problem.code] };
        }
        const frame = errorFrame(frameIdOf(event.body), problem.code, problem.message, problem.retryAfterMs);
        // The route's answer (two-way routes): no PostToConnection for an error either.
        return { statusCode: 200, body: JSON.stringify(frame) };
      }
    });
  };
}

export function json(statusCode: number, body: unknown): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

/**
 * The same wrapper for HTTP API (payload v2) routes: errors become the
 * contract's error body with the matching status.
 */
export function httpRoute(
  runtime: Runtime,
  name: string,
  handle: (event: APIGatewayProxyEventV2, invocation: Invocation) => Promise<HttpResult>,
) {
  return (event: APIGatewayProxyEventV2, context?: Context): Promise<HttpResult> => {
    const { requestId, http } = event.requestContext;
    return instrumented(
      runtime,
      name,
      { requestId, method: http.method, path: event.rawPath },
      context,
      async (invocation) => {
        try {
          return await handle(event, invocation);
        } catch (error) {
          const problem = describeProblem(error, invocation, runtime);
          return json(problem.status ?? HTTP_STATUS[problem.code], {
            error: {
              code: problem.code,
              message: problem.message,
              ...(problem.details ? { details: problem.details } : {}),
              timestamp: new Date(runtime.clock.now()).toISOString(),
              requestId,
            },
          });
        }
      },
    );
  };
}
