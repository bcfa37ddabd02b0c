import { UnauthorizedError } from '../domain/errors.js';
import type { Runtime } from '../runtime.js';
import { websocketRoute } from './wrapper.js';

/** `$connect`: runs after the authorizer allowed the handshake; stores the connection. */
export function createConnectHandler(runtime: Runtime) {
  return websocketRoute(runtime, 'connect', async (event) => {
    const { connectionId, connectedAt, authorizer } = event.requestContext;
    const userId = authorizer?.userId;
    if (typeof userId !== 'string' || userId === '') {
      throw new UnauthorizedError('no authorizer identity on $connect');
    }
    await runtime.service.connect(connectionId, userId, connectedAt ?? runtime.clock.now());
    return { statusCode: 200 };
  });
}
