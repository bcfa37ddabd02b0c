import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import type { TokenVerifier } from '../adapters/auth.js';
import { METRICS } from '../domain/constants.js';
import { RoomcastError } from '../domain/errors.js';
import type { Runtime } from '../runtime.js';
import { instrumented } from './wrapper.js';

/** The authorizer context API Gateway hands to every later route of the connection (strings only). */
export interface AuthorizerContext {
  userId: string;
  /** The token's `rooms` claim as a JSON array. */
  rooms: string;
}

function policy(
  principalId: string,
  effect: 'Allow' | 'Deny',
  resource: string,
  context?: AuthorizerContext,
) {
  const result: APIGatewayAuthorizerResult = {
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
    },
  };
  if (context) result.context = { ...context };
  return result;
}

function header(
  headers: Record<string, string | undefined> | null | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/**
 * The `$connect` REQUEST authorizer. A missing or bad token throws
 * `Unauthorized` (API Gateway answers 401); an origin outside the stage's list
 * gets a Deny policy (403).
 */
export function createAuthorizerHandler(
  runtime: Pick<Runtime, 'config' | 'observability'>,
  verify: TokenVerifier,
) {
  const { allowedOrigins } = runtime.config;
  return (event: APIGatewayRequestAuthorizerEvent, context?: Context): Promise<APIGatewayAuthorizerResult> =>
    instrumented(
      runtime,
      'authorizer',
      { requestId: event.requestContext?.requestId },
      context,
      async ({ logger }) => {
        const { sink } = runtime.observability;
        const origin = header(event.headers, 'origin');
        if (allowedOrigins.length > 0 && (!origin || !allowedOrigins.includes(origin))) {
          sink.count(METRICS.authFailures);
          logger.warn('connection refused', { reason: 'origin not allowed', origin });
          return policy('anonymous', 'Deny', event.methodArn);
        }
        const token = event.queryStringParameters?.token;
        if (!token) {
          sink.count(METRICS.authFailures);
          logger.warn('connection refused', { reason: 'missing token' });
          throw new Error('Unauthorized');
        }
        try {
          const identity = await verify(token);
          return policy(identity.userId, 'Allow', event.methodArn, {
            userId: identity.userId,
            rooms: JSON.stringify(identity.rooms),
          });
        } catch (error) {
          sink.count(METRICS.authFailures);
          if (!(error instanceof RoomcastError)) logger.error('token verification failed', error as Error);
          else logger.warn('connection refused', { reason: error.message });
          throw new Error('Unauthorized');
        }
      },
    );
}
