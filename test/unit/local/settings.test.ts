import { describe, expect, it } from 'vitest';
import { readLocalSettings } from '../../../local/settings.js';

describe("npm start's settings", () => {
  it('takes the defaults, and the dashboard flag', () => {
    const read = readLocalSettings({}, ['--dashboard']);
    expect(read).toMatchObject({
      ok: true,
      dashboard: true,
      env: { PORT: 4000, LOG_LEVEL: 'WARN', ROOMCAST_ALLOW_NO_ORIGIN: true, ROOMCAST_RATE_LIMIT_BURST: 40 },
    });
  });

  it('takes LOG_LEVEL in any case (Powertools does)', () => {
    expect(readLocalSettings({ LOG_LEVEL: 'info' }, [])).toMatchObject({
      ok: true,
      env: { LOG_LEVEL: 'INFO' },
    });
  });

  it.each([
    ['PORT', 'abc', 'a port number from 0 to 65535'],
    ['PORT', '70000', 'a port number from 0 to 65535'],
    ['ROOMCAST_RATE_LIMIT_BURST', '0', 'a whole number of frames, 1 or more'],
    ['ROOMCAST_ALLOW_NO_ORIGIN', 'maybe', 'true or false'],
    ['LOG_LEVEL', 'loud', 'DEBUG, INFO, WARN, ERROR or SILENT'],
    // `localhost:8000` parses as a URL of scheme `localhost:`.
    ['DYNAMODB_ENDPOINT', 'localhost:8000', 'an http:// or https:// URL, such as http://127.0.0.1:8000'],
  ])('refuses %s=%s in one line that names it and what it takes', (name, value, expected) => {
    const read = readLocalSettings({ [name]: value }, []);
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.exitCode).toBe(1);
    expect(read.message).toContain(`${name}="${value}": expected ${expected}`);
    expect(read.message).not.toContain('ZodError');
  });

  it.each([
    [
      'ROOMCAST_WEBHOOK_URL',
      'hooks.example/services/T000/SECRET',
      'an http:// or https:// URL, such as http://127.0.0.1:8080/',
    ],
    ['ROOMCAST_WEBHOOK_URL', 'ftp://127.0.0.1/', 'an http:// or https:// URL'],
    ['ROOMCAST_API_KEY', ' , ', 'one key or more, comma-separated, none empty'],
    ['ROOMCAST_JWT_SECRET', '', 'a secret that is not empty'],
    ['ROOMCAST_WEBHOOK_SECRET', '', 'a secret that is not empty'],
  ])('refuses %s without repeating its value (it may carry a secret)', (name, value, expected) => {
    const read = readLocalSettings({ [name]: value }, []);
    expect(read.ok ? '' : read.message).toContain(`${name}=(not shown): expected ${expected}`);
    if (value.trim()) expect(read.ok ? '' : read.message).not.toContain(value);
  });

  it('takes API keys as a comma-separated list, empty entries dropped', () => {
    expect(readLocalSettings({ ROOMCAST_API_KEY: ' k1, ,k2 ' }, [])).toMatchObject({
      ok: true,
      env: { ROOMCAST_API_KEY: ['k1', 'k2'] },
    });
  });

  it('names every bad setting at once', () => {
    const read = readLocalSettings({ PORT: 'x', LOG_LEVEL: 'loud' }, []);
    expect(read.ok ? '' : read.message.split('\n').slice(1)).toEqual([
      '  PORT="x": expected a port number from 0 to 65535 (0 picks a free one)',
      '  LOG_LEVEL="loud": expected DEBUG, INFO, WARN, ERROR or SILENT',
    ]);
  });

  it('refuses an unknown flag with the usage (ports are set with PORT)', () => {
    const read = readLocalSettings({}, ['--port', '5000']);
    expect(read).toMatchObject({ ok: false, exitCode: 2 });
    expect(read.ok ? '' : read.message).toMatch(/Unknown option '--port'[\s\S]*PORT=5000 npm start/);
  });
});
