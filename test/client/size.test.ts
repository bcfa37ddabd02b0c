import { expect, it } from 'vitest';
import { CLIENT_BUDGET_BYTES, measureClientBundle } from '../../bench/client.js';

it('fits the size budget: at most 8 KiB minified and gzipped', async () => {
  const { gzippedBytes } = await measureClientBundle();
  expect(gzippedBytes).toBeGreaterThan(1000);
  expect(gzippedBytes).toBeLessThanOrEqual(CLIENT_BUDGET_BYTES);
});
