import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { monotonicFactory } from 'ulid';
import { hs256Verifier, jwksVerifier, type TokenVerifier } from './adapters/auth.js';
import { DynamoRateLimiter } from './adapters/dynamo-rate-limiter.js';
import { DynamoConnectionStore, type TableReconciler } from './adapters/dynamo-store.js';
import { DynamoStreamStore } from './adapters/dynamo-streams.js';
import { createEventBridgeClient, EventBridgePublisher } from './adapters/eventbridge-publisher.js';
import { createManagementClient, ManagementApiGateway } from './adapters/gateway.js';
import { createLeanPoster } from './adapters/lean-poster.js';
import { createObservability, type Observability } from './adapters/observability.js';
import { cachedSecret, parseApiKeys, parseJwtSecrets } from './adapters/secrets.js';
import { type Config, ConfigError } from './config.js';
import { BackendEvents } from './domain/events.js';
import type { Clock, ConnectionGateway, ConnectionStore, EventPublisher } from './domain/ports.js';
import { clientRateLimit } from './domain/rate-limit.js';
import { RoomcastService } from './domain/service.js';
import { Streams } from './domain/streams.js';

/** Everything a handler needs, built once per process from the parsed configuration. */
export interface Runtime {
  config: Config;
  observability: Observability;
  clock: Clock;
  store: ConnectionStore;
  gateway: ConnectionGateway;
  service: RoomcastService;
  /** Events to backends (off when no bus or webhook is configured). */
  events?: BackendEvents;
}

export const systemClock: Clock = { now: () => Date.now() };

export function createDocumentClient(
  config: Pick<Config, 'region' | 'dynamoEndpoint'>,
): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    region: config.region,
    ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export function observabilityFor(config: Config): Observability {
  return createObservability({
    serviceName: config.serviceName,
    namespace: config.metricsNamespace,
    logLevel: config.logLevel,
  });
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
    timeoutMs,
    warn: (message, error) => observability.logger.warn(message, { error: (error as Error)?.message }),
  });
}

export function createRuntime(config: Config, overrides: { events?: EventPublisher } = {}): Runtime {
  if (!config.connectionsEndpoint) throw new ConfigError('CONNECTIONS_ENDPOINT is required');
  const store = createStore(config);
  const observability = observabilityFor(config);
  const events = createBackendEvents(config, observability, overrides.events);
  const clock = systemClock;
  const gateway = new ManagementApiGateway(
    createManagementClient(config.connectionsEndpoint, config.region, config.fanoutConcurrency),
    {
      logger: observability.logger,
      // Posts skip the SDK client's middleware (the fan-out's main cost); GET and DELETE keep it.
      post: createLeanPoster({
        endpoint: config.connectionsEndpoint,
        region: config.region,
        maxSockets: config.fanoutConcurrency,
      }),
    },
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
  return { config, observability, clock, store, gateway, service, events };
}

/**
 * Secrets Manager with timeouts and one retry, so a read that hangs fails (a
 * fault the authorizers count as InternalErrors) well inside the functions'
 * 10 s timeout instead of timing the function out. `overrides` is for tests.
 */
export function createSecretsClient(
  config: Pick<Config, 'region'>,
  overrides: SecretsManagerClientConfig = {},
): SecretsManagerClient {
  return new SecretsManagerClient({
    region: config.region,
    maxAttempts: 2,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 1000,
      requestTimeout: 2500,
      throwOnRequestTimeout: true,
    }),
    ...overrides,
  });
}

/** The client token verifier the configuration names. */
export function createTokenVerifier(config: Config): TokenVerifier {
  const auth = config.clientAuth;
  if (!auth)
    throw new ConfigError('set JWT_SECRET, JWT_SECRET_ARN, or JWT_ISSUER + JWT_AUDIENCE + JWT_JWKS_URL');
  if (auth.mode === 'oidc') return jwksVerifier(auth);
  if (auth.mode === 'secret') return hs256Verifier(async () => [auth.secret]);
  const secret = cachedSecret(createSecretsClient(config), auth.secretArn, config.secretCacheMs);
  return hs256Verifier(async () => parseJwtSecrets(await secret()));
}

/** The active push API keys, or undefined when API Gateway checks IAM (SigV4) instead. */
export function createApiKeySource(config: Config): (() => Promise<string[]>) | undefined {
  const auth = config.pushAuth;
  if (!auth) throw new ConfigError('set PUSH_API_KEYS or PUSH_API_KEYS_SECRET_ARN, or PUSH_AUTH=iam');
  if (auth.mode === 'iam') return undefined;
  if (auth.mode === 'keys') return async () => auth.keys;
  const secret = cachedSecret(createSecretsClient(config), auth.secretArn, config.secretCacheMs);
  return async () => parseApiKeys(await secret());
}
