import { METRICS } from '../domain/constants.js';
import { UnauthorizedError } from '../domain/errors.js';
import { parseClientFrame } from '../domain/schemas.js';
import type { Caller } from '../domain/service.js';
import * as z from '../domain/zod.js';
import type { Runtime } from '../runtime.js';
import { type WsEvent, websocketRoute } from './wrapper.js';

const roomsClaim = z.array(z.string());

async function callerOf(event: WsEvent, runtime: Runtime): Promise<Caller> {
  const { connectionId, connectedAt, authorizer } = event.requestContext;
  if (typeof authorizer?.userId === 'string') {
    const rooms = roomsClaim.safeParse(JSON.parse(String(authorizer.rooms ?? '[]')));
    return {
      connectionId,
      userId: authorizer.userId,
      rooms: rooms.success ? rooms.data : [],
      ...(typeof connectedAt === 'number' ? { connectedAt } : {}),
    };
  }
  // Without an authorizer context, fall back to the stored connection (no private rooms then).
  const stored = await runtime.store.getConnection(connectionId);
  if (!stored) throw new UnauthorizedError('this connection is not known; reconnect with a token');
  return { connectionId, userId: stored.userId, rooms: [] };
}

/** `join`, `leave`, `send`, `direct`, `ping` and `$default`: one handler, routed by the frame's action. */
export function createMessageHandler(runtime: Runtime) {
  return websocketRoute(runtime, 'message', async (event, { logger }) => {
    runtime.observability.sink.count(METRICS.messagesIn, 1, { action: event.requestContext.routeKey });
    const frame = parseClientFrame(event.body, runtime.config.maxMessageBytes);
    const caller = await callerOf(event, runtime);
    const answer = await runtime.service.handleFrame(frame, caller);
    logger.debug('frame handled', { action: frame.action });
    // Every message route is two-way: API Gateway sends this body to the client as the answer,
    // so answering a frame costs no PostToConnection.
    return { statusCode: 200, body: JSON.stringify(answer) };
  });
}
