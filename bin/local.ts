#!/usr/bin/env node
/**
 * `npm start`: the whole roomcast service on this machine, no AWS account needed.
 * Environment: PORT, ROOMCAST_JWT_SECRET, ROOMCAST_API_KEY (comma-separated for
 * several), DYNAMODB_ENDPOINT, ROOMCAST_ALLOWED_ORIGINS, LOG_LEVEL.
 */
import * as z from 'zod';
import { LOCAL_DEFAULTS, startLocalStack } from '../local/stack.js';

const env = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(LOCAL_DEFAULTS.port),
    ROOMCAST_JWT_SECRET: z.string().min(1).optional(),
    ROOMCAST_API_KEY: z.string().min(1).optional(),
    DYNAMODB_ENDPOINT: z.url().optional(),
    ROOMCAST_ALLOWED_ORIGINS: z.string().optional(),
    LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('WARN'),
  })
  .parse(process.env);

const usingDefaults = !env.ROOMCAST_JWT_SECRET || !env.ROOMCAST_API_KEY;
const stack = await startLocalStack({
  port: env.PORT,
  ...(env.ROOMCAST_JWT_SECRET ? { jwtSecret: env.ROOMCAST_JWT_SECRET } : {}),
  ...(env.ROOMCAST_API_KEY ? { apiKeys: env.ROOMCAST_API_KEY.split(',').map((k) => k.trim()) } : {}),
  ...(env.DYNAMODB_ENDPOINT ? { dynamoEndpoint: env.DYNAMODB_ENDPOINT } : {}),
  ...(env.ROOMCAST_ALLOWED_ORIGINS
    ? { allowedOrigins: env.ROOMCAST_ALLOWED_ORIGINS.split(',').map((o) => o.trim()) }
    : {}),
  logLevel: env.LOG_LEVEL,
}).catch((error: unknown) => {
  // An unreachable store is a setup mistake: say what was tried, without a stack trace.
  const reason = error instanceof Error ? error.message || error.name : String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  const unreachable = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET'].includes(
    String(code),
  );
  const where = env.DYNAMODB_ENDPOINT
    ? `DynamoDB at DYNAMODB_ENDPOINT=${env.DYNAMODB_ENDPOINT}`
    : 'the embedded DynamoDB (dynalite)';
  console.error(
    unreachable
      ? `roomcast local stack could not start: ${where} is not reachable (${reason}).`
      : `roomcast local stack could not start (PORT=${env.PORT}, ${where}): ${reason}`,
  );
  process.exit(1);
});

const apiKey = env.ROOMCAST_API_KEY ? '<your ROOMCAST_API_KEY>' : LOCAL_DEFAULTS.apiKey;
console.log(`roomcast local stack is up
  WebSocket     ${stack.urls.websocket}?token=<jwt>
  push API      ${stack.urls.http}   (Authorization: Bearer ${apiKey})
  @connections  ${stack.urls.connections}/{connectionId}
  DynamoDB      ${stack.dynamoEndpoint} (table ${stack.tableName}${env.DYNAMODB_ENDPOINT ? '' : ', embedded dynalite, in memory'})

Get a token:    npm run token -- alice --rooms private-ops
Try it:         curl -s ${stack.urls.http}/health
${
  usingDefaults
    ? `\nWARNING: using the default ${[!env.ROOMCAST_JWT_SECRET && 'JWT secret', !env.ROOMCAST_API_KEY && 'API key'].filter(Boolean).join(' and ')}.\n         They are for local development only; never use them anywhere else.\n`
    : ''
}
Ctrl-C stops it.`);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: closing connections and stopping...`);
  await stack.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
