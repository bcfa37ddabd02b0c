// Lambda entry: the table stream consumer that settles counters for TTL deletions.
// It needs the table only: no @connections client, no CONNECTIONS_ENDPOINT.
import { loadConfig } from '../config.js';
import { createExpiryHandler } from '../handlers/expiry.js';
import { createStore, observabilityFor } from '../runtime.js';

const config = loadConfig(process.env);
export const handler = createExpiryHandler({
  observability: observabilityFor(config),
  store: createStore(config),
});
