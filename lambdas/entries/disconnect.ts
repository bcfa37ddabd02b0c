// Lambda entry: $disconnect.
import { loadConfig } from '../config.js';
import { createDisconnectHandler } from '../handlers/disconnect.js';
import { createRuntime } from '../runtime.js';

export const handler = createDisconnectHandler(createRuntime(loadConfig(process.env)));
