import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { reconcileTable } from '../lambdas/adapters/dynamo-reconcile.js';
import { loadConfig } from '../lambdas/config.js';
import { FANOUT_MAX_RECEIVES, LIMITS } from '../lambdas/domain/constants.js';
import { settleOrphanMembership } from '../lambdas/domain/lifecycle.js';
import type { ReconcileReport } from '../lambdas/domain/ports.js';
import { createAuthorizerHandler } from '../lambdas/handlers/authorizer.js';
import { createConnectHandler } from '../lambdas/handlers/connect.js';
import { createDisconnectHandler } from '../lambdas/handlers/disconnect.js';
import { createExpiryHandler } from '../lambdas/handlers/expiry.js';
import { createFanoutWorkerHandler } from '../lambdas/handlers/fanout-worker.js';
import { createMessageHandler } from '../lambdas/handlers/message.js';
import { createPushHandler } from '../lambdas/handlers/push.js';
import { createReconcileHandler } from '../lambdas/handlers/reconcile.js';
import {
  closeDeps,
  createApiKeySource,
  createDocumentClient,
  createFanoutWorker,
  createRuntime,
  createStore,
  createTokenVerifier,
  observabilityFor,
  type Runtime,
} from '../lambdas/runtime.js';
import { createDashboard, type Dashboard } from './dashboard.js';
import { createDemoRoute } from './demo/route.js';
import { ensureTable, type LocalDynamo, localDynamoClient, startDynalite, sweepExpired } from './dynamo.js';
import { createEventFeed, type EventFeed } from './event-feed.js';
import {
  type ConnectionsEmulation,
  type GatewayHandlers,
  type GatewayLimits,
  LocalGateway,
  type LocalRoute,
} from './gateway.js';
import { CapturingLogger, LogRing } from './logs.js';
import { createLocalMetrics, type LocalMetrics } from './metrics.js';
import { LocalFanoutQueue } from './queue.js';
import { roomsOfConnection } from './rooms.js';
import { shownUrl, WebhookSender, type WebhookSenderOptions } from './webhook-sender.js';

export const LOCAL_DEFAULTS = {
  host: '127.0.0.1',
  port: 4000,
  jwtSecret: 'dev-jwt-secret',
  apiKey: 'dev-api-key',
  stage: 'local',
  region: 'us-east-1',
  tableName: 'roomcast-local',
  webhookSecret: 'dev-webhook-secret',
} as const;

export interface LocalStackOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  jwtSecret?: string;
  /** Active push API keys (several allow rotation). */
  apiKeys?: string[];
  /** Another DynamoDB (DynamoDB Local, AWS) instead of the embedded dynalite. */
  dynamoEndpoint?: string;
  /**
   * Connection and request timeout of each DynamoDB attempt. Default: 30 s for
   * the embedded dynalite (it runs in this process, so under a burst, 2,000
   * clients leaving at once, even opening a socket to it waits on the busy event
   * loop for longer than the AWS defaults allow), the handlers' defaults
   * (DYNAMODB_CONNECT_TIMEOUT_MS 1 s, DYNAMODB_REQUEST_TIMEOUT_MS 2.5 s) for any
   * other endpoint.
   */
  dynamoTimeoutMs?: number;
  tableName?: string;
  allowedOrigins?: string[];
  /** With allowedOrigins: whether clients that send no Origin may connect (default true). */
  allowNoOrigin?: boolean;
  /** Per-connection limit of send and direct (default 20/s, bursts of 40; perSecond 0 turns it off). */
  rateLimit?: { perSecond: number; burst: number };
  maxDataBytes?: number;
  limits?: Partial<GatewayLimits>;
  /** How often expired items are deleted (DynamoDB TTL's stand-in); 0 turns the sweeper off. */
  sweepIntervalMs?: number;
  /** How often the counters are reconciled (the `reconcile` function's schedule on AWS); 0 turns it off. */
  reconcileIntervalMs?: number;
  /**
   * The reconciliation's wait between its two looks at the table (default 35 s: longer than a
   * request to the embedded dynalite may take; RECONCILE_SETTLE_MS on AWS, 70 s).
   */
  reconcileSettleMs?: number;
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  fanoutConcurrency?: number;
  /** Fan-outs to more connections than this go to the in-process workers (default 2000, as on AWS). */
  inlineFanoutLimit?: number;
  /** Connections per post job of a queued fan-out (default 1000). */
  fanoutJobSize?: number;
  /** Members a room has before its memberships are spread over 16 partitions (default 2000, as on AWS). */
  roomSplitAfter?: number;
  /** Worker invocations at once on the in-process queue (default 4). */
  fanoutWorkers?: number;
  /** Benchmarks only: `@connections` latency and socketless virtual connections. */
  connections?: ConnectionsEmulation;
  /** Retention of room messages and of user messages (seconds; 0 stores none). */
  historyTtlSeconds?: number;
  mailboxTtlSeconds?: number;
  /** Events to backends as signed POSTs to `url` (ROOMCAST_WEBHOOK_URL); absent: events are off. */
  webhook?: { url: string; secret?: string } & Partial<
    Pick<WebhookSenderOptions, 'maxQueue' | 'concurrency' | 'requestTimeoutMs' | 'retryForMs' | 'timers'>
  >;
  /** The Prometheus registry, `/metrics`, the dashboard and its log ring (default on). */
  observe?: boolean;
  /** How often the dashboard's live feed updates (default 2000 ms). */
  dashboardIntervalMs?: number;
}

/** The local stack's operations side: `/metrics`, `/dashboard/`, the log ring, the sent-events feed. */
export interface LocalObservability {
  metrics: LocalMetrics;
  logs: LogRing;
  events: EventFeed;
  dashboard: Dashboard;
}

export interface LocalStack {
  port: number;
  urls: { websocket: string; http: string; connections: string; dashboard?: string; metrics?: string };
  /** Undefined when started with `observe: false`. */
  observability?: LocalObservability;
  /** The environment the handlers run with, as on AWS. */
  env: Record<string, string>;
  dynamoEndpoint: string;
  tableName: string;
  gateway: LocalGateway;
  /** The webhook sender when `webhook` was given. */
  webhook: WebhookSender | undefined;
  /** The in-process fan-out queue (large fan-outs). */
  fanoutQueue: LocalFanoutQueue;
  /** Runs one TTL sweep now; returns the number of items deleted. */
  sweep(): Promise<number>;
  /** Runs one reconciliation of the counters now (as the `reconcile` function does on AWS). */
  reconcile(): Promise<ReconcileReport>;
  close(): Promise<void>;
}

/**
 * Starts the whole service on one machine: DynamoDB (embedded dynalite unless
 * another endpoint is named), the WebSocket API, `@connections` and the push
 * HTTP API, all running the same handler modules as Lambda.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const host = options.host ?? LOCAL_DEFAULTS.host;
  const tableName = options.tableName ?? LOCAL_DEFAULTS.tableName;
  const limits: GatewayLimits = {
    maxMessageBytes: options.limits?.maxMessageBytes ?? LIMITS.maxMessageBytes,
    idleTimeoutMs: options.limits?.idleTimeoutMs ?? LIMITS.idleTimeoutMs,
    maxLifetimeMs: options.limits?.maxLifetimeMs ?? LIMITS.maxLifetimeMs,
  };
  const observe = options.observe ?? true;
  const logs = new LogRing(1000);
  const events = createEventFeed();
  const logger = new CapturingLogger(logs, {
    serviceName: 'roomcast-local',
    logLevel: options.logLevel ?? 'INFO',
  });
  let runtime: Runtime | undefined;
  const metrics = observe
    ? createLocalMetrics(() => {
        if (!runtime) throw new Error('local stack is still starting');
        return runtime.store.stats();
      })
    : undefined;

  // The SDK clients sign every request; the local endpoints accept any credentials.
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  // Lambda runs Node.js 22; the SDK's notice about older local Node versions is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // EMF lines are for CloudWatch; locally they are off unless POWERTOOLS_METRICS_DISABLED=false.
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

  const dynamo: LocalDynamo = options.dynamoEndpoint
    ? { endpoint: options.dynamoEndpoint, close: async () => undefined }
    : await startDynalite();
  const admin = localDynamoClient(dynamo.endpoint, LOCAL_DEFAULTS.region);
  await ensureTable(admin, tableName);

  let handlers: GatewayHandlers | undefined;
  // Pages and endpoints only the local stack has (nothing of these exists in the CDK stack).
  const routes: LocalRoute[] = [];
  let base = '';
  routes.push(
    createDemoRoute({
      jwtSecret: options.jwtSecret ?? LOCAL_DEFAULTS.jwtSecret,
      hostNames: [host],
    }),
  );
  const api = {
    apiId: 'local',
    stage: LOCAL_DEFAULTS.stage,
    domainName: host,
    accountId: '000000000000',
    region: LOCAL_DEFAULTS.region,
  };
  const gateway = new LocalGateway(
    api,
    () => {
      if (!handlers) throw new Error('local stack is still starting');
      return handlers;
    },
    limits,
    logger,
    routes,
    options.connections,
  );
  await new Promise<void>((resolve, reject) => {
    gateway.server.once('error', reject);
    gateway.server.listen(options.port ?? LOCAL_DEFAULTS.port, host, () => resolve());
  });
  const { port } = gateway.server.address() as AddressInfo;
  base = `http://${host}:${port}`;

  const env: Record<string, string> = {
    TABLE_NAME: tableName,
    AWS_REGION: LOCAL_DEFAULTS.region,
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    ...(options.dynamoTimeoutMs !== undefined || !options.dynamoEndpoint
      ? {
          DYNAMODB_CONNECT_TIMEOUT_MS: String(options.dynamoTimeoutMs ?? 30_000),
          DYNAMODB_REQUEST_TIMEOUT_MS: String(options.dynamoTimeoutMs ?? 30_000),
        }
      : {}),
    CONNECTIONS_ENDPOINT: `${base}/${LOCAL_DEFAULTS.stage}`,
    JWT_SECRET: options.jwtSecret ?? LOCAL_DEFAULTS.jwtSecret,
    PUSH_API_KEYS: (options.apiKeys ?? [LOCAL_DEFAULTS.apiKey]).join(','),
    ALLOWED_ORIGINS: (options.allowedOrigins ?? []).join(','),
    ALLOW_NO_ORIGIN: String(options.allowNoOrigin ?? true),
    ...(options.rateLimit
      ? {
          RATE_LIMIT_PER_SECOND: String(options.rateLimit.perSecond),
          RATE_LIMIT_BURST: String(options.rateLimit.burst),
        }
      : {}),
    MAX_DATA_BYTES: String(options.maxDataBytes ?? LIMITS.defaultMaxDataBytes),
    MAX_MESSAGE_BYTES: String(limits.maxMessageBytes),
    FANOUT_CONCURRENCY: String(options.fanoutConcurrency ?? 64),
    INLINE_FANOUT_LIMIT: String(options.inlineFanoutLimit ?? 2000),
    FANOUT_JOB_SIZE: String(options.fanoutJobSize ?? 1000),
    ROOM_SPLIT_AFTER: String(options.roomSplitAfter ?? 2000),
    LOG_LEVEL: options.logLevel ?? 'INFO',
    HISTORY_TTL_SECONDS: String(options.historyTtlSeconds ?? LIMITS.historyTtlSeconds),
    MAILBOX_TTL_SECONDS: String(options.mailboxTtlSeconds ?? LIMITS.mailboxTtlSeconds),
    POWERTOOLS_SERVICE_NAME: 'roomcast',
    POWERTOOLS_METRICS_NAMESPACE: 'Roomcast',
  };
  const config = loadConfig(env);
  const hooks = metrics
    ? {
        tee: metrics.sink,
        newLogger: (o: ConstructorParameters<typeof CapturingLogger>[1]) => new CapturingLogger(logs, o),
      }
    : undefined;
  const observability = observabilityFor(config, hooks);
  const webhook = options.webhook
    ? new WebhookSender({
        secret: LOCAL_DEFAULTS.webhookSecret,
        ...options.webhook,
        source: config.events.source,
        region: LOCAL_DEFAULTS.region,
        account: api.accountId,
        metrics: observability.sink,
        warn: (message, fields) => logger.warn(message, fields ?? {}),
        // The dashboard's "events sent to backends" panel shows how each one ended.
        onOutcome: ({ event, result, at }) =>
          events.record({
            at,
            type: event.detailType,
            target: shownUrl(options.webhook?.url ?? ''),
            result,
            detail: event.detail,
          }),
      })
    : undefined;
  if (webhook) events.attach(`webhook ${shownUrl(options.webhook?.url ?? '')}`);
  // Large fan-outs go to the same worker handler as on AWS, fed SQS-shaped events by an in-process queue.
  let consume: ((event: SQSEvent) => Promise<SQSBatchResponse>) | undefined;
  const fanoutQueue = new LocalFanoutQueue(
    (event) => {
      if (!consume) throw new Error('local stack is still starting');
      return consume(event);
    },
    {
      workers: options.fanoutWorkers ?? 4,
      batchSize: 1,
      maxReceives: FANOUT_MAX_RECEIVES,
      region: LOCAL_DEFAULTS.region,
      queueArn: `arn:aws:sqs:${LOCAL_DEFAULTS.region}:${api.accountId}:roomcast-local-fanout`,
      onDeadLetter: (record) => logger.error('fan-out job dead-lettered', { messageId: record.messageId }),
    },
  );
  runtime = createRuntime(config, {
    ...(webhook ? { events: webhook } : {}),
    ...(hooks ? { hooks } : {}),
    fanoutQueue,
  });
  consume = createFanoutWorkerHandler(runtime, createFanoutWorker(runtime));
  const { store } = runtime;
  const doc = createDocumentClient(runtime.config);
  const push = createPushHandler(runtime, createApiKeySource(runtime.config));
  const apiKey = (options.apiKeys ?? [LOCAL_DEFAULTS.apiKey])[0] ?? '';
  const dashboard = metrics
    ? createDashboard({
        metrics,
        logs,
        events,
        stats: () => store.stats(),
        connections: (limit) => gateway.openConnections(limit),
        roomsOf: (connectionId) => roomsOfConnection(doc, tableName, connectionId),
        roomSize: (room) => store.countMembers(room),
        hostNames: [host],
        // The key stays on this side: the page asks the dashboard, the dashboard asks the push API.
        disconnect: async (connectionId) =>
          (
            await fetch(`${base}/v1/connections/${encodeURIComponent(connectionId)}`, {
              method: 'DELETE',
              headers: { authorization: `Bearer ${apiKey}` },
            })
          ).status,
        ...(options.dashboardIntervalMs ? { intervalMs: options.dashboardIntervalMs } : {}),
      })
    : undefined;
  if (dashboard) routes.push(dashboard.route);
  handlers = {
    authorizer: createAuthorizerHandler(runtime, createTokenVerifier(runtime.config)),
    connect: createConnectHandler(runtime),
    disconnect: createDisconnectHandler(runtime),
    message: createMessageHandler(runtime),
    push: metrics ? (event) => metrics.countHttp(() => push(event)) : push,
  };
  const expiry = createExpiryHandler(runtime);

  const sweep = () =>
    sweepExpired(admin, tableName, Math.floor(Date.now() / 1000), (records) => expiry({ Records: records }));
  const sweepEvery = options.sweepIntervalMs ?? 30_000;
  const sweeper =
    sweepEvery > 0
      ? setInterval(() => {
          sweep().catch((error: Error) => logger.warn('TTL sweep failed', { error: error.message }));
        }, sweepEvery)
      : undefined;
  sweeper?.unref();
  // Closing the stack ends a reconciliation's wait between its looks (its second look would find
  // the table gone).
  const stopping = new AbortController();
  const settleMs = options.reconcileSettleMs ?? 35_000;
  const orphanDeps = closeDeps(runtime);
  const reconcilingStore = createStore(config, {
    reconciler: (doc, table, now) =>
      reconcileTable(doc, table, now, {
        settle: () => sleep(settleMs, undefined, { signal: stopping.signal }),
        expiryLagLimitMs: settleMs,
        settleRemovedMembership: (item) => settleOrphanMembership(orphanDeps, item),
      }),
  });
  const reconcile = createReconcileHandler({
    observability: runtime.observability,
    events: runtime.events,
    reconcile: () => reconcilingStore.reconcile(),
  });
  const reconcileEvery = options.reconcileIntervalMs ?? 5 * 60_000;
  const reconciler =
    reconcileEvery > 0
      ? setInterval(() => {
          reconcile().catch(() => undefined); // logged by the handler; the next run starts over
        }, reconcileEvery)
      : undefined;
  reconciler?.unref();

  let closing: Promise<void> | undefined;
  return {
    port,
    urls: {
      websocket: `ws://${host}:${port}/`,
      http: `${base}/v1`,
      connections: `${base}/@connections`,
      ...(dashboard ? { dashboard: `${base}/dashboard/`, metrics: `${base}/metrics` } : {}),
    },
    ...(metrics && dashboard ? { observability: { metrics, logs, events, dashboard } } : {}),
    env,
    dynamoEndpoint: dynamo.endpoint,
    tableName,
    gateway,
    webhook,
    fanoutQueue,
    sweep,
    reconcile: () => reconcile(),
    close: () => {
      closing ??= (async () => {
        if (sweeper) clearInterval(sweeper);
        dashboard?.close();
        if (reconciler) clearInterval(reconciler);
        stopping.abort();
        await gateway.shutdown();
        await fanoutQueue.close();
        await webhook?.close();
        const closed = new Promise<void>((resolve) => gateway.server.close(() => resolve()));
        gateway.server.closeAllConnections();
        await closed;
        admin.destroy();
        doc.destroy();
        await dynamo.close();
      })();
      return closing;
    },
  };
}
