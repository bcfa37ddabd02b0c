import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { monotonicFactory, ulid } from 'ulid';
import { DynamoJobLedger } from './adapters/dynamo-ledger.js';
import { DynamoRateLimiter } from './adapters/dynamo-rate-limiter.js';
import { DynamoConnectionStore, type TableReconciler } from './adapters/dynamo-store.js';
import { DynamoStreamStore } from './adapters/dynamo-streams.js';
import { createEventBridgeClient, EventBridgePublisher } from './adapters/eventbridge-publisher.js';
import { createManagementClient, ManagementApiGateway } from './adapters/gateway.js';
import { createLeanPoster } from './adapters/lean-poster.js';
import type { Observability, ObservabilityHooks } from './adapters/observability.js';
import { SqsFanoutQueue } from './adapters/sqs-queue.js';
import { type Config, ConfigError } from './config.js';
import { UnavailableError } from './domain/errors.js';
import { BackendEvents } from './domain/events.js';
import { type FanoutQueue, FanoutWorker } from './domain/fanout-jobs.js';
import type { CloseDeps, OpenDeps } from './domain/lifecycle.js';
import type { Clock, ConnectionGateway, ConnectionStore, EventPublisher } from './domain/ports.js';
import { clientRateLimit } from './domain/rate-limit.js';
import { RoomcastService } from './domain/service.js';
import { Streams } from './domain/streams.js';
import { observabilityFor } from './edge-runtime.js';

export {
  createApiKeySource,
  createSecretsClient,
  createTokenVerifier,
  observabilityFor,
} from './edge-runtime.js';

/**
 * What `$connect` needs: the table and the events to backends, no @connections client, no frame
 * parsing and no queue, so its bundle carries none of them (lifecycle.ts).
 */
export interface ConnectRuntime {
  config: Config;
  observability: Observability;
  clock: Clock;
  store: ConnectionStore;
  /** Events to backends (off when no bus or webhook is configured). */
  events?: BackendEvents;
}

/**
 * `$disconnect` and the stream consumer: also @connections, to tell presence rooms who left, and
 * the fan-out queue, for announcements to rooms too large to tell inline.
 */
export interface LifecycleRuntime extends ConnectRuntime {
  gateway: ConnectionGateway;
  /** Where large fan-outs go to the workers (absent: every fan-out runs inline). */
  fanoutQueue?: FanoutQueue;
}

/** Everything a handler needs, built once per process from the parsed configuration. */
export interface Runtime extends LifecycleRuntime {
  service: RoomcastService;
}

interface RuntimeOverrides {
  events?: EventPublisher;
  hooks?: ObservabilityHooks;
}

export const systemClock: Clock = { now: () => Date.now() };

/** DynamoDB's bounds when the caller gives none (the defaults of lambdas/config.ts). */
const DEFAULT_DYNAMO_TIMEOUTS: Config['dynamoTimeouts'] = { connectMs: 500, requestMs: 1500, maxAttempts: 3 };

/**
 * The bounds every DynamoDB and SQS call gets: a connection timeout, a request timeout and a
 * bounded number of attempts, so a hung store or queue fails fast instead of holding a handler
 * until its Lambda timeout.
 */
function boundedCalls(timeouts: Config['dynamoTimeouts'] = DEFAULT_DYNAMO_TIMEOUTS) {
  return {
    maxAttempts: timeouts.maxAttempts,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: timeouts.connectMs,
      requestTimeout: timeouts.requestMs,
      throwOnRequestTimeout: true,
    }),
  };
}

/** Network errors of a call that never got an answer (the connection refused, reset or unreachable). */
const NO_ANSWER_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Whether a DynamoDB call failed because the store did not answer at all (after the SDK's retries). */
export function storeDidNotAnswer(error: unknown): boolean {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  return name === 'TimeoutError' || (typeof code === 'string' && NO_ANSWER_CODES.has(code));
}

/**
 * The DynamoDB client, its calls bounded (boundedCalls). A call the store never answered, once its
 * attempts are spent, fails as UnavailableError: the push API answers 503 (CONTRACT section 4: "503
 * when the store does not answer within a few seconds"), a frame an INTERNAL error.
 */
export function createDocumentClient(
  config: Pick<Config, 'region' | 'dynamoEndpoint'> & Partial<Pick<Config, 'dynamoTimeouts'>>,
): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    region: config.region,
    ...boundedCalls(config.dynamoTimeouts),
    ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
  });
  // Outermost (initialize): it sees what is left once the retries are done.
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        if (storeDidNotAnswer(error)) {
          throw new UnavailableError('the store did not answer in time; retry shortly', error);
        }
        throw error;
      }
    },
    { step: 'initialize', name: 'roomcastStoreDidNotAnswer' },
  );
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * The fan-out queue's SQS client, its calls bounded as DynamoDB's: a hung enqueue fails fast (the
 * push answers 503, an announcement is lost) instead of holding a `$disconnect` until its timeout.
 */
export function createSqsClient(
  config: Pick<Config, 'region'> & Partial<Pick<Config, 'dynamoTimeouts'>>,
): SQSClient {
  return new SQSClient({ region: config.region, ...boundedCalls(config.dynamoTimeouts) });
}

/** The DynamoDB store alone, for functions that need no @connections client (the stream consumer). */
export function createStore(config: Config, options: { reconciler?: TableReconciler } = {}): ConnectionStore {
  if (!config.tableName) throw new ConfigError('TABLE_NAME is required');
  return new DynamoConnectionStore(
    createDocumentClient(config),
    config.tableName,
    systemClock,
    undefined,
    options.reconciler,
    config.roomSplitAfter,
  );
}

/**
 * Events to backends: the given publisher (the local webhook sender), else EventBridge when
 * EVENT_BUS_NAME is set, else off.
 */
export function createBackendEvents(
  config: Config,
  observability: Observability,
  publisher?: EventPublisher,
): BackendEvents {
  const { busName, source, timeoutMs } = config.events;
  const chosen =
    publisher ??
    (busName
      ? new EventBridgePublisher(createEventBridgeClient(config.region), {
          busName,
          source,
          metrics: observability.sink,
        })
      : undefined);
  return new BackendEvents({
    publisher: chosen,
    source,
    metrics: observability.sink,
    clock: systemClock,
    timeoutMs,
    warn: (message, error) => observability.logger.warn(message, { error: (error as Error)?.message }),
  });
}

export function createConnectRuntime(config: Config, overrides: RuntimeOverrides = {}): ConnectRuntime {
  const observability = observabilityFor(config, overrides.hooks);
  return {
    config,
    observability,
    clock: systemClock,
    store: createStore(config),
    events: createBackendEvents(config, observability, overrides.events),
  };
}

export function createLifecycleRuntime(
  config: Config,
  overrides: RuntimeOverrides & { fanoutQueue?: FanoutQueue } = {},
): LifecycleRuntime {
  if (!config.connectionsEndpoint) throw new ConfigError('CONNECTIONS_ENDPOINT is required');
  const base = createConnectRuntime(config, overrides);
  const gateway = new ManagementApiGateway(
    createManagementClient(config.connectionsEndpoint, config.region, config.fanoutConcurrency),
    {
      logger: base.observability.logger,
      concurrency: config.fanoutConcurrency,
      // Posts skip the SDK client's middleware (the fan-out's main cost); GET and DELETE keep it.
      post: createLeanPoster({
        endpoint: config.connectionsEndpoint,
        region: config.region,
        maxSockets: config.fanoutConcurrency,
      }),
    },
  );
  const fanoutQueue =
    overrides.fanoutQueue ??
    (config.fanoutQueueUrl ? new SqsFanoutQueue(createSqsClient(config), config.fanoutQueueUrl) : undefined);
  return { ...base, gateway, ...(fanoutQueue ? { fanoutQueue } : {}) };
}

/** The lifecycle functions' deps (lifecycle.ts) over a runtime. */
export function openDeps(runtime: ConnectRuntime): OpenDeps {
  const { store, observability, events, config } = runtime;
  return {
    store,
    metrics: observability.sink,
    ...(events ? { events } : {}),
    connectionTtlSeconds: config.connectionTtlSeconds,
  };
}

export function closeDeps(runtime: LifecycleRuntime): CloseDeps {
  const { connectionTtlSeconds: _, ...open } = openDeps(runtime);
  const { fanoutQueue, config } = runtime;
  return {
    ...open,
    gateway: runtime.gateway,
    concurrency: config.fanoutConcurrency,
    ...(fanoutQueue
      ? { fanout: { queue: fanoutQueue, inlineLimit: config.inlineFanoutLimit, newId: ulid } }
      : {}),
  };
}

export function createRuntime(
  config: Config,
  overrides: RuntimeOverrides & { fanoutQueue?: FanoutQueue } = {},
): Runtime {
  const { observability, clock, store, events, gateway, fanoutQueue } = createLifecycleRuntime(
    config,
    overrides,
  );
  const nextId = monotonicFactory();
  const rateLimit =
    config.rateLimit.perSecond > 0 && config.tableName
      ? clientRateLimit(
          new DynamoRateLimiter(createDocumentClient(config), config.tableName),
          config.rateLimit,
          clock,
        )
      : undefined;
  const streams = new Streams({
    streams: new DynamoStreamStore(createDocumentClient(config), config.tableName ?? '', clock),
    clock,
    metrics: observability.sink,
    settings: { historyTtlSeconds: config.historyTtlSeconds, mailboxTtlSeconds: config.mailboxTtlSeconds },
  });
  const service = new RoomcastService({
    ...(rateLimit ? { rateLimit } : {}),
    ...(fanoutQueue ? { fanout: { queue: fanoutQueue, inlineLimit: config.inlineFanoutLimit } } : {}),
    store,
    gateway,
    clock,
    ids: { messageId: () => nextId() },
    metrics: observability.sink,
    events,
    settings: {
      maxDataBytes: config.maxDataBytes,
      fanoutConcurrency: config.fanoutConcurrency,
      connectionTtlSeconds: config.connectionTtlSeconds,
    },
    streams,
  });
  return {
    config,
    observability,
    clock,
    store,
    gateway,
    service,
    events,
    ...(fanoutQueue ? { fanoutQueue } : {}),
  };
}

/** The fan-out worker over a runtime: the same store, lean gateway, prune (with its events) and metrics. */
export function createFanoutWorker(runtime: Runtime): FanoutWorker {
  const { config, store, service, clock } = runtime;
  if (!runtime.fanoutQueue) throw new ConfigError('FANOUT_QUEUE_URL is required for the fan-out worker');
  if (!config.tableName) throw new ConfigError('TABLE_NAME is required');
  return new FanoutWorker({
    queue: runtime.fanoutQueue,
    ledger: new DynamoJobLedger(createDocumentClient(config), config.tableName, clock),
    gateway: runtime.gateway,
    targets: (target) => ('room' in target ? store.roomConnectionIds(target.room) : store.allConnectionIds()),
    prune: (connectionId) => service.disconnect(connectionId, 'gone'),
    roomUserConnections: (room, userId) => store.roomUserConnections(room, userId),
    metrics: runtime.observability.sink,
    clock,
    settings: { concurrency: config.fanoutConcurrency, jobSize: config.fanoutJobSize },
  });
}
