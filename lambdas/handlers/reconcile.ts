import type { Context } from 'aws-lambda';
import type { ConnectionStore, ReconcileReport } from '../domain/ports.js';
import type { Runtime } from '../runtime.js';
import { instrumented } from './wrapper.js';

/**
 * The counters' reconciliation (EventBridge schedule on AWS, a timer locally):
 * recounts every counter, sets the wrong ones to the truth, deletes orphans (the
 * leaves of orphan memberships go to backends through `events`, waited for before
 * the run ends), and logs what it corrected. A failure is logged and rethrown; the
 * next run starts over.
 */
export function createReconcileHandler(
  runtime: Pick<Runtime, 'observability' | 'events'> & Pick<ConnectionStore, 'reconcile'>,
) {
  return (_event?: unknown, context?: Context): Promise<ReconcileReport> =>
    instrumented(runtime, 'reconcile', { requestId: context?.awsRequestId }, context, async ({ logger }) => {
      try {
        const report = await runtime.reconcile();
        if (report.countersFixed > 0 || report.orphansDeleted > 0) {
          logger.warn('reconciliation corrected the store', { ...report });
        } else {
          logger.info('reconciliation found the counters right', { ...report });
        }
        return report;
      } catch (error) {
        logger.error('reconciliation failed', error as Error);
        throw error;
      }
    });
}
