import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  ForbiddenException,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { backoffDelay, isRetryable, ManagementApiGateway } from '../../../lambdas/adapters/gateway.js';

const sdk = mockClient(ApiGatewayManagementApiClient);
const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode }, message: 'x' });

function gateway(sleeps: number[] = []) {
  return new ManagementApiGateway(new ApiGatewayManagementApiClient({ region: 'us-east-1' }), {
    retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
  });
}

beforeEach(() => sdk.reset());

describe('ManagementApiGateway.post', () => {
  it('retries throttling with backoff, then delivers', async () => {
    sdk
      .on(PostToConnectionCommand)
      .rejectsOnce(new LimitExceededException(meta(429)))
      .rejectsOnce(Object.assign(new Error('bad gateway'), { name: 'InternalError', ...meta(502) }))
      .resolves({});
    const sleeps: number[] = [];

    expect(await gateway(sleeps).post('c1', '{"a":1}')).toBe('delivered');

    expect(sdk.commandCalls(PostToConnectionCommand)).toHaveLength(3);
    expect(sleeps).toEqual([5, 10]);
    const input = sdk.commandCalls(PostToConnectionCommand)[0]?.args[0].input;
    expect(input?.ConnectionId).toBe('c1');
    expect(Buffer.from(input?.Data as Uint8Array).toString()).toBe('{"a":1}');
  });

  it('answers gone for a 410 without retrying', async () => {
    sdk.on(PostToConnectionCommand).rejects(new GoneException(meta(410)));
    expect(await gateway().post('c1', 'x')).toBe('gone');
    expect(sdk.commandCalls(PostToConnectionCommand)).toHaveLength(1);
  });

  it('answers failed for a non-retryable error at once', async () => {
    sdk.on(PostToConnectionCommand).rejects(new ForbiddenException(meta(403)));
    expect(await gateway().post('c1', 'x')).toBe('failed');
    expect(sdk.commandCalls(PostToConnectionCommand)).toHaveLength(1);
  });

  it('answers failed once the retries are spent', async () => {
    sdk.on(PostToConnectionCommand).rejects(new LimitExceededException(meta(429)));
    expect(await gateway().post('c1', 'x')).toBe('failed');
    expect(sdk.commandCalls(PostToConnectionCommand)).toHaveLength(3);
  });
});

describe('ManagementApiGateway.close', () => {
  it('closes a live connection and reports a gone one as false', async () => {
    sdk.on(DeleteConnectionCommand, { ConnectionId: 'live' }).resolves({});
    sdk.on(DeleteConnectionCommand, { ConnectionId: 'gone' }).rejects(new GoneException(meta(410)));
    expect(await gateway().close('live')).toBe(true);
    expect(await gateway().close('gone')).toBe(false);
  });
});

describe('retry policy', () => {
  it('retries throttling, 429 and 5xx but not 4xx', () => {
    expect(isRetryable(new LimitExceededException(meta(429)))).toBe(true);
    expect(isRetryable({ name: 'X', ...meta(503) })).toBe(true);
    // A 429 by its status alone (a proxy in between, an error the SDK does not name).
    expect(isRetryable({ name: 'Unknown', ...meta(429) })).toBe(true);
    expect(isRetryable({ name: 'X', ...meta(400) })).toBe(false);
    expect(isRetryable(new ForbiddenException(meta(403)))).toBe(false);
  });

  it('caps the exponential delay and applies full jitter', () => {
    const policy = { attempts: 10, baseDelayMs: 10, maxDelayMs: 100 };
    expect(backoffDelay(0, policy, () => 0.999)).toBe(9);
    expect(backoffDelay(8, policy, () => 0.999)).toBe(99);
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
  });
});
