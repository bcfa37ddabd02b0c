// Lambda entry: $disconnect.
import { loadConfig } from '../config.js';
import { createDisconnectHandler } from '../handlers/disconnect.js';
import { createLifecycleRuntime } from '../runtime.js';

export const handler = createDisconnectHandler(createLifecycleRuntime(loadConfig(process.env)));
