// Lambda entry: $connect.
import { loadConfig } from '../config.js';
import { createConnectHandler } from '../handlers/connect.js';
import { createRuntime } from '../runtime.js';

export const handler = createConnectHandler(createRuntime(loadConfig(process.env)));
