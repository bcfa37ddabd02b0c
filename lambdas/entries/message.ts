// Lambda entry: join, leave, send, direct, ping and $default.
import { loadConfig } from '../config.js';
import { createMessageHandler } from '../handlers/message.js';
import { createRuntime } from '../runtime.js';

export const handler = createMessageHandler(createRuntime(loadConfig(process.env)));
