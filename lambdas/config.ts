// zod/mini: the same validation as the rest of the code, a quarter of the bundle; the two
// authorizers import nothing else of zod, so their bundles stay small.
import * as z from 'zod/mini';
import { LIMITS } from './domain/constants.js';

const csv = z.pipe(
  z.optional(z.string()),
  z.transform((value: string | undefined) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  ),
);
const text = (message = 'must not be empty') => z.string().check(z.minLength(1, message));
const url = () => z.url({ error: 'must be a URL' });
/** A whole number, from the variable's text; `min` and the default as given. */
const wholeNumber = (min: number, fallback: number, max?: number) =>
  z._default(
    z.pipe(
      z.coerce.number({ error: 'must be a number' }),
      z
        .int({ error: 'must be a whole number' })
        .check(
          z.gte(min, `must be ${min} or more`),
          ...(max === undefined ? [] : [z.lte(max, `must be ${max} or less`)]),
        ),
    ),
    fallback,
  );
const positiveInt = (fallback: number) => wholeNumber(1, fallback);
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.join(', ')}` });

/**
 * Every environment variable a roomcast handler reads, validated once at cold
 * start. Nothing else in the code reads `process.env`.
 */
export const environmentSchema = z
  .object({
    TABLE_NAME: z.optional(text()),
    CONNECTIONS_ENDPOINT: z.optional(url()),
    AWS_REGION: z._default(text(), 'us-east-1'),
    DYNAMODB_ENDPOINT: z.optional(url()),
    // Every DynamoDB call is bounded: worst case attempts × (connect + request) + backoff < the Lambda timeouts (10 s).
    DYNAMODB_CONNECT_TIMEOUT_MS: positiveInt(1000),
    DYNAMODB_REQUEST_TIMEOUT_MS: positiveInt(2500),
    DYNAMODB_MAX_ATTEMPTS: wholeNumber(1, 2, 5),
    JWT_SECRET: z.optional(text()),
    JWT_SECRET_ARN: z.optional(text()),
    JWT_ISSUER: z.optional(text()),
    JWT_AUDIENCE: z.optional(text()),
    JWT_JWKS_URL: z.optional(url()),
    ALLOWED_ORIGINS: csv,
    /** With ALLOWED_ORIGINS set: whether clients that send no Origin (servers, SDKs in Node, CLIs) may connect. */
    ALLOW_NO_ORIGIN: z._default(z.stringbool({ error: 'must be true or false' }), true),
    /** Per-connection limit of send and direct: sustained frames per second (0: off) and burst. */
    RATE_LIMIT_PER_SECOND: z._default(
      z.pipe(
        z
          .string()
          .check(z.regex(/^[0-9]+(\.[0-9]+)?$/, 'a number of frames per second; 0 turns the limit off')),
        z.transform(Number),
      ),
      20,
    ),
    RATE_LIMIT_BURST: positiveInt(40),
    PUSH_AUTH: z._default(oneOf(['apikey', 'iam']), 'apikey'),
    PUSH_API_KEYS: csv,
    PUSH_API_KEYS_SECRET_ARN: z.optional(text()),
    MAX_DATA_BYTES: positiveInt(LIMITS.defaultMaxDataBytes),
    MAX_MESSAGE_BYTES: positiveInt(LIMITS.maxMessageBytes),
    FANOUT_CONCURRENCY: positiveInt(64),
    /** Fan-outs to more connections than this go to the workers (SQS on AWS). */
    INLINE_FANOUT_LIMIT: positiveInt(2000),
    /** Connections per post job of a queued fan-out. */
    FANOUT_JOB_SIZE: positiveInt(1000),
    /** Members a room has before its memberships are spread over several partitions. */
    ROOM_SPLIT_AFTER: positiveInt(2000),
    /**
     * How long the reconciliation waits between its two looks at the table: longer than any
     * function can be between writing an item and moving its counters (the longest timeout, 60 s).
     */
    RECONCILE_SETTLE_MS: positiveInt(70_000),
    FANOUT_QUEUE_URL: z.optional(url()),
    /**
     * At most a day (API Gateway closes connections after 2 hours): well under the week a room's
     * counters live untouched, so its #META, and the mark that it is split, outlive its memberships.
     */
    CONNECTION_TTL_SECONDS: wholeNumber(1, LIMITS.connectionTtlSeconds, 24 * 3600),
    HISTORY_TTL_SECONDS: wholeNumber(0, LIMITS.historyTtlSeconds),
    MAILBOX_TTL_SECONDS: wholeNumber(0, LIMITS.mailboxTtlSeconds),
    SECRET_CACHE_SECONDS: wholeNumber(0, 300),
    POWERTOOLS_SERVICE_NAME: z._default(z.string(), 'roomcast'),
    POWERTOOLS_METRICS_NAMESPACE: z._default(z.string(), 'Roomcast'),
    LOG_LEVEL: z._default(oneOf(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']), 'INFO'),
    /** The EventBridge bus (name or ARN) events to backends go to; absent: events are off. */
    EVENT_BUS_NAME: z.optional(text()),
    EVENT_SOURCE: z._default(text(), 'roomcast.local'),
    /** Longest a request waits for the event publisher before going on without it. */
    EVENT_TIMEOUT_MS: positiveInt(1000),
  })
  .check(
    z.superRefine((env, ctx) => {
      const oidc = [env.JWT_ISSUER, env.JWT_AUDIENCE, env.JWT_JWKS_URL].filter(Boolean).length;
      if (oidc !== 0 && oidc !== 3) {
        ctx.addIssue({
          code: 'custom',
          message: 'JWT_ISSUER, JWT_AUDIENCE and JWT_JWKS_URL go together',
          input: env,
        });
      }
    }),
  );

export type ClientAuthConfig =
  | { mode: 'secret'; secret: string }
  | { mode: 'secret-arn'; secretArn: string }
  | { mode: 'oidc'; issuer: string; audience: string; jwksUrl: string };

export type PushAuthConfig =
  | { mode: 'iam' }
  | { mode: 'keys'; keys: string[] }
  | { mode: 'keys-arn'; secretArn: string };

export interface Config {
  /** Required by every handler but the authorizer. */
  tableName: string | undefined;
  region: string;
  dynamoEndpoint: string | undefined;
  dynamoTimeouts: { connectMs: number; requestMs: number; maxAttempts: number };
  connectionsEndpoint: string | undefined;
  clientAuth: ClientAuthConfig | undefined;
  allowedOrigins: string[];
  allowNoOrigin: boolean;
  rateLimit: { perSecond: number; burst: number };
  pushAuth: PushAuthConfig | undefined;
  maxDataBytes: number;
  maxMessageBytes: number;
  fanoutConcurrency: number;
  inlineFanoutLimit: number;
  fanoutJobSize: number;
  /** Members a room has before its memberships are spread over several partitions. */
  roomSplitAfter: number;
  /** The reconciliation's wait between its two looks at the table. */
  reconcileSettleMs: number;
  /** The SQS queue of the fan-out workers; absent: every fan-out runs inline (unless a queue is given). */
  fanoutQueueUrl: string | undefined;
  connectionTtlSeconds: number;
  /** Retention of room messages; 0 stores none. */
  historyTtlSeconds: number;
  /** Retention of user messages (the mailbox); 0 stores none. */
  mailboxTtlSeconds: number;
  secretCacheMs: number;
  serviceName: string;
  metricsNamespace: string;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** Events to backends: bus name or ARN (undefined: off), `source`, and how long a request waits. */
  events: { busName: string | undefined; source: string; timeoutMs: number };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment once; throws a ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = z.safeParse(environmentSchema, env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`);
    throw new ConfigError(`invalid roomcast configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  let clientAuth: ClientAuthConfig | undefined;
  if (e.JWT_ISSUER && e.JWT_AUDIENCE && e.JWT_JWKS_URL) {
    clientAuth = { mode: 'oidc', issuer: e.JWT_ISSUER, audience: e.JWT_AUDIENCE, jwksUrl: e.JWT_JWKS_URL };
  } else if (e.JWT_SECRET_ARN) {
    clientAuth = { mode: 'secret-arn', secretArn: e.JWT_SECRET_ARN };
  } else if (e.JWT_SECRET) {
    clientAuth = { mode: 'secret', secret: e.JWT_SECRET };
  }
  let pushAuth: PushAuthConfig | undefined;
  if (e.PUSH_AUTH === 'iam') pushAuth = { mode: 'iam' };
  else if (e.PUSH_API_KEYS_SECRET_ARN) pushAuth = { mode: 'keys-arn', secretArn: e.PUSH_API_KEYS_SECRET_ARN };
  else if (e.PUSH_API_KEYS.length > 0) pushAuth = { mode: 'keys', keys: e.PUSH_API_KEYS };
  return {
    tableName: e.TABLE_NAME,
    region: e.AWS_REGION,
    dynamoEndpoint: e.DYNAMODB_ENDPOINT,
    connectionsEndpoint: e.CONNECTIONS_ENDPOINT,
    clientAuth,
    allowedOrigins: e.ALLOWED_ORIGINS,
    allowNoOrigin: e.ALLOW_NO_ORIGIN,
    rateLimit: { perSecond: e.RATE_LIMIT_PER_SECOND, burst: e.RATE_LIMIT_BURST },
    pushAuth,
    maxDataBytes: e.MAX_DATA_BYTES,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    fanoutConcurrency: e.FANOUT_CONCURRENCY,
    inlineFanoutLimit: e.INLINE_FANOUT_LIMIT,
    fanoutJobSize: e.FANOUT_JOB_SIZE,
    roomSplitAfter: e.ROOM_SPLIT_AFTER,
    reconcileSettleMs: e.RECONCILE_SETTLE_MS,
    fanoutQueueUrl: e.FANOUT_QUEUE_URL,
    connectionTtlSeconds: e.CONNECTION_TTL_SECONDS,
    historyTtlSeconds: e.HISTORY_TTL_SECONDS,
    mailboxTtlSeconds: e.MAILBOX_TTL_SECONDS,
    secretCacheMs: e.SECRET_CACHE_SECONDS * 1000,
    dynamoTimeouts: {
      connectMs: e.DYNAMODB_CONNECT_TIMEOUT_MS,
      requestMs: e.DYNAMODB_REQUEST_TIMEOUT_MS,
      maxAttempts: e.DYNAMODB_MAX_ATTEMPTS,
    },
    serviceName: e.POWERTOOLS_SERVICE_NAME,
    metricsNamespace: e.POWERTOOLS_METRICS_NAMESPACE,
    logLevel: e.LOG_LEVEL,
    events: { busName: e.EVENT_BUS_NAME, source: e.EVENT_SOURCE, timeoutMs: e.EVENT_TIMEOUT_MS },
  };
}
