import { startLocalStack } from '../local/stack.js';
import { ClientPool } from './clients.js';

process.env.POWERTOOLS_METRICS_DISABLED = 'true';
const stack = await startLocalStack({
  port: 0,
  logLevel: 'ERROR',
  sweepIntervalMs: 0,
  reconcileIntervalMs: 0,
});
const pool = new ClientPool(stack.urls.websocket, stack.env.JWT_SECRET ?? '');
await pool.grow(200, 100);
await pool.join('warm', 200, 100);
const t0 = performance.now();
await pool.grow(1200, 100);
const t1 = performance.now();
await pool.join('room', 1200, 100);
const t2 = performance.now();
console.log(`connect 1000: ${(t1 - t0).toFixed(0)} ms, join 1200: ${(t2 - t1).toFixed(0)} ms`);
pool.terminateAll();
await stack.close();
process.exit(0);
