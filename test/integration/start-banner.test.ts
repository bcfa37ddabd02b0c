import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { connectRaw } from './harness.js';

const run = promisify(execFile);
let child: ChildProcess | undefined;
afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
  }
});

/** Starts `npm start`'s entry on a free port and resolves with its banner. */
function startBanner(): Promise<string> {
  return new Promise((resolve, reject) => {
    child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'SILENT' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ctrl-C')) resolve(out);
    });
    child.once('exit', (code) =>
      reject(new Error(`the local stack exited (${code}) before its banner: ${out}`)),
    );
  });
}

describe('the start banner', () => {
  it('prints a token command that works inside $(...) and a token the stack accepts', async () => {
    const banner = await startBanner();
    const command = /Get a token:\s+(?:TOKEN=\$\()?(npm run [^)\n]+)/.exec(banner)?.[1];
    expect(command).toBeDefined();
    const url = /WebSocket\s+(ws:\/\/\S+)\?token=<jwt>/.exec(banner)?.[1];
    expect(url).toBeDefined();

    const { stdout } = await run('sh', ['-c', `TOKEN=$(${command}) && printf %s "$TOKEN"`]);
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const client = await connectRaw(`${url}?token=${stdout}`);
    expect(await client.request({ action: 'join', room: 'private-ops' })).toMatchObject({ type: 'ack' });
    await client.close();
  }, 60_000);
});
