import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import type { WsEvent } from '../lambdas/handlers/wrapper.js';

/**
 * Builders of API-Gateway-shaped events, so the local stack feeds the handlers
 * exactly what AWS would.
 */

export interface ApiIdentity {
  apiId: string;
  stage: string;
  domainName: string;
  accountId: string;
  region: string;
}

export interface ConnectionFacts {
  connectionId: string;
  connectedAt: number;
  sourceIp: string;
  userAgent: string;
  authorizer?: Record<string, string | number | boolean>;
}

export function flatHeaders(req: IncomingMessage): Record<string, string> {
  return Object.fromEntries(
    Object.entries(req.headers).flatMap(([name, value]) =>
      value === undefined ? [] : [[name, Array.isArray(value) ? value.join(',') : value]],
    ),
  );
}

/**
 * The query as API Gateway hands it over (`queryStringParameters`): repeated names joined with
 * commas. Gathered in a Map, so that any name (`__proto__`, `constructor`) is just a name.
 */
export function queryOf(url: URL): Record<string, string> | undefined {
  const query = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    const before = query.get(name);
    query.set(name, before === undefined ? value : `${before},${value}`);
  }
  return query.size > 0 ? Object.fromEntries(query) : undefined;
}

function wsContext(api: ApiIdentity, c: ConnectionFacts, routeKey: string, eventType: string) {
  const now = Date.now();
  return {
    routeKey,
    eventType,
    connectionId: c.connectionId,
    connectedAt: c.connectedAt,
    requestId: randomUUID(),
    extendedRequestId: randomUUID(),
    messageDirection: 'IN',
    apiId: api.apiId,
    stage: api.stage,
    domainName: api.domainName,
    requestTimeEpoch: now,
    requestTime: new Date(now).toUTCString(),
    identity: { sourceIp: c.sourceIp, userAgent: c.userAgent },
    ...(c.authorizer
      ? { authorizer: { principalId: String(c.authorizer.userId ?? ''), ...c.authorizer } }
      : {}),
  };
}

export function authorizerEvent(
  api: ApiIdentity,
  c: ConnectionFacts,
  headers: Record<string, string>,
  query: Record<string, string> | undefined,
): APIGatewayRequestAuthorizerEvent {
  const context = wsContext(api, c, '$connect', 'CONNECT');
  return {
    type: 'REQUEST',
    methodArn: `arn:aws:execute-api:${api.region}:${api.accountId}:${api.apiId}/${api.stage}/$connect`,
    headers,
    multiValueHeaders: null,
    queryStringParameters: query ?? null,
    multiValueQueryStringParameters: null,
    requestContext: context,
  } as unknown as APIGatewayRequestAuthorizerEvent;
}

export function connectEvent(
  api: ApiIdentity,
  c: ConnectionFacts,
  headers: Record<string, string>,
  query: Record<string, string> | undefined,
): WsEvent {
  return {
    headers,
    multiValueHeaders: {},
    ...(query ? { queryStringParameters: query } : {}),
    requestContext: wsContext(api, c, '$connect', 'CONNECT'),
    isBase64Encoded: false,
  } as unknown as WsEvent;
}

export function messageEvent(api: ApiIdentity, c: ConnectionFacts, routeKey: string, body: string): WsEvent {
  return {
    body,
    isBase64Encoded: false,
    requestContext: { ...wsContext(api, c, routeKey, 'MESSAGE'), messageId: randomUUID() },
  } as unknown as WsEvent;
}

export function disconnectEvent(api: ApiIdentity, c: ConnectionFacts, code: number, reason: string): WsEvent {
  return {
    headers: {},
    isBase64Encoded: false,
    requestContext: {
      ...wsContext(api, c, '$disconnect', 'DISCONNECT'),
      disconnectStatusCode: code,
      disconnectReason: reason,
    },
  } as unknown as WsEvent;
}

export function httpApiEvent(
  api: ApiIdentity,
  req: IncomingMessage,
  url: URL,
  body: Buffer,
): APIGatewayProxyEventV2 {
  const now = Date.now();
  const headers = flatHeaders(req);
  const query = queryOf(url);
  const text = body.toString('utf8');
  const method = req.method ?? 'GET';
  return {
    version: '2.0',
    routeKey: 'ANY /v1/{proxy+}',
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    ...(query ? { queryStringParameters: query } : {}),
    pathParameters: { proxy: url.pathname.replace(/^\/v1\/?/, '') },
    requestContext: {
      accountId: api.accountId,
      apiId: `${api.apiId}-http`,
      domainName: api.domainName,
      domainPrefix: api.domainName.split('.')[0] ?? api.domainName,
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: 'ANY /v1/{proxy+}',
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    ...(text.length > 0 ? { body: text } : {}),
    isBase64Encoded: false,
  };
}
