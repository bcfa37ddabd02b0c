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
    DYNAMODB_CONNECT_TIMEOUT_MS: positiveInt(500),
    DYNAMODB_REQUEST_TIMEOUT_MS: positiveInt(1500),
    DYNAMODB_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(5).default(3),
    JWT_SECRET: z.string().min(1).optional(),
    JWT_SECRET_ARN: z.string().min(1).optional(),
    JWT_ISSUER: z.string().min(1).optional(),
    JWT_AUDIENCE: z.string().min(1).optional(),
    JWT_JWKS_URL: z.url().optional(),
    ALLOWED_ORIGINS: csv,
    PUSH_AUTH: z.enum(['apikey', 'iam']).default('apikey'),
    PUSH_API_KEYS: csv,
    PUSH_API_KEYS_SECRET_ARN: z.string().min(1).optional(),
    MAX_DATA_BYTES: positiveInt(LIMITS.defaultMaxDataBytes),
    MAX_MESSAGE_BYTES: positiveInt(LIMITS.maxMessageBytes),
    FANOUT_CONCURRENCY: positiveInt(64),
    CONNECTION_TTL_SECONDS: positiveInt(LIMITS.connectionTtlSeconds),
    SECRET_CACHE_SECONDS: z.coerce.number().int().nonnegative().default(300),
    POWERTOOLS_SERVICE_NAME: z.string().default('roomcast'),
    POWERTOOLS_METRICS_NAMESPACE: z.string().default('Roomcast'),
    LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
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
  pushAuth: PushAuthConfig | undefined;
  maxDataBytes: number;
  maxMessageBytes: number;
  fanoutConcurrency: number;
  connectionTtlSeconds: number;
  secretCacheMs: number;
  serviceName: string;
  metricsNamespace: string;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
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
    pushAuth,
    maxDataBytes: e.MAX_DATA_BYTES,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    fanoutConcurrency: e.FANOUT_CONCURRENCY,
    connectionTtlSeconds: e.CONNECTION_TTL_SECONDS,
    secretCacheMs: e.SECRET_CACHE_SECONDS * 1000,
    dynamoTimeouts: {
      connectMs: e.DYNAMODB_CONNECT_TIMEOUT_MS,
      requestMs: e.DYNAMODB_REQUEST_TIMEOUT_MS,
      maxAttempts: e.DYNAMODB_MAX_ATTEMPTS,
    },
    serviceName: e.POWERTOOLS_SERVICE_NAME,
    metricsNamespace: e.POWERTOOLS_METRICS_NAMESPACE,
    logLevel: e.LOG_LEVEL,
  };
}
