/**
 * What the two authorizers need and nothing more (no table, no @connections, no
 * queues): observability, the token verifier, the push API keys. Kept apart from
 * runtime.ts so that their bundles do not carry the DynamoDB, SQS and EventBridge
 * clients.
 */
import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { hs256Verifier, jwksVerifier, type TokenVerifier } from './adapters/auth.js';
import {
  createObservability,
  type Observability,
  type ObservabilityHooks,
} from './adapters/observability.js';
import { cachedSecret, parseApiKeys, parseJwtSecrets } from './adapters/secrets.js';
import { type Config, ConfigError } from './config.js';

export function observabilityFor(config: Config, hooks?: ObservabilityHooks): Observability {
  return createObservability({
    serviceName: config.serviceName,
    namespace: config.metricsNamespace,
    logLevel: config.logLevel,
    ...(hooks ? { hooks } : {}),
  });
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
