// Lambda entry: the $connect REQUEST authorizer.
import { loadConfig } from '../config.js';
import { createAuthorizerHandler } from '../handlers/authorizer.js';
import { createRuntime, createTokenVerifier } from '../runtime.js';

const runtime = createRuntime(loadConfig(process.env));
export const handler = createAuthorizerHandler(runtime, createTokenVerifier(runtime.config));
