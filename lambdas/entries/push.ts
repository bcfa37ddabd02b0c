// Lambda entry: the push HTTP API (/v1/*).
import { loadConfig } from '../config.js';
import { createPushHandler } from '../handlers/push.js';
import { createApiKeySource, createRuntime } from '../runtime.js';

const runtime = createRuntime(loadConfig(process.env));
export const handler = createPushHandler(runtime, createApiKeySource(runtime.config));
