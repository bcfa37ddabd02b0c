/**
 * `npm start`'s settings: its environment and flags, checked once. A mistake is one line per
 * problem that names the variable or flag and what it takes (no validation dump, no stack trace).
 */
import { parseArgs } from 'node:util';
import * as z from 'zod';
import { LOCAL_DEFAULTS } from './stack.js';

export const START_USAGE =
  'usage: npm start [-- --dashboard]   (settings are environment variables: PORT=5000 npm start; see the README)';

/** An http(s) URL: `localhost:8080` parses as a URL of scheme `localhost:`, which nothing here can reach. */
const httpUrl = (example: string) =>
  z.url({ protocol: /^https?$/, error: `an http:// or https:// URL, such as ${example}` });

const wholeNumber = (what: string) =>
  z
    .string()
    .regex(/^[0-9]+$/, what)
    .transform(Number);

const ENV = z.object({
  PORT: wholeNumber('a port number from 0 to 65535 (0 picks a free one)')
    .pipe(z.number().max(65535, 'a port number from 0 to 65535 (0 picks a free one)'))
    .default(LOCAL_DEFAULTS.port),
  ROOMCAST_JWT_SECRET: z.string().min(1, 'a secret that is not empty').optional(),
  ROOMCAST_API_KEY: z
    .string()
    .transform((keys) =>
      keys
        .split(',')
        .map((key) => key.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string()).min(1, 'one key or more, comma-separated, none empty'))
    .optional(),
  DYNAMODB_ENDPOINT: httpUrl('http://127.0.0.1:8000').optional(),
  ROOMCAST_ALLOWED_ORIGINS: z.string().optional(),
  ROOMCAST_ALLOW_NO_ORIGIN: z.stringbool({ error: 'true or false' }).default(true),
  ROOMCAST_RATE_LIMIT_PER_SECOND: z
    .string()
    .regex(/^[0-9]+(\.[0-9]+)?$/, 'a number of frames per second; 0 turns the limit off')
    .transform(Number)
    .default(20),
  ROOMCAST_RATE_LIMIT_BURST: wholeNumber('a whole number of frames, 1 or more')
    .pipe(z.number().min(1, 'a whole number of frames, 1 or more'))
    .default(40),
  ROOMCAST_HISTORY_TTL_SECONDS: wholeNumber('a whole number of seconds; 0 turns history off').optional(),
  ROOMCAST_MAILBOX_TTL_SECONDS: wholeNumber('a whole number of seconds; 0 turns the mailbox off').optional(),
  ROOMCAST_INLINE_FANOUT_LIMIT: wholeNumber('a whole number of connections, 1 or more')
    .pipe(z.number().min(1, 'a whole number of connections, 1 or more'))
    .optional(),
  ROOMCAST_ROOM_SPLIT_AFTER: wholeNumber('a whole number of members, 1 or more')
    .pipe(z.number().min(1, 'a whole number of members, 1 or more'))
    .optional(),
  LOG_LEVEL: z
    .string()
    .transform((level) => level.toUpperCase())
    .pipe(
      z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'], { error: 'DEBUG, INFO, WARN, ERROR or SILENT' }),
    )
    .default('WARN'),
  ROOMCAST_WEBHOOK_URL: httpUrl('http://127.0.0.1:8080/').optional(),
  ROOMCAST_WEBHOOK_SECRET: z.string().min(1, 'a secret that is not empty').optional(),
});

export type LocalEnv = z.infer<typeof ENV>;

/** Settings whose value a message never repeats. */
const NOT_SHOWN = new Set([
  'ROOMCAST_JWT_SECRET',
  'ROOMCAST_API_KEY',
  'ROOMCAST_WEBHOOK_SECRET',
  'ROOMCAST_WEBHOOK_URL',
]);

export type LocalSettings =
  | { ok: true; env: LocalEnv; dashboard: boolean }
  | { ok: false; message: string; exitCode: number };

/** Reads `npm start`'s environment and flags (`argv` without node and the script). */
export function readLocalSettings(environment: NodeJS.ProcessEnv, argv: string[]): LocalSettings {
  let dashboard: boolean;
  try {
    const { values } = parseArgs({ args: argv, options: { dashboard: { type: 'boolean', default: false } } });
    dashboard = values.dashboard;
  } catch (error) {
    return { ok: false, message: `${(error as Error).message}\n${START_USAGE}`, exitCode: 2 };
  }
  const parsed = ENV.safeParse(environment);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '');
      // The value as given (cut), so a typo is visible; not for secrets, nor for a webhook URL (its
      // path or query often carries the receiver's token).
      const given = NOT_SHOWN.has(name)
        ? '(not shown)'
        : JSON.stringify(String(environment[name] ?? '').slice(0, 80));
      return `  ${name}=${given}: expected ${issue.message}`;
    });
    return {
      ok: false,
      message: `roomcast local stack: ${lines.length === 1 ? 'a setting is' : 'settings are'} not valid\n${lines.join('\n')}`,
      exitCode: 1,
    };
  }
  return { ok: true, env: parsed.data, dashboard };
}
