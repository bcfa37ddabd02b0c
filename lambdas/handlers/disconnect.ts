import { closeConnection } from '../domain/lifecycle.js';
import { closeDeps, type LifecycleRuntime } from '../runtime.js';
import { websocketRoute } from './wrapper.js';

/** `$disconnect`: forgets the connection and its memberships (best effort on AWS; TTL covers the rest). */
export function createDisconnectHandler(runtime: LifecycleRuntime) {
  const deps = closeDeps(runtime);
  return websocketRoute(runtime, 'disconnect', async (event, { logger }) => {
    const { connectionId, disconnectStatusCode, disconnectReason } = event.requestContext;
    logger.debug('connection closed', { disconnectStatusCode, disconnectReason });
    await closeConnection(deps, connectionId);
    return { statusCode: 200 };
  });
}
