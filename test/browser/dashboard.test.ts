/// <reference lib="dom" />
// The callbacks passed to page.$eval and page.waitForFunction run in the page.
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connect, startTestStack, type TestClient } from '../integration/harness.js';
import { launchChromium } from './chromium.js';

let stack: LocalStack;
let browser: Browser;
let page: Page;
const clients: TestClient[] = [];

beforeAll(async () => {
  // INFO so the log viewer has lines to show; the dashboard updates every 2 s as in `npm start`.
  stack = await startTestStack({ logLevel: 'INFO' });
  browser = await launchChromium();
  page = await browser.newPage();
  await page.setViewport({ width: 1440, height: 1000 });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await browser?.close();
  await stack?.close();
});

const text = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '');
const rowCount = () => page.$$eval('#conn-table tbody tr', (rows) => rows.length);

describe('the local dashboard in a real browser', () => {
  it('shows counts, charts, connections and logs live, and disconnects one connection', async () => {
    await page.goto(`http://127.0.0.1:${stack.port}/dashboard/`);
    await page.waitForFunction(() => document.querySelector('#live')?.className === 'on');
    expect(await text('#connections-count')).toBe('0');
    expect(await text('#events')).toContain('No event publisher is configured');

    for (let i = 0; i < 20; i++) {
      const client = await connect(stack, `user-${i % 10}`);
      await client.request({ action: 'join', room: i < 12 ? 'lobby' : 'side' });
      clients.push(client);
    }
    for (const client of clients.slice(0, 5)) {
      await client.request({ action: 'send', room: 'lobby', event: 'chat', data: { hi: true } });
    }
    expect(
      (await api(stack, 'POST', '/v1/push', { body: { room: 'side', event: 'news', data: {} } })).status,
    ).toBe(200);

    // No reload: the page updates itself from its live feed.
    await page.waitForFunction(
      () =>
        document.querySelector('#connections-count')?.textContent === '20' &&
        document.querySelectorAll('#conn-table tbody tr').length === 20,
      { timeout: 15_000 },
    );
    expect(await text('#users-count')).toBe('10');
    expect(await text('#rooms-count')).toBe('2');
    await page.waitForFunction(() => document.querySelector('#fanout-p50')?.textContent?.endsWith('ms'));
    expect(await text('#rooms-table tbody')).toContain('lobby');
    expect(
      await page.$$eval('#conn-table tbody tr td.user', (tds) => tds.map((td) => td.textContent)),
    ).toContain('user-3');
    await page.waitForFunction(() =>
      (document.querySelector('#frames-legend')?.textContent ?? '').includes('send'),
    );
    // A refused frame makes the handler log an INFO line, which the log viewer shows.
    await clients[0]?.sendRaw('not json');
    await page.waitForFunction(() =>
      (document.querySelector('#logs')?.textContent ?? '').includes('request refused'),
    );
    // Text filter: only matching lines.
    await page.type('#log-text', 'request refused');
    const matching = await page.$$eval('#logs div', (lines) => lines.map((l) => l.textContent ?? ''));
    expect(matching.length).toBeGreaterThan(0);
    expect(matching.every((line) => line.includes('request refused'))).toBe(true);
    // Level filter: WARN and above hides the INFO lines.
    await page.select('#log-level', 'WARN');
    const levels = await page.$$eval('#logs div', (lines) => lines.map((l) => l.className));
    expect(levels.every((level) => level === 'WARN' || level === 'ERROR')).toBe(true);
    expect(levels.length).toBeLessThan(matching.length);
    await page.select('#log-level', '');
    await page.$eval('#log-text', (input) => {
      (input as HTMLInputElement).value = '';
      input.dispatchEvent(new Event('input'));
    });

    // ROOMCAST_SCREENSHOT=docs/dashboard.png refreshes the README's screenshot; otherwise nothing is written.
    const screenshot = process.env.ROOMCAST_SCREENSHOT;
    const png = await page.screenshot(screenshot ? { path: screenshot as `${string}.png` } : {});
    expect(png.byteLength).toBeGreaterThan(10_000);

    // Disconnect one: its socket closes and its row goes, without a reload.
    const victimId = await page.$eval('#conn-table tbody tr', (row) => (row as HTMLElement).dataset.id ?? '');
    expect(stack.gateway.openConnections(200).some((o) => o.connectionId === victimId)).toBe(true);
    await page.click(`#conn-table tbody tr[data-id="${victimId}"] button.disconnect`);
    await page.waitForFunction(
      (id) => !document.querySelector(`#conn-table tbody tr[data-id="${id}"]`),
      {},
      victimId,
    );
    await page.waitForFunction(() => document.querySelector('#connections-count')?.textContent === '19', {
      timeout: 15_000,
    });
    expect(await rowCount()).toBe(19);
    expect(stack.gateway.connectionCount).toBe(19);
  });

  it('refuses a disconnect that does not come from the page', async () => {
    const res = await fetch(`http://127.0.0.1:${stack.port}/dashboard/connections/x/disconnect`, {
      method: 'POST',
    });
    expect(res.status).toBe(403);
  });
});
