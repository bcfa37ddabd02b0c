import http from 'node:http';
import https from 'node:https';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ConnectionGateway, PostOutcome } from '../domain/ports.js';
import type { PostToConnection } from './lean-poster.js';
import { ThrottleGate } from './throttle-gate.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 25, maxDelayMs: 1000 };

interface Logger {
  warn(message: string, ...extra: Record<string, unknown>[]): void;
}

export interface GatewayOptions {
  /** Sends one PostToConnection; defaults to the SDK client's command (the lean poster replaces it on hot paths). */
  post?: PostToConnection;
  retry?: RetryPolicy;
  /**
   * The most posts in flight at once (the fan-out's concurrency). Given, posts pass a ThrottleGate
   * that lowers this while the endpoint throttles and raises it back after.
   */
  concurrency?: number;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const RETRYABLE_NAMES = new Set([
  'LimitExceededException',
  'ThrottlingException',
  'TooManyRequestsException',
  'InternalServerErrorException',
  'ServiceUnavailableException',
]);

/** The error's fields, whatever was thrown (a rejection may carry no error at all). */
function fieldsOf(error: unknown): { name?: string; code?: string; $metadata?: { httpStatusCode?: number } } {
  return typeof error === 'object' && error !== null ? error : {};
}

function statusOf(error: unknown): number | undefined {
  return fieldsOf(error).$metadata?.httpStatusCode;
}

function isGone(error: unknown): boolean {
  return fieldsOf(error).name === 'GoneException' || statusOf(error) === 410;
}

const THROTTLED_NAMES = new Set([
  'LimitExceededException',
  'ThrottlingException',
  'TooManyRequestsException',
]);

/** The endpoint throttled the call (429 or a throttling error's name). */
export function isThrottled(error: unknown): boolean {
  return statusOf(error) === 429 || THROTTLED_NAMES.has(fieldsOf(error).name ?? '');
}

/** Throttling, 429 and 5xx are worth another try; anything else (403, 413, ...) is not. */
export function isRetryable(error: unknown): boolean {
  const status = statusOf(error);
  if (RETRYABLE_NAMES.has(fieldsOf(error).name ?? '')) return true;
  if (status === 429 || (status !== undefined && status >= 500)) return true;
  const code = fieldsOf(error).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT';
}

/** Capped exponential backoff with full jitter. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/** A management API client on a keep-alive agent sized for the fan-out's concurrency; our own retries replace the SDK's. */
export function createManagementClient(endpoint: string, region: string, maxSockets: number) {
  return new ApiGatewayManagementApiClient({
    endpoint,
    region,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets }),
      connectionTimeout: 2000,
      requestTimeout: 5000,
      // Without it the request timeout only logs a warning and a stalled GET/DELETE waits for ever.
      throwOnRequestTimeout: true,
    }),
  });
}

/** The ConnectionGateway over API Gateway's `@connections` API. */
export class ManagementApiGateway implements ConnectionGateway {
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly send: PostToConnection;
  private readonly gate: ThrottleGate | undefined;

  constructor(
    private readonly client: Pick<ApiGatewayManagementApiClient, 'send'>,
    private readonly options: GatewayOptions = {},
  ) {
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.gate = options.concurrency === undefined ? undefined : new ThrottleGate(options.concurrency);
    // The SDK sends a string body as it is: one serialized frame serves the whole fan-out, uncopied.
    this.send =
      options.post ??
      (async (connectionId, payload) => {
        await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: payload }));
      });
  }

  async post(connectionId: string, payload: string): Promise<PostOutcome> {
    try {
      await this.withRetries(() => this.gated(connectionId, payload));
      return 'delivered';
    } catch (error) {
      if (isGone(error)) return 'gone';
      this.options.logger?.warn('post to connection failed', {
        connectionId,
        error: fieldsOf(error).name,
        status: statusOf(error),
      });
      return 'failed';
    }
  }

  async close(connectionId: string): Promise<boolean> {
    try {
      await this.withRetries(() =>
        this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId })),
      );
      return true;
    } catch (error) {
      if (isGone(error)) return false;
      throw error;
    }
  }

  /** One attempt of a post, through the gate when there is one. */
  private async gated(connectionId: string, payload: string): Promise<void> {
    const gate = this.gate;
    if (!gate) return this.send(connectionId, payload);
    const entered = gate.enter();
    const ticket = typeof entered === 'number' ? entered : await entered;
    let throttled = false;
    try {
      await this.send(connectionId, payload);
    } catch (error) {
      throttled = isThrottled(error);
      throw error;
    } finally {
      // Whatever the post threw: the slot always goes back.
      const before = gate.current;
      gate.leave(ticket, throttled);
      if (gate.current < before) {
        this.options.logger?.warn('@connections is throttling posts: fewer at once', {
          concurrency: gate.current,
        });
      }
    }
  }

  /** Runs one management call, retrying throttling and 5xx with backoff; gone and other errors end it at once. */
  private async withRetries<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        if (isGone(error) || !isRetryable(error) || attempt + 1 >= this.retry.attempts) throw error;
        await this.sleep(backoffDelay(attempt, this.retry, this.random));
      }
    }
  }
}
