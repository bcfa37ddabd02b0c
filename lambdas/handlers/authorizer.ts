import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import type { TokenVerifier } from '../adapters/auth.js';
import { METRICS, TOKEN_PARAMETER } from '../domain/constants.js';
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

/** What a REQUEST authorizer throws so that API Gateway answers 401 (any other error is a 500). */
export const UNAUTHORIZED = 'Unauthorized';

/** A fault of the authorizer itself (the key or the JWKS could not be read): API Gateway answers 500. */
export class AuthorizerFaultError extends Error {
  override readonly name = 'AuthorizerFaultError';
}

/**
 * The `$connect` REQUEST authorizer. A missing or bad token throws
 * `Unauthorized` (API Gateway answers 401) and counts `AuthFailures`, never
 * `InternalErrors`; an origin outside the stage's list gets a Deny policy (403).
 * A fault of its own (the secret or the JWKS cannot be read) counts
 * `InternalErrors`, which is what its alarm watches: Lambda's `Errors` also
 * counts every refused token, so it cannot tell the two apart.
 */
export function createAuthorizerHandler(
  runtime: Pick<Runtime, 'config' | 'observability'>,
  verify: TokenVerifier,
) {
  const { allowedOrigins, allowNoOrigin } = runtime.config;
  return (event: APIGatewayRequestAuthorizerEvent, context?: Context): Promise<APIGatewayAuthorizerResult> =>
    instrumented(
      runtime,
      'authorizer',
      { requestId: event.requestContext?.requestId },
      context,
      async ({ logger }) => {
        const { sink } = runtime.observability;
        const origin = header(event.headers, 'origin');
        // Browsers always send Origin; clients that send none (servers, CLIs) pass when ALLOW_NO_ORIGIN is on.
        const originRefused = !origin ? !allowNoOrigin : !allowedOrigins.includes(origin);
        if (allowedOrigins.length > 0 && originRefused) {
          sink.count(METRICS.authFailures);
          logger.warn('connection refused', { reason: 'origin not allowed', origin });
          return policy('anonymous', 'Deny', event.methodArn);
        }
        const token = event.queryStringParameters?.[TOKEN_PARAMETER];
        if (!token) {
          sink.count(METRICS.authFailures);
          logger.warn('connection refused', { reason: 'missing token' });
          throw new Error(UNAUTHORIZED);
        }
        try {
          const identity = await verify(token);
          return policy(identity.userId, 'Allow', event.methodArn, {
            userId: identity.userId,
            rooms: JSON.stringify(identity.rooms),
          });
        } catch (error) {
          if (!(error instanceof RoomcastError)) {
            sink.count(METRICS.internalErrors);
            logger.error('token verification failed', error as Error);
            throw new AuthorizerFaultError('the token could not be checked', { cause: error });
          }
          sink.count(METRICS.authFailures);
          logger.warn('connection refused', { reason: error.message });
          throw new Error(UNAUTHORIZED);
        }
      },
    );
}
