// Lambda entry: the counters' reconciliation, run by an EventBridge schedule every 5 minutes.
// It works on the table itself (no ConnectionStore reconciles here); an orphan membership it deletes
// is settled and its leave announced like any removal, so it posts to @connections too.
import { setTimeout as sleep } from 'node:timers/promises';
import { reconcileTable } from '../adapters/dynamo-reconcile.js';
import { ConfigError, loadConfig } from '../config.js';
import { settleOrphanMembership } from '../domain/lifecycle.js';
import { createReconcileHandler } from '../handlers/reconcile.js';
import { closeDeps, createDocumentClient, createLifecycleRuntime } from '../runtime.js';

const config = loadConfig(process.env);
const { tableName } = config;
if (!tableName) throw new ConfigError('TABLE_NAME is required');
const runtime = createLifecycleRuntime(config);
const deps = closeDeps(runtime);
const doc = createDocumentClient(config);
export const handler = createReconcileHandler({
  observability: runtime.observability,
  events: runtime.events,
  reconcile: () =>
    reconcileTable(doc, tableName, Math.floor(Date.now() / 1000), {
      settle: () => sleep(config.reconcileSettleMs),
      expiryLagLimitMs: config.reconcileSettleMs,
      settleRemovedMembership: (item) => settleOrphanMembership(deps, item),
    }),
});
