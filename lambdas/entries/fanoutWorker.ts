// Lambda entry: the fan-out worker, fed by the SQS queue that large fan-outs are handed to.
import { loadConfig } from '../config.js';
import { createFanoutWorkerHandler } from '../handlers/fanout-worker.js';
import { createFanoutWorker, createRuntime } from '../runtime.js';

const runtime = createRuntime(loadConfig(process.env));
export const handler = createFanoutWorkerHandler(runtime, createFanoutWorker(runtime));
