import { mkdirSync } from 'node:fs';
import type { Browser, HTTPRequest, Page } from 'puppeteer-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.js';
import { api, connectionIdsOf, startTestStack } from '../integration/harness.js';
import { launchChromium } from './chromium.js';

// Waits poll on a timer: a page that is not in front gets no animation frames.
// `SCREENSHOTS=docs npx vitest run --project browser` refreshes the README's pictures.
const screenshots = process.env.SCREENSHOTS;

let stack: LocalStack;
let browser: Browser;

beforeAll(async () => {
  stack = await startTestStack();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function snap(page: Page, name: string): Promise<void> {
  if (!screenshots) return;
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: `${screenshots}/${name}.png` as `${string}.png` });
}

async function openChat(name: string): Promise<Page> {
  // One browser context (a window of its own) per person: both pages stay visible, so neither is throttled.
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 900, height: 560 });
  page.on('pageerror', (error) => console.error(`${name}: ${(error as Error).message}`));
  await page.goto(`http://127.0.0.1:${stack.port}/demo/`);
  await page.type('#name', name);
  await page.click('#join-form button');
  await page.waitForSelector('#chat.shown');
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.endsWith('open'), {
    polling: 100,
  });
  return page;
}

async function say(page: Page, text: string): Promise<void> {
  await page.type('#text', text);
  await page.click('#send-form button');
}

/** The chat lines the page shows, as "from text". */
function lines(page: Page): Promise<string[]> {
  return page.$$eval('#messages li', (items) =>
    items.map((li) => `${li.querySelector('.from')?.textContent} ${li.childNodes[1]?.textContent}`),
  );
}

function waitForLines(page: Page, wanted: string[]): Promise<unknown> {
  return page.waitForFunction(
    (expected: string[]) => {
      const shown = Array.from(document.querySelectorAll('#messages li')).map(
        (li) => `${li.querySelector('.from')?.textContent} ${li.childNodes[1]?.textContent}`,
      );
      return JSON.stringify(shown) === JSON.stringify(expected);
    },
    { polling: 100 },
    wanted,
  );
}

it('two pages chat; one loses its connection, reconnects, and shows what was sent meanwhile once', async () => {
  const alice = await openChat('alice');
  const bob = await openChat('bob');
  await alice.waitForFunction(() => document.querySelectorAll('#members li').length === 2, {
    timeout: 10_000,
  });

  // Typing indicator (not stored), then a message: pending, then sent.
  await bob.type('#text', 'h');
  await alice.waitForFunction(() => document.getElementById('typing')?.textContent === 'bob is typing…', {
    polling: 100,
  });
  await bob.type('#text', 'ello alice');
  await bob.click('#send-form button');
  await bob.waitForSelector('#messages li[data-state="sent"]');
  await waitForLines(alice, ['bob hello alice']);
  await say(alice, 'hi bob');
  await waitForLines(bob, ['bob hello alice', 'alice hi bob']);
  await snap(bob, 'demo-chat');

  // The backend closes alice's connection; her reconnect waits (its token request is held) while bob writes.
  const held: HTTPRequest[] = [];
  await alice.setRequestInterception(true);
  alice.on('request', (request) => {
    if (request.url().includes('/demo/token')) held.push(request);
    else void request.continue();
  });
  const [id] = await connectionIdsOf(stack, 'alice');
  expect((await api(stack, 'DELETE', `/v1/connections/${id}`)).status).toBe(204);
  await alice.waitForSelector('#banner.shown');
  for (let i = 1; i <= 3; i++) await say(bob, `while you were away ${i}`);
  await bob.waitForFunction(() => document.querySelectorAll('#messages li[data-state="sent"]').length === 4, {
    polling: 100,
  });
  await snap(alice, 'demo-reconnecting');
  await expect.poll(() => held.length).toBeGreaterThan(0);
  for (const request of held) await request.continue();
  alice.off('request');
  await alice.setRequestInterception(false);

  const expected = [
    'bob hello alice',
    'alice hi bob',
    'bob while you were away 1',
    'bob while you were away 2',
    'bob while you were away 3',
  ];
  await alice.waitForSelector('#banner:not(.shown)');
  await waitForLines(alice, expected);
  expect(await lines(alice)).toEqual(expected);
  await snap(alice, 'demo-after-reconnect');
});

it('after a join the server refuses, Join again starts over: one connection, one room, each message once', async () => {
  const context = await browser.createBrowserContext();
  const carol = await context.newPage();
  const errors: string[] = [];
  carol.on('pageerror', (error) => errors.push((error as Error).message));
  await carol.goto(`http://127.0.0.1:${stack.port}/demo/`);
  const join = async (rooms: string) => {
    await carol.$eval('#name', (el) => {
      (el as HTMLInputElement).value = 'carol';
    });
    await carol.$eval(
      '#rooms',
      (el, value) => {
        (el as HTMLInputElement).value = value;
      },
      rooms,
    );
    await carol.click('#join-form button');
  };
  // private-ops is not in the demo token's claim: the second join is refused.
  await join('presence-lobby, private-ops');
  await carol.waitForFunction(
    () => document.getElementById('status')?.textContent?.startsWith('could not start'),
    { polling: 100 },
  );
  expect(await connectionIdsOf(stack, 'carol')).toEqual([]);

  await join('presence-lobby');
  await carol.waitForSelector('#chat.shown');
  expect(await connectionIdsOf(stack, 'carol')).toHaveLength(1);
  expect(await carol.$$eval('#room option', (items) => items.map((o) => o.textContent))).toEqual([
    'presence-lobby',
  ]);
  const bob = await openChat('bob-refused');
  await say(bob, 'hello carol');
  await waitForLines(carol, ['bob-refused hello carol']);
  expect(errors).toEqual([]);
});
