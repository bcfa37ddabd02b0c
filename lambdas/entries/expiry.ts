// Lambda entry: the table stream consumer that settles counters for TTL deletions and
// announces the presence changes they make (so it posts to @connections too).
import { loadConfig } from '../config.js';
import { createExpiryHandler } from '../handlers/expiry.js';
import { createLifecycleRuntime } from '../runtime.js';

export const handler = createExpiryHandler(createLifecycleRuntime(loadConfig(process.env)));
