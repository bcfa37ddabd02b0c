// Lambda entry: $connect.
import { loadConfig } from '../config.js';
import { createConnectHandler } from '../handlers/connect.js';
import { createConnectRuntime } from '../runtime.js';

export const handler = createConnectHandler(createConnectRuntime(loadConfig(process.env)));
