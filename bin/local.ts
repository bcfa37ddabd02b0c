#!/usr/bin/env node
/**
 * `npm start`: the whole roomcast service on this machine, no AWS account needed.
 * Environment: PORT, ROOMCAST_JWT_SECRET, ROOMCAST_API_KEY (comma-separated for
 * several), DYNAMODB_ENDPOINT, ROOMCAST_ALLOWED_ORIGINS, ROOMCAST_ALLOW_NO_ORIGIN,
 * ROOMCAST_RATE_LIMIT_PER_SECOND, ROOMCAST_RATE_LIMIT_BURST, ROOMCAST_HISTORY_TTL_SECONDS,
 * ROOMCAST_MAILBOX_TTL_SECONDS, ROOMCAST_INLINE_FANOUT_LIMIT, ROOMCAST_ROOM_SPLIT_AFTER, LOG_LEVEL, ROOMCAST_WEBHOOK_URL and ROOMCAST_WEBHOOK_SECRET
 * (events to backends as signed POSTs).
 * `npm start -- --dashboard` ends the banner with the dashboard's URL, highlighted.
 */
import { readLocalSettings } from '../local/settings.js';
import { LOCAL_DEFAULTS, startLocalStack } from '../local/stack.js';
import { shownUrl } from '../local/webhook-sender.js';

const settings = readLocalSettings(process.env, process.argv.slice(2));
if (!settings.ok) {
  console.error(settings.message);
  process.exit(settings.exitCode);
}
const { env, dashboard } = settings;
const usingDefaults = !env.ROOMCAST_JWT_SECRET || !env.ROOMCAST_API_KEY;
const stack = await startLocalStack({
  port: env.PORT,
  ...(env.ROOMCAST_JWT_SECRET ? { jwtSecret: env.ROOMCAST_JWT_SECRET } : {}),
  ...(env.ROOMCAST_API_KEY ? { apiKeys: env.ROOMCAST_API_KEY } : {}),
  ...(env.DYNAMODB_ENDPOINT ? { dynamoEndpoint: env.DYNAMODB_ENDPOINT } : {}),
  ...(env.ROOMCAST_ALLOWED_ORIGINS
    ? { allowedOrigins: env.ROOMCAST_ALLOWED_ORIGINS.split(',').map((o) => o.trim()) }
    : {}),
  allowNoOrigin: env.ROOMCAST_ALLOW_NO_ORIGIN,
  rateLimit: { perSecond: env.ROOMCAST_RATE_LIMIT_PER_SECOND, burst: env.ROOMCAST_RATE_LIMIT_BURST },
  ...(env.ROOMCAST_HISTORY_TTL_SECONDS === undefined
    ? {}
    : { historyTtlSeconds: env.ROOMCAST_HISTORY_TTL_SECONDS }),
  ...(env.ROOMCAST_MAILBOX_TTL_SECONDS === undefined
    ? {}
    : { mailboxTtlSeconds: env.ROOMCAST_MAILBOX_TTL_SECONDS }),
  logLevel: env.LOG_LEVEL,
  ...(env.ROOMCAST_INLINE_FANOUT_LIMIT === undefined
    ? {}
    : { inlineFanoutLimit: env.ROOMCAST_INLINE_FANOUT_LIMIT }),
  ...(env.ROOMCAST_ROOM_SPLIT_AFTER === undefined ? {} : { roomSplitAfter: env.ROOMCAST_ROOM_SPLIT_AFTER }),
  ...(env.ROOMCAST_WEBHOOK_URL
    ? {
        webhook: {
          url: env.ROOMCAST_WEBHOOK_URL,
          ...(env.ROOMCAST_WEBHOOK_SECRET ? { secret: env.ROOMCAST_WEBHOOK_SECRET } : {}),
        },
      }
    : {}),
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
  let message = `roomcast local stack could not start (PORT=${env.PORT}, ${where}): ${reason}`;
  if (unreachable) message = `roomcast local stack could not start: ${where} is not reachable (${reason}).`;
  if (code === 'EADDRINUSE') {
    message =
      `roomcast local stack could not start: port ${env.PORT} is in use; ` +
      'set PORT to another port (PORT=0 picks a free one).';
  }
  console.error(message);
  process.exit(1);
});
const webhookDefaultSecret = env.ROOMCAST_WEBHOOK_URL !== undefined && !env.ROOMCAST_WEBHOOK_SECRET;

const apiKey = env.ROOMCAST_API_KEY ? '<your ROOMCAST_API_KEY>' : LOCAL_DEFAULTS.apiKey;
console.log(`roomcast local stack is up
  WebSocket     ${stack.urls.websocket}?token=<jwt>
  push API      ${stack.urls.http}   (Authorization: Bearer ${apiKey})
  @connections  ${stack.urls.connections}/{connectionId}
  dashboard     ${stack.urls.dashboard}
  metrics       ${stack.urls.metrics}   (Prometheus text format)
  DynamoDB      ${stack.dynamoEndpoint} (table ${stack.tableName}${env.DYNAMODB_ENDPOINT ? '' : ', embedded dynalite, in memory'})

Get a token:    TOKEN=$(npm run -s token -- alice --rooms private-ops)
Try it:         curl -s ${stack.urls.http}/health
Events          ${env.ROOMCAST_WEBHOOK_URL ? `POSTed to ${shownUrl(env.ROOMCAST_WEBHOOK_URL)} (signed, X-Roomcast-Signature)` : 'off (set ROOMCAST_WEBHOOK_URL to receive them)'}
${
  usingDefaults
    ? `\nWARNING: using the default ${[!env.ROOMCAST_JWT_SECRET && 'JWT secret', !env.ROOMCAST_API_KEY && 'API key'].filter(Boolean).join(' and ')}.\n         They are for local development only; never use them anywhere else.\n`
    : ''
}${
  webhookDefaultSecret
    ? `\nWARNING: webhooks are signed with the default secret ${LOCAL_DEFAULTS.webhookSecret}; set ROOMCAST_WEBHOOK_SECRET.\n         It is for local development only.\n`
    : ''
}
Ctrl-C stops it.`);
if (dashboard) {
  // Bold on a terminal; plain text when piped.
  const url = process.stdout.isTTY ? `\x1b[1m${stack.urls.dashboard}\x1b[0m` : stack.urls.dashboard;
  console.log(`\nOpen the dashboard: ${url}`);
}

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
