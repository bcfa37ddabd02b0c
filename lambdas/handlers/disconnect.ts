import type { Runtime } from '../runtime.js';
import { websocketRoute } from './wrapper.js';

/** `$disconnect`: forgets the connection and its memberships (best effort on AWS; TTL covers the rest). */
export function createDisconnectHandler(runtime: Runtime) {
  return websocketRoute(runtime, 'disconnect', async (event, { logger }) => {
    const { connectionId, disconnectStatusCode, disconnectReason } = event.requestContext;
    logger.debug('connection closed', { disconnectStatusCode, disconnectReason });
    await runtime.service.disconnect(connectionId);
    return { statusCode: 200 };
  });
}
