// Lambda entry: the counters' reconciliation, run by an EventBridge schedule every 5 minutes.
// It needs the table only: no @connections client.
import { reconcileTable } from '../adapters/dynamo-reconcile.js';
import { loadConfig } from '../config.js';
import { createReconcileHandler } from '../handlers/reconcile.js';
import { createStore, observabilityFor } from '../runtime.js';

const config = loadConfig(process.env);
export const handler = createReconcileHandler({
  observability: observabilityFor(config),
  store: createStore(config, { reconciler: reconcileTable }),
});
