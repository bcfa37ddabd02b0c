import { UnauthorizedError } from '../domain/errors.js';
import { openConnection } from '../domain/lifecycle.js';
import { type ConnectRuntime, openDeps } from '../runtime.js';
import { websocketRoute } from './wrapper.js';

/** `$connect`: runs after the authorizer allowed the handshake; stores the connection. */
export function createConnectHandler(runtime: ConnectRuntime) {
  const deps = openDeps(runtime);
  return websocketRoute(runtime, 'connect', async (event) => {
    const { connectionId, connectedAt, authorizer } = event.requestContext;
    const userId = authorizer?.userId;
    if (typeof userId !== 'string' || userId === '') {
      throw new UnauthorizedError('no authorizer identity on $connect');
    }
    await openConnection(deps, connectionId, userId, connectedAt ?? runtime.clock.now());
    return { statusCode: 200 };
  });
}
