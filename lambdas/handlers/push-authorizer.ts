import type {
  APIGatewayRequestAuthorizerEventV2,
  APIGatewaySimpleAuthorizerResult,
  Context,
} from 'aws-lambda';
import { bearerToken, matchesApiKey } from '../adapters/auth.js';
import { METRICS } from '../domain/constants.js';
import type { Runtime } from '../runtime.js';
import { AuthorizerFaultError } from './authorizer.js';
import { instrumented } from './wrapper.js';

/**
 * The push API's Lambda authorizer (HTTP API, simple responses, identity
 * source the Authorization header): a request whose Bearer key is not one of
 * the active keys is refused by API Gateway before it reaches the push
 * function, so a flood of bad keys costs neither the function's concurrency nor
 * its work. API Gateway caches each answer per Authorization value for a short
 * time. The push function still checks the key itself (defence in depth, and
 * the only check on the local stack).
 */
export function createPushAuthorizerHandler(
  runtime: Pick<Runtime, 'config' | 'observability'>,
  apiKeys: () => Promise<string[]>,
) {
  return (
    event: APIGatewayRequestAuthorizerEventV2,
    context?: Context,
  ): Promise<APIGatewaySimpleAuthorizerResult> =>
    instrumented(
      runtime,
      'pushAuthorizer',
      { requestId: event.requestContext?.requestId, routeKey: event.routeKey },
      context,
      async ({ logger }) => {
        const { sink } = runtime.observability;
        const presented = bearerToken(event.headers?.authorization);
        if (!presented) {
          sink.count(METRICS.authFailures);
          logger.info('push request refused: no "Authorization: Bearer <api-key>"');
          return { isAuthorized: false };
        }
        let active: string[];
        try {
          active = await apiKeys();
        } catch (error) {
          sink.count(METRICS.internalErrors);
          logger.error('reading the push API keys failed', error as Error);
          throw new AuthorizerFaultError('the API key could not be checked', { cause: error });
        }
        if (!matchesApiKey(presented, active)) {
          sink.count(METRICS.authFailures);
          logger.info('push request refused: the API key is not valid');
          return { isAuthorized: false };
        }
        return { isAuthorized: true };
      },
    );
}
