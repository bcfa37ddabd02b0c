import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Debian's Chromium (installed by .ci/run with apt-get); CHROMIUM_PATH names another build. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  const found = candidates.find((path): path is string => typeof path === 'string' && existsSync(path));
  if (!found) {
    throw new Error('no Chromium found: run `apt-get install chromium` or set CHROMIUM_PATH');
  }
  return found;
}

/** A real headless Chromium driven by puppeteer-core; never a browser downloaded by a package. */
export function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Tests run as root in CI, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}
