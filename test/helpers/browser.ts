// Debian's chromium through playwright-core for the browser tests (nothing is downloaded): one
// launch with a new, empty profile (no component updates, no sync, no QUIC), and screenshots of a
// page at desktop and phone widths into test/artifacts/web.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './server.js';

export const CHROMIUM = process.env.KPM_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const SHOTS = join(ROOT, 'test', 'artifacts', 'web');

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** screenshots of the current page at desktop and phone widths, `NAME-desktop.png` / `NAME-phone.png` */
  shoot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'kpm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async shoot(name) {
      for (const [w, h, tag] of [[1280, 900, 'desktop'], [390, 844, 'phone']] as const) {
        await page.setViewportSize({ width: w, height: h });
        await page.screenshot({ path: join(SHOTS, `${name}-${tag}.png`), fullPage: true });
      }
      await page.setViewportSize({ width: 1280, height: 900 });
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
