/**
 * Real Chromium for the dashboard's tests and benchmark (Debian's /usr/bin/chromium driven by
 * playwright-core): launching it headless, watching every page for console errors and crashes (a CSP
 * violation shows there), refusing any request that is not to the server under test, and measuring
 * whether a page scrolls sideways.
 */
import { existsSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** A reason to skip, or false when Chromium is there. */
export const chromiumMissing: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing (apt-get install chromium)`;

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
}

/**
 * A context that may talk to `url` only: anything else is aborted and noted in `problems`, as is every
 * console error and page error of its pages (Chromium's own line for a 4xx answer excepted: the pages
 * show those, a refused upload or a run that does not exist).
 */
export async function guardedContext(
  browser: Browser,
  url: string,
  problems: string[],
  viewport = { width: 1280, height: 800 },
): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport });
  await context.route(
    (u) => !u.href.startsWith(`${url}/`),
    (route) => {
      problems.push(`a request outside the server: ${route.request().url()}`);
      return route.abort();
    },
  );
  context.on('page', (page) => watch(page, problems));
  return context;
}

/**
 * A browser context of its own (its own cookies) signed in through the page as `name` at `url/#hash`;
 * the context is pushed to `contexts` for the caller to close.
 */
export async function signedInPage(opts: {
  browser: Browser;
  url: string;
  problems: string[];
  contexts: BrowserContext[];
  name: string;
  password: string;
  hash: string;
  viewport?: { width: number; height: number };
}): Promise<Page> {
  const context = await guardedContext(opts.browser, opts.url, opts.problems, opts.viewport);
  opts.contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${opts.url}/${opts.hash}`);
  await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  await page.getByLabel('Name').fill(opts.name);
  await page.getByLabel('Password').fill(opts.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('header.top .identity').getByText(opts.name, { exact: true }).waitFor();
  return page;
}

function watch(page: Page, problems: string[]): void {
  page.on('console', (m) => {
    if (
      m.type() === 'error' &&
      !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())
    )
      problems.push(`${page.url()}: console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
}

/** How wide the page is against its window, and what sticks out (to say where when it does). */
export async function overflow(page: Page): Promise<{ scroll: number; width: number; wide: string[] }> {
  return page.evaluate(() => {
    // Runs in the page: its globals are the browser's (this project's types have no DOM).
    const { document, innerWidth } = globalThis as any;
    return {
      scroll: document.documentElement.scrollWidth as number,
      width: innerWidth as number,
      wide: [...document.querySelectorAll('body *')]
        .filter((el: any) => el.getBoundingClientRect().right > innerWidth + 0.5)
        .slice(0, 5)
        .map((el: any) => `${el.tagName.toLowerCase()}.${el.className}: ${el.getBoundingClientRect().right}`),
    };
  });
}
