import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { LAMBDA_ENTRIES, type LambdaName, UNREACHED_SDK_MODULES } from '../lambdas/entries/index.js';
import { median } from './summary.js';

const run = promisify(execFile);
const ENTRIES_DIR = fileURLToPath(new URL('../lambdas/entries/', import.meta.url));

/** An ESM bundle still meets `require()` of node builtins inside CommonJS dependencies. */
const REQUIRE_SHIM =
  "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/** What module-scope initialisation of the handlers needs; nothing is contacted at import time. */
const HANDLER_ENV: Record<string, string> = {
  TABLE_NAME: 'roomcast-bench',
  CONNECTIONS_ENDPOINT: 'http://127.0.0.1:9/local',
  JWT_SECRET: 'dev-jwt-secret',
  PUSH_API_KEYS: 'dev-api-key',
  FANOUT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/roomcast-bench-fanout',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  LOG_LEVEL: 'ERROR',
};

export interface BundleFigures {
  name: LambdaName;
  bytes: number;
  /** The source map beside it (no sources content, as the stack ships it). */
  mapBytes: number;
  /** Median over `runs` fresh processes of the time `import()` of the bundle takes. */
  importMs: number;
  /** The same with `--enable-source-maps`, as the stack runs the functions (NODE_OPTIONS). */
  importWithMapsMs: number;
  /** Median wall time of the whole child process (node start-up, import, exit). */
  processMs: number;
}

async function bundle(name: LambdaName, outdir: string): Promise<string> {
  const outfile = join(outdir, `${name}.mjs`);
  const builtins = builtinModules.flatMap((m) => [m, `node:${m}`]);
  await build({
    entryPoints: [join(ENTRIES_DIR, `${name}.ts`)],
    outfile,
    bundle: true,
    minify: true,
    treeShaking: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    mainFields: ['module', 'main'],
    banner: { js: REQUIRE_SHIM },
    // As the CDK stack bundles them: a linked source map without the sources' content.
    sourcemap: true,
    sourcesContent: false,
    external: [...builtins, ...UNREACHED_SDK_MODULES],
    logLevel: 'error',
  });
  return outfile;
}

async function coldImport(
  file: string,
  nodeFlags: string[] = [],
): Promise<{ importMs: number; processMs: number }> {
  const script = [
    'const t0 = performance.now();',
    `const m = await import(${JSON.stringify(pathToFileURL(file).href)});`,
    'const ms = performance.now() - t0;',
    "if (typeof m.handler !== 'function') throw new Error('no handler export');",
    'process.stdout.write(String(ms));',
    'process.exit(0);',
  ].join('\n');
  const started = performance.now();
  const { stdout } = await run(process.execPath, [...nodeFlags, '--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...HANDLER_ENV },
    timeout: 30_000,
  });
  return { importMs: Number(stdout.trim()), processMs: performance.now() - started };
}

/** Bundles each Lambda entry as it would be deployed and times its cold import in fresh processes. */
export async function measureBundles(runs = 3): Promise<BundleFigures[]> {
  const outdir = await mkdtemp(join(tmpdir(), 'roomcast-bench-'));
  try {
    const figures: BundleFigures[] = [];
    for (const name of LAMBDA_ENTRIES) {
      const file = await bundle(name, outdir);
      const { size } = await stat(file);
      const { size: mapBytes } = await stat(`${file}.map`);
      const samples: { importMs: number; processMs: number }[] = [];
      const withMaps: number[] = [];
      // Alternated, so load on the machine hits both the same way.
      for (let i = 0; i < runs; i += 1) {
        samples.push(await coldImport(file));
        withMaps.push((await coldImport(file, ['--enable-source-maps'])).importMs);
      }
      figures.push({
        name,
        bytes: size,
        mapBytes,
        importMs: median(samples.map((s) => s.importMs)),
        importWithMapsMs: median(withMaps),
        processMs: median(samples.map((s) => s.processMs)),
      });
    }
    return figures;
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}
