import * as z from 'zod';
import { LIMITS } from './domain/constants.js';

const csv = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  );
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * Every environment variable a roomcast handler reads, validated once at cold
 * start. Nothing else in the code reads `process.env`.
 */
export const environmentSchema = z
  .object({
    TABLE_NAME: z.string().min(1).optional(),
    CONNECTIONS_ENDPOINT: z.url().optional(),
    AWS_REGION: z.string().min(1).default('us-east-1'),
    DYNAMODB_ENDPOINT: z.url().optional(),
    // Every DynamoDB call is bounded: worst case attempts × (connect + request) + backoff < the Lambda timeouts (10 s).
    DYNAMODB_CONNECT_TIMEOUT_MS: positiveInt(1000),
    DYNAMODB_REQUEST_TIMEOUT_MS: positiveInt(2500),
    DYNAMODB_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(5).default(2),
    JWT_SECRET: z.string().min(1).optional(),
    JWT_SECRET_ARN: z.string().min(1).optional(),
    JWT_ISSUER: z.string().min(1).optional(),
    JWT_AUDIENCE: z.string().min(1).optional(),
    JWT_JWKS_URL: z.url().optional(),
    ALLOWED_ORIGINS: csv,
    /** With ALLOWED_ORIGINS set: whether clients that send no Origin (servers, SDKs in Node, CLIs) may connect. */
    ALLOW_NO_ORIGIN: z.stringbool().default(true),
    /** Per-connection limit of send and direct: sustained frames per second (0: off) and burst. */
    RATE_LIMIT_PER_SECOND: z
      .string()
      .regex(/^[0-9]+(\.[0-9]+)?$/, 'a number of frames per second; 0 turns the limit off')
      .transform(Number)
      .default(20),
    RATE_LIMIT_BURST: positiveInt(40),
    PUSH_AUTH: z.enum(['apikey', 'iam']).default('apikey'),
    PUSH_API_KEYS: csv,
    PUSH_API_KEYS_SECRET_ARN: z.string().min(1).optional(),
    MAX_DATA_BYTES: positiveInt(LIMITS.defaultMaxDataBytes),
    MAX_MESSAGE_BYTES: positiveInt(LIMITS.maxMessageBytes),
    FANOUT_CONCURRENCY: positiveInt(64),
    /** Fan-outs to more connections than this go to the workers (SQS on AWS). */
    INLINE_FANOUT_LIMIT: positiveInt(2000),
    /** Connections per post job of a queued fan-out. */
    FANOUT_JOB_SIZE: positiveInt(1000),
    FANOUT_QUEUE_URL: z.url().optional(),
    CONNECTION_TTL_SECONDS: positiveInt(LIMITS.connectionTtlSeconds),
    HISTORY_TTL_SECONDS: z.coerce.number().int().nonnegative().default(LIMITS.historyTtlSeconds),
    MAILBOX_TTL_SECONDS: z.coerce.number().int().nonnegative().default(LIMITS.mailboxTtlSeconds),
    SECRET_CACHE_SECONDS: z.coerce.number().int().nonnegative().default(300),
    POWERTOOLS_SERVICE_NAME: z.string().default('roomcast'),
    POWERTOOLS_METRICS_NAMESPACE: z.string().default('Roomcast'),
    LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
    /** The EventBridge bus (name or ARN) events to backends go to; absent: events are off. */
    EVENT_BUS_NAME: z.string().min(1).optional(),
    EVENT_SOURCE: z.string().min(1).default('roomcast.local'),
    /** Longest a request waits for the event publisher before going on without it. */
    EVENT_TIMEOUT_MS: positiveInt(1000),
  })
  .superRefine((env, ctx) => {
    const oidc = [env.JWT_ISSUER, env.JWT_AUDIENCE, env.JWT_JWKS_URL].filter(Boolean).length;
    if (oidc !== 0 && oidc !== 3) {
      ctx.addIssue({ code: 'custom', message: 'JWT_ISSUER, JWT_AUDIENCE and JWT_JWKS_URL go together' });
    }
  });

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
  const parsed = environmentSchema.safeParse(env);
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
