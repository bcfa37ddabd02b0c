// Lambda entry: the table stream consumer that settles counters for TTL deletions.
// It needs the table only: no @connections client, no CONNECTIONS_ENDPOINT.
import { loadConfig } from '../config.js';
import { createExpiryHandler } from '../handlers/expiry.js';
import { createBackendEvents, createStore, observabilityFor } from '../runtime.js';

const config = loadConfig(process.env);
const observability = observabilityFor(config);
export const handler = createExpiryHandler({
  observability,
  store: createStore(config),
  events: createBackendEvents(config, observability),
});
