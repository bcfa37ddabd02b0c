// Lambda entry: the $connect REQUEST authorizer. It needs no table and no @connections client.
import { loadConfig } from '../config.js';
import { createTokenVerifier, observabilityFor } from '../edge-runtime.js';
import { createAuthorizerHandler } from '../handlers/authorizer.js';

const config = loadConfig(process.env);
export const handler = createAuthorizerHandler(
  { config, observability: observabilityFor(config) },
  createTokenVerifier(config),
);
