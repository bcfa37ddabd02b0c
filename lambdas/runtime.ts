import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { monotonicFactory } from 'ulid';
import { hs256Verifier, jwksVerifier, type TokenVerifier } from './adapters/auth.js';
import { DynamoConnectionStore } from './adapters/dynamo-store.js';
import { createManagementClient, ManagementApiGateway } from './adapters/gateway.js';
import { createObservability, type Observability } from './adapters/observability.js';
import { cachedSecret, parseApiKeys, parseJwtSecrets } from './adapters/secrets.js';
import { type Config, ConfigError } from './config.js';
import type { Clock, ConnectionGateway, ConnectionStore } from './domain/ports.js';
import { RoomcastService } from './domain/service.js';

/** Everything a handler needs, built once per process from the parsed configuration. */
export interface Runtime {
  config: Config;
  observability: Observability;
  clock: Clock;
  store: ConnectionStore;
  gateway: ConnectionGateway;
  service: RoomcastService;
}

export const systemClock: Clock = { now: () => Date.now() };

/** DynamoDB's bounds when the caller gives none (the defaults of lambdas/config.ts). */
const DEFAULT_DYNAMO_TIMEOUTS: Config['dynamoTimeouts'] = { connectMs: 500, requestMs: 1500, maxAttempts: 3 };

/**
 * The DynamoDB client: every call has a connection timeout, a request timeout
 * and a bounded number of attempts, so a hung store fails fast instead of
 * holding a handler until its Lambda timeout.
 */
export function createDocumentClient(
  config: Pick<Config, 'region' | 'dynamoEndpoint'> & Partial<Pick<Config, 'dynamoTimeouts'>>,
): DynamoDBDocumentClient {
  const timeouts = config.dynamoTimeouts ?? DEFAULT_DYNAMO_TIMEOUTS;
  const client = new DynamoDBClient({
    region: config.region,
    maxAttempts: timeouts.maxAttempts,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: timeouts.connectMs,
      requestTimeout: timeouts.requestMs,
      throwOnRequestTimeout: true,
    }),
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
export function createStore(config: Config): ConnectionStore {
  if (!config.tableName) throw new ConfigError('TABLE_NAME is required');
  return new DynamoConnectionStore(createDocumentClient(config), config.tableName, systemClock);
}

export function createRuntime(config: Config): Runtime {
  if (!config.connectionsEndpoint) throw new ConfigError('CONNECTIONS_ENDPOINT is required');
  const store = createStore(config);
  const observability = observabilityFor(config);
  const clock = systemClock;
  const gateway = new ManagementApiGateway(
    createManagementClient(config.connectionsEndpoint, config.region, config.fanoutConcurrency),
    { logger: observability.logger },
  );
  const nextId = monotonicFactory();
  const service = new RoomcastService({
    store,
    gateway,
    clock,
    ids: { messageId: () => nextId() },
    metrics: observability.sink,
    settings: {
      maxDataBytes: config.maxDataBytes,
      fanoutConcurrency: config.fanoutConcurrency,
      connectionTtlSeconds: config.connectionTtlSeconds,
    },
  });
  return { config, observability, clock, store, gateway, service };
}

function secretsClient(config: Config) {
  return new SecretsManagerClient({ region: config.region });
}

/** The client token verifier the configuration names. */
export function createTokenVerifier(config: Config): TokenVerifier {
  const auth = config.clientAuth;
  if (!auth)
    throw new ConfigError('set JWT_SECRET, JWT_SECRET_ARN, or JWT_ISSUER + JWT_AUDIENCE + JWT_JWKS_URL');
  if (auth.mode === 'oidc') return jwksVerifier(auth);
  if (auth.mode === 'secret') return hs256Verifier(async () => [auth.secret]);
  const secret = cachedSecret(secretsClient(config), auth.secretArn, config.secretCacheMs);
  return hs256Verifier(async () => parseJwtSecrets(await secret()));
}

/** The active push API keys, or undefined when API Gateway checks IAM (SigV4) instead. */
export function createApiKeySource(config: Config): (() => Promise<string[]>) | undefined {
  const auth = config.pushAuth;
  if (!auth) throw new ConfigError('set PUSH_API_KEYS or PUSH_API_KEYS_SECRET_ARN, or PUSH_AUTH=iam');
  if (auth.mode === 'iam') return undefined;
  if (auth.mode === 'keys') return async () => auth.keys;
  const secret = cachedSecret(secretsClient(config), auth.secretArn, config.secretCacheMs);
  return async () => parseApiKeys(await secret());
}
