import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../../lambdas/domain/constants.js';
import { EVENT_TYPES } from '../../../lambdas/domain/events.js';
import { signBody, WebhookSender } from '../../../local/webhook-sender.js';
import { CountingSink } from '../fakes.js';

/** A port nothing listens on. */
async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/`;
}

function sender(url: string, delays: number[], extra: { maxQueue?: number } = {}) {
  const metrics = new CountingSink();
  const warnings: string[] = [];
  let now = 1_790_000_000_000;
  const hook = new WebhookSender({
    url,
    secret: 's',
    source: 'roomcast.local',
    region: 'us-east-1',
    account: '000000000000',
    metrics,
    warn: (message) => warnings.push(message),
    random: () => 0.5,
    timers: {
      now: () => now,
      schedule: (fn, ms) => {
        delays.push(ms);
        now += ms;
        const handle = setImmediate(fn);
        return () => clearImmediate(handle);
      },
    },
    ...extra,
  });
  return { hook, metrics, warnings };
}

const online = { detailType: EVENT_TYPES.userOnline, detail: { userId: 'u' } } as const;

describe('WebhookSender', () => {
  it('retries an unreachable receiver with capped exponential backoff for a minute, then gives up and counts it', async () => {
    const delays: number[] = [];
    const { hook, metrics, warnings } = sender(await deadUrl(), delays);

    await hook.publish([online]);
    await hook.idle();

    // Equal jitter at 0.5: 3/4 of min(10 s, 250 ms · 2^n).
    expect(delays.slice(0, 4)).toEqual([187, 375, 750, 1500]);
    expect(Math.max(...delays)).toBeLessThanOrEqual(10_000);
    expect(delays.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(60_000);
    expect(metrics.counts.get(METRICS.eventsFailed)).toBe(1);
    expect(warnings).toEqual(['webhook gave up on an event']);
    expect(hook.size).toBe(0);
  });

  it('refuses new events when the queue is full (keeping the older ones) and counts them', async () => {
    const { hook, metrics } = sender(await deadUrl(), [], { maxQueue: 2 });
    await hook.publish([online, online]);
    await expect(hook.publish([online])).rejects.toThrow(/queue is full/);
    expect(hook.size).toBe(2);
    expect(metrics.counts.get(METRICS.eventsFailed)).toBe(1);
    await hook.close();
  });

  it('signs the raw body with HMAC-SHA256 (value from `openssl dgst -sha256 -hmac`)', () => {
    expect(signBody('{"a":1}', 'dev-webhook-secret')).toBe(
      'sha256=8f71dc273f5198cca6205fc587cd33a7b4e5a73ad8bdc866da2b3b9af42976e4',
    );
  });
});

describe('WebhookSender with a URL it cannot POST to', () => {
  it('refuses a scheme other than http or https when built (localhost:8080 parses as scheme localhost:)', () => {
    expect(() => sender('localhost:8080', [])).toThrow('http:// or https://');
    expect(() => sender('ftp://127.0.0.1/', [])).toThrow('http:// or https://');
  });

  it('survives an outcome observer that throws (the dashboard feed), never an uncaught error', async () => {
    const delays: number[] = [];
    const warnings: string[] = [];
    const hook = new WebhookSender({
      url: await deadUrl(),
      secret: 's',
      source: 'roomcast.local',
      region: 'us-east-1',
      account: '000000000000',
      metrics: new CountingSink(),
      warn: (message) => warnings.push(message),
      onOutcome: () => {
        throw new Error('observer broke');
      },
      retryForMs: 0,
      timers: {
        now: () => 0,
        schedule: (fn, ms) => {
          delays.push(ms);
          const handle = setImmediate(fn);
          return () => clearImmediate(handle);
        },
      },
    });
    await hook.publish([online]);
    await hook.idle();
    expect(warnings).toEqual(['webhook gave up on an event', 'webhook delivery failed']);
  });
});
