import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

/** `npm start` as a user runs it, on a free port, with its output collected. */
function npmStart(env: Record<string, string>) {
  const child = spawn('npm', ['start'], {
    cwd: root,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'WARN', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += String(chunk);
  });
  child.stderr.on('data', (chunk) => {
    output += String(chunk);
  });
  return { child, output: () => output };
}

async function waitFor<T>(condition: () => T | undefined, child: ChildProcess): Promise<T> {
  for (;;) {
    const value = condition();
    if (value !== undefined) return value;
    await Promise.race([once(child.stdout ?? child, 'data'), once(child, 'exit')]);
  }
}

/** Process ids whose parent is `pid` (Linux `ps`). */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(true));
  });
}

describe('npm start', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'stops everything on %s: the port closes and no child process remains',
    async (signal) => {
      const { child, output } = npmStart({});
      const port = await waitFor(() => {
        const match = /WebSocket\s+ws:\/\/[^:]+:(\d+)/.exec(output());
        return match ? Number(match[1]) : undefined;
      }, child);
      const descendants = childrenOf(child.pid as number).flatMap((pid) => [pid, ...childrenOf(pid)]);
      expect(descendants.length).toBeGreaterThan(0);
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
      for (const pid of descendants) {
        while (alive(pid)) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(await portRefuses(port)).toBe(true);
    },
  );

  it('says which variable points at an unreachable DynamoDB and exits non-zero without a stack', async () => {
    const { child, output } = npmStart({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:1' });
    const [code] = await once(child, 'exit');
    expect(code).not.toBe(0);
    expect(output()).toContain('DYNAMODB_ENDPOINT=http://127.0.0.1:1');
    expect(output()).toContain('not reachable');
    expect(output()).not.toMatch(/\n\s+at /);
  });

  it('names a bad setting in one line and exits non-zero without a stack or a validation dump', async () => {
    const { child, output } = npmStart({ PORT: 'abc', ROOMCAST_WEBHOOK_URL: 'localhost:8080' });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(output()).toContain('PORT="abc": expected a port number');
    expect(output()).toContain('ROOMCAST_WEBHOOK_URL=(not shown): expected an http:// or https:// URL');
    expect(output()).not.toMatch(/\n\s+at |ZodError/);
  });
});
