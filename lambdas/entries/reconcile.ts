// Lambda entry: the counters' reconciliation, run by an EventBridge schedule every 5 minutes.
// It needs the table only: no @connections client.
// It builds no ConnectionStore: the reconciliation works on the table itself.
import { setTimeout as sleep } from 'node:timers/promises';
import { reconcileTable } from '../adapters/dynamo-reconcile.js';
import { ConfigError, loadConfig } from '../config.js';
import { createReconcileHandler } from '../handlers/reconcile.js';
import { createDocumentClient, observabilityFor } from '../runtime.js';

const config = loadConfig(process.env);
const { tableName } = config;
if (!tableName) throw new ConfigError('TABLE_NAME is required');
const doc = createDocumentClient(config);
export const handler = createReconcileHandler({
  observability: observabilityFor(config),
  reconcile: () =>
    reconcileTable(doc, tableName, Math.floor(Date.now() / 1000), {
      settle: () => sleep(config.reconcileSettleMs),
      expiryLagLimitMs: config.reconcileSettleMs,
    }),
});
