import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The SDK's size budget: minified and gzipped (CONTRACT section 8). */
export const CLIENT_BUDGET_BYTES = 8 * 1024;

export interface ClientBundleFigures {
  minifiedBytes: number;
  gzippedBytes: number;
}

/** Bundles `@roomcast/client` as a browser app would (esbuild, minified, ESM) and measures it. */
export async function measureClientBundle(): Promise<ClientBundleFigures> {
  const result = await build({
    entryPoints: [new URL('../client/src/index.ts', import.meta.url).pathname],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.contents ?? new Uint8Array();
  return { minifiedBytes: code.byteLength, gzippedBytes: gzipSync(code, { level: 9 }).byteLength };
}

/** Prints the SDK's bundle size against its budget (deterministic: one measurement is the figure). */
export async function clientBench(): Promise<void> {
  const figures = await measureClientBundle();
  console.log(
    `\n@roomcast/client (esbuild: bundle, minify, esm, browser): ${(figures.minifiedBytes / 1024).toFixed(1)} KiB minified, ` +
      `${(figures.gzippedBytes / 1024).toFixed(2)} KiB gzipped (budget ${CLIENT_BUDGET_BYTES / 1024} KiB)`,
  );
}
