/**
 * Where the local gateway and queue behave as API Gateway and SQS do (found by a review of local vs
 * AWS parity): something that works locally must not fail once deployed, nor the reverse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FANOUT_MAX_RECEIVES } from '../../lambdas/domain/constants.js';
import type { FanoutJob } from '../../lambdas/domain/fanout-jobs.js';
import type { LocalStack } from '../../local/stack.js';
import { connectRaw, startTestStack, token } from './harness.js';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({ allowedOrigins: ['https://app.example'] });
});
afterAll(() => stack?.close());

describe('the WebSocket handshake', () => {
  it('chooses no subprotocol: a client that asks for one fails, as on API Gateway (our $connect returns none)', async () => {
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-connect-route-subprotocol.html
    const url = `${stack.urls.websocket}?token=${await token('subprotocol-user')}`;
    const outcome = await new Promise<string>((resolve) => {
      const ws = new WebSocket(url, ['roomcast.v1']);
      ws.once('open', () => {
        resolve(`opened with protocol "${ws.protocol}"`);
        ws.close();
      });
      ws.once('error', (error) => resolve(`failed: ${error.message}`));
    });
    expect(outcome).toBe('failed: Server sent no subprotocol');
  });

  it('answers 401 without running the authorizer when the token is missing or empty (even from a refused origin)', async () => {
    // API Gateway checks the identity source (the token parameter) first: missing or empty is 401.
    for (const url of [stack.urls.websocket, `${stack.urls.websocket}?token=`]) {
      const refused = await connectRaw(url, { origin: 'https://evil.example' }).then(
        () => 'opened',
        (error: { status?: number }) => error.status,
      );
      expect(refused, url).toBe(401);
    }
  });
});

describe('the fan-out queue', () => {
  it('dead-letters a failing job after as many receives as the deployed queue', async () => {
    await stack.fanoutQueue.enqueue([{ kind: 'not-a-job' } as unknown as FanoutJob]);
    await stack.fanoutQueue.idle();
    const dead = stack.fanoutQueue.deadLettered.at(-1);
    expect(dead?.attributes.ApproximateReceiveCount).toBe(String(FANOUT_MAX_RECEIVES));
  });
});
