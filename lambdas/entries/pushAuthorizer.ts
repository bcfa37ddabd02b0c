// Lambda entry: the push API's key authorizer (apikey stages). It needs no table and no @connections client.
import { loadConfig } from '../config.js';
import { createApiKeySource, observabilityFor } from '../edge-runtime.js';
import { createPushAuthorizerHandler } from '../handlers/push-authorizer.js';

const config = loadConfig(process.env);
const apiKeys = createApiKeySource(config);
if (!apiKeys) throw new Error('the push authorizer runs only on apikey stages (PUSH_AUTH=apikey)');
export const handler = createPushAuthorizerHandler(
  { config, observability: observabilityFor(config) },
  apiKeys,
);
