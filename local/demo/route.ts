import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import type { LocalRoute } from '../gateway.js';
import { hostCheck } from '../hosts.js';

const USER = /^[A-Za-z0-9_.-]{1,32}$/;
const HERE = fileURLToPath(new URL('.', import.meta.url));

export interface DemoRouteOptions {
  /** The client JWT secret of the local stack: the demo's tokens are ordinary client tokens. */
  jwtSecret: string;
  /** Host names besides the loopback ones that the demo's token route answers (see hosts.ts). */
  hostNames?: readonly string[];
}

/** Pages of your own served from this machine (any port) may use the SDK script and the demo tokens; other sites may not. */
const LOCAL_ORIGIN = /^http:\/\/(127\.0\.0\.1|localhost)(:\d{1,5})?$/;

function reply(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  const origin = res.req.headers.origin;
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    ...(origin && LOCAL_ORIGIN.test(origin) ? { 'access-control-allow-origin': origin, vary: 'origin' } : {}),
  });
  res.end(body);
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  reply(res, status, 'application/json', JSON.stringify(body));

/** A script bundled by esbuild once, on the first request for it: the demo (with the SDK), or the SDK alone. */
async function bundle(entry: string): Promise<Uint8Array> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]?.contents ?? new Uint8Array();
}

/**
 * The demo chat at `/demo/` (page, script; `/demo/client.js` is the SDK alone, for pages of your own), `GET /demo/token?user=NAME` (a client
 * token for that name); the page reads who is in a room with the SDK's `room.presence()`.
 * Local stack only: the CDK stack has none of these.
 */
export function createDemoRoute(options: DemoRouteOptions): LocalRoute {
  const scripts = new Map<string, Promise<Uint8Array>>();
  const entries: Record<string, string> = {
    '/demo/app.js': `${HERE}app.ts`,
    '/demo/client.js': fileURLToPath(new URL('../../client/src/index.ts', import.meta.url)),
  };
  const secret = new TextEncoder().encode(options.jwtSecret);
  const knownHost = hostCheck(options.hostNames);
  return async (req, res, url) => {
    if (!url.pathname.startsWith('/demo')) return false;
    if (req.method !== 'GET') {
      json(res, 405, { error: { code: 'VALIDATION_ERROR', message: 'the demo answers GET only' } });
      return true;
    }
    switch (url.pathname) {
      case '/demo':
      case '/demo/':
        reply(res, 200, 'text/html; charset=utf-8', await readFile(`${HERE}index.html`));
        return true;
      case '/demo/app.js':
      case '/demo/client.js': {
        const script = scripts.get(url.pathname) ?? bundle(entries[url.pathname] ?? '');
        scripts.set(url.pathname, script);
        try {
          reply(res, 200, 'text/javascript; charset=utf-8', await script);
        } catch (error) {
          scripts.delete(url.pathname);
          json(res, 500, {
            error: { code: 'INTERNAL', message: `demo bundle failed: ${(error as Error).message}` },
          });
        }
        return true;
      }
      case '/demo/token': {
        // A token acts as any user: only for a page of this machine's own names (DNS rebinding).
        if (!knownHost(req.headers.host)) {
          json(res, 403, { error: { code: 'FORBIDDEN', message: 'unknown host' } });
          return true;
        }
        const user = url.searchParams.get('user') ?? '';
        if (!USER.test(user)) {
          json(res, 400, {
            error: { code: 'VALIDATION_ERROR', message: 'user must be 1-32 characters of A-Z a-z 0-9 _ . -' },
          });
          return true;
        }
        // Short-lived on purpose: the SDK asks for a fresh token before every connection attempt.
        const token = await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(user)
          .setIssuedAt()
          .setExpirationTime('15m')
          .sign(secret);
        json(res, 200, { token });
        return true;
      }
      default:
        json(res, 404, { error: { code: 'NOT_FOUND', message: `no demo route ${url.pathname}` } });
        return true;
    }
  };
}
