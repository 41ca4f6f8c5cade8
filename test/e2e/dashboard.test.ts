/**
 * The dashboard of `faultline serve` in real Chromium (Debian's, driven by playwright-core) against a real
 * server: the API of createApp with mountDashboard, a SQLite store, the run loop executing a real marker
 * fault and probe. Through the UI: a bad experiment refused with its line and column, a good one uploaded,
 * a run started from the keyboard, its page going from running to finished with its verdict and its
 * probes against their tolerances, the report opened, the run found in the list with filters, an abort
 * confirmed in its dialog; no page scrolls sideways at phone width; once a user exists, signing in (a
 * wrong password refused, the right one back to the page, a run started with the CSRF token, signing
 * out); and no page logs an error (a CSP violation would). Screenshots go to test-artifacts/dashboard/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { BrowserContext, Page } from 'playwright-core';
import { createApp } from '../../src/server/app.js';
import { hashPassword } from '../../src/server/auth/secrets.js';
import { DASHBOARD_CSP, DASHBOARD_DIR, mountDashboard } from '../../src/server/dashboard.js';
import { openStore } from '../../src/server/db/index.js';
import { Runner } from '../../src/server/runner.js';
import type { Store } from '../../src/server/store.js';
import { tempHome } from '../helpers/home.js';
import { markerExperiment } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`;
if (skip) console.log(`# skipping the dashboard's browser tests: ${skip}`);

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/dashboard/', import.meta.url));
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

describe('the dashboard in Chromium', { skip }, () => {
  let home: Awaited<ReturnType<typeof tempHome>>;
  let dir: string;
  let store: Store;
  let runner: Runner;
  let server: ReturnType<typeof serve> | undefined;
  let url: string;
  let context: BrowserContext | undefined;
  /** Console errors and page errors of every page: a CSP violation or a crash shows here. */
  const problems: string[] = [];

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  const newPage = async (viewport = LAPTOP): Promise<Page> => {
    assert.ok(context);
    const page = await context.newPage();
    await page.setViewportSize(viewport);
    page.on('console', (m) => {
      // Chromium logs every 4xx answer to a fetch; the pages show those (a 422 upload, a 404 run).
      if (
        m.type() === 'error' &&
        !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())
      )
        problems.push(`${page.url()}: console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
    return page;
  };

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  before(async () => {
    assert.ok(
      existsSync(join(DASHBOARD_DIR, 'index.html')),
      `${DASHBOARD_DIR}index.html is missing: run \`npm run build\` first`,
    );
    await mkdir(ARTIFACTS, { recursive: true });
    home = await tempHome();
    dir = await mkdtemp(join(tmpdir(), 'faultline-dashboard-test-'));
    store = await openStore({ home: home.home, database: join(dir, 'faultline.db') });
    const serverId = 'server-dashboard-test';
    runner = new Runner({ store, serverId, home: home.home, pollMs: 200 });
    const app = createApp({ store, runner, serverId });
    server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    runner.start();
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    // The dashboard needs nothing but its server: any other request fails the test.
    await context.route(
      (u) => !u.href.startsWith(`${url}/`),
      (route) => {
        problems.push(`a request outside the server: ${route.request().url()}`);
        return route.abort();
      },
    );
  });

  after(async () => {
    try {
      await context?.close();
    } finally {
      await runner?.stop('the test is over');
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          if ('closeAllConnections' in s) s.closeAllConnections();
        });
      }
      await store?.close().catch(() => {});
      assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
      await rm(dir, { recursive: true, force: true });
      await home.cleanup();
    }
  });

  test('serves its files with their types and the CSP; hashed assets are cached for good', async () => {
    const index = await fetch(`${url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(index.headers.get('content-security-policy'), DASHBOARD_CSP);
    const html = await index.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const style = /href="(\/assets\/[^"]+\.css)"/.exec(html)?.[1];
    assert.ok(script && style, html);
    const js = await fetch(`${url}${script}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(js.headers.get('content-security-policy'), DASHBOARD_CSP);
    const css = await fetch(`${url}${style}`);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    await css.arrayBuffer();
    await js.arrayBuffer();
    for (const path of [
      '/assets/nope.js',
      '/assets/..%2Findex.html',
      '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
    ]) {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.status, 404, path);
      await res.arrayBuffer();
    }
    // The cache headers the server sends: hashed assets for a year, the page never stale, the API no-store.
    const cached = await fetch(`${url}${script}`);
    await cached.arrayBuffer();
    assert.equal(cached.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const page = await fetch(`${url}/`);
    await page.arrayBuffer();
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const api = await fetch(`${url}/api/health`);
    await api.arrayBuffer();
    assert.equal(api.headers.get('cache-control'), 'no-store');
    const unbuilt = new Hono();
    mountDashboard(unbuilt, { dir: join(dir, 'no-build') });
    const missing = await unbuilt.request('/');
    assert.equal(missing.status, 503);
    assert.match(await missing.text(), /npm run build/);
  });

  test('empty states: no runs, no experiments', async () => {
    const page = await newPage();
    await page.goto(`${url}/#/runs`);
    await page.getByText('No runs yet').waitFor();
    await shot(page, 'runs-empty');
    await page.goto(`${url}/#/experiments`);
    await page.getByText('No experiment stored yet').waitFor();
    await page.close();
  });

  const marker = () => join(dir, 'dashboard.marker');
  const NAME = 'marker-demo';

  test('an invalid experiment is refused with its line and column; a valid one is stored', async () => {
    const page = await newPage();
    await page.goto(`${url}/#/experiments`);
    const broken = 'title: broken\nmethod:\n  - type: action\n    name: x\n    provider: { type: nosuch }\n';
    await page.getByLabel('File (JSON or YAML)').setInputFiles({
      name: 'broken.yaml',
      mimeType: 'application/yaml',
      buffer: Buffer.from(broken),
    });
    assert.equal(await page.getByLabel('Name').inputValue(), 'broken', 'the name comes from the file');
    await page.getByRole('button', { name: 'Upload' }).click();
    const alert = page.getByRole('alert');
    await alert.getByText('Not stored.').waitFor();
    const text = await alert.innerText();
    assert.match(text, /line \d+, column \d+/, text);
    assert.match(text, /method\[0\]/, text);
    await shot(page, 'experiments-invalid');
    assert.equal((await api('GET', '/api/experiments/broken')).status, 404, 'nothing stored');

    await page.getByLabel('File (JSON or YAML)').setInputFiles({
      name: `${NAME}.yaml`,
      mimeType: 'application/yaml',
      buffer: Buffer.from(markerExperiment(marker(), { title: 'Marker under the dashboard', pause: 3 })),
    });
    assert.equal(await page.getByLabel('Name').inputValue(), NAME);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByText(`${NAME}: stored as version 1`).waitFor();
    await page.getByRole('link', { name: NAME, exact: true }).waitFor();
    const stored = await api('GET', `/api/experiments/${NAME}`);
    assert.equal(stored.status, 200);
    assert.equal(stored.body.title, 'Marker under the dashboard');
    await shot(page, 'experiments');
    await page.close();
  });

  let runId: string;

  test('a run started with the keyboard goes from running to finished with its verdict', async () => {
    const page = await newPage();
    await page.goto(`${url}/#/experiments`);
    const start = page.getByRole('button', { name: `Start a run of ${NAME}` });
    await start.waitFor();
    // Tab from the top of the page until the Start button has the focus, then press Enter.
    let focused = false;
    for (let i = 0; i < 40 && !focused; i++) {
      await page.keyboard.press('Tab');
      // Runs in the page: its globals are the browser's (this project's types have no DOM).
      focused = await start.evaluate((el) => el === (globalThis as any).document.activeElement);
    }
    assert.ok(focused, 'the Start button is reachable with Tab');
    const outline = await start.evaluate((el) => (globalThis as any).getComputedStyle(el).outlineStyle);
    assert.notEqual(outline, 'none', 'the focus is visible');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    runId = /#\/runs\/([0-9a-f-]{36})$/.exec(page.url())?.[1] ?? '';

    const status = page.locator('dt:text-is("Status") + dd');
    await status.getByText('running').waitFor({ timeout: 120_000 });
    // The live view's connection state shows beside the status while the run is live.
    await page.locator('dt:text-is("Status") + dd .stream').waitFor();
    await shot(page, 'run-running');
    await status.getByText('finished').waitFor({ timeout: 120_000 });
    await page.locator('dt:text-is("Verdict") + dd').getByText('passed').waitFor();
    const run = await api('GET', `/api/runs/${runId}`);
    assert.equal(run.body.verdict, 'passed', run.body.reason);

    // The journal's activities: the probe against its tolerance, the action, the fault reverted.
    const probe = page.locator('li.activity', { hasText: 'node-exits-zero' }).first();
    await probe.waitFor();
    assert.match(await probe.innerText(), /Tolerance\s+0:\s+met/);
    await page.locator('li.activity', { hasText: 'create-marker' }).waitFor();
    assert.match(await page.locator('table.faults').innerText(), /marker[\s\S]*verified/);
    assert.ok(!existsSync(marker()), 'the fault was reverted');
    await shot(page, 'run');

    // The report opens in a tab of its own.
    const [report] = await Promise.all([
      page.context().waitForEvent('page'),
      page.getByRole('link', { name: 'HTML report' }).click(),
    ]);
    await report.waitForLoadState();
    assert.match(report.url(), new RegExp(`/api/runs/${runId}/report$`));
    assert.match(await report.content(), /Marker under the dashboard/);
    await report.close();
    await page.close();
  });

  test('the run is in the Runs list, found by its filters and not by others', async () => {
    // A pushed run beside it, so the filters have something to leave out.
    const journal = JSON.parse(
      await readFile(fileURLToPath(new URL('../fixtures/report/quickstart.json', import.meta.url)), 'utf8'),
    );
    assert.equal((await api('POST', '/api/runs/import', { journal, tags: ['nightly'] })).status, 201);

    const page = await newPage();
    await page.goto(`${url}/#/runs`);
    const rows = page.locator('table.runs tbody tr');
    await until('both runs listed', async () => (await rows.count()) === 2);
    await page.getByLabel('Experiment').selectOption(NAME);
    await page.getByLabel('Verdict').selectOption('passed');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/experiment=marker-demo/);
    await until('only the run of the experiment', async () => (await rows.count()) === 1);
    assert.equal(
      await page.getByLabel('Verdict').inputValue(),
      'passed',
      'the form shows the filter in force',
    );
    assert.equal(await page.getByLabel('Experiment').inputValue(), NAME);
    assert.match(await rows.first().innerText(), /Marker under the dashboard/);
    await page.locator(`a[href="#/runs/${runId}"]`).waitFor();
    await shot(page, 'runs');

    await page.getByLabel('Verdict').selectOption('failed');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No runs match these filters.').waitFor();

    // A tag from a row is a filter too.
    await page.goto(`${url}/#/runs?tags=nightly`);
    await until('only the pushed run', async () => (await rows.count()) === 1);
    assert.doesNotMatch(await rows.first().innerText(), /Marker under the dashboard/);
    await page.close();
  });

  test('a running run is aborted after a confirmation; its fault is reverted', async () => {
    const up = await api('POST', '/api/experiments', {
      name: 'long',
      format: 'yaml',
      source: markerExperiment(join(dir, 'long.marker'), { title: 'Long', pause: 600 }),
    });
    assert.equal(up.status, 201);
    const page = await newPage();
    await page.goto(`${url}/#/experiments/long`);
    await page.getByRole('button', { name: 'Start a run of the latest version' }).click();
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    const status = page.locator('dt:text-is("Status") + dd');
    await status.getByText('running').waitFor({ timeout: 120_000 });
    await until('the marker fault is active', () => existsSync(join(dir, 'long.marker')), 120_000);
    await page.getByRole('button', { name: 'Abort run' }).click();
    const dialog = page.getByRole('dialog', { name: 'Abort this run?' });
    await dialog.waitFor();
    await shot(page, 'run-abort');
    // Dismissing it changes nothing.
    await dialog.getByRole('button', { name: 'Keep it running' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(
      (await api('GET', `/api/runs/${/[0-9a-f-]{36}$/.exec(page.url())?.[0]}`)).body.status,
      'running',
    );
    await page.getByRole('button', { name: 'Abort run' }).click();
    await dialog.getByRole('button', { name: 'Abort', exact: true }).click();
    await status.getByText('interrupted').waitFor({ timeout: 120_000 });
    await page.locator('dt:text-is("Verdict") + dd').getByText('interrupted').waitFor();
    assert.ok(!existsSync(join(dir, 'long.marker')), 'the fault was reverted');
    await page.close();
  });

  test('error state: a run that does not exist', async () => {
    const page = await newPage();
    await page.goto(`${url}/#/runs/00000000-0000-4000-8000-000000000000`);
    const alert = page.getByRole('alert');
    await alert.getByText('Error 404').waitFor();
    assert.match(await alert.innerText(), /no run 00000000-0000-4000-8000-000000000000/);
    await alert.getByRole('button', { name: 'Try again' }).waitFor();
    await page.close();
  });

  test('the audit log lists the upload, the starts, the abort and the push', async () => {
    const page = await newPage();
    await page.goto(`${url}/#/audit`);
    const table = page.locator('table.audit');
    await table.waitFor();
    const text = await table.innerText();
    for (const action of ['experiment.upload', 'run.start', 'run.abort', 'run.push'])
      assert.match(text, new RegExp(action));
    await shot(page, 'audit');
    await page.close();
  });

  test('at phone width every page fits without scrolling sideways', async () => {
    const page = await newPage(PHONE);
    for (const [name, hash, ready] of [
      ['runs', '#/runs', 'table.runs'],
      ['run', `#/runs/${runId}`, 'ol.activities'],
      ['experiments', '#/experiments', 'table.experiments'],
      ['experiment', `#/experiments/${NAME}`, 'pre.source'],
      ['audit', '#/audit', 'table.audit'],
    ] as const) {
      await page.goto(`${url}/${hash}`);
      await page.locator(ready).first().waitFor();
      const { scroll, width, wide } = await page.evaluate(() => {
        const { document, innerWidth } = globalThis as any;
        return {
          scroll: document.documentElement.scrollWidth as number,
          width: innerWidth as number,
          // What sticks out, to say where when it fails.
          wide: [...document.querySelectorAll('body *')]
            .filter((el: any) => el.getBoundingClientRect().right > innerWidth + 0.5)
            .slice(0, 5)
            .map(
              (el: any) => `${el.tagName.toLowerCase()}.${el.className}: ${el.getBoundingClientRect().right}`,
            ),
        };
      });
      assert.ok(scroll <= width, `${hash}: ${scroll} px wide in a ${width} px window: ${wide.join('; ')}`);
      await shot(page, `${name}-phone`);
    }
    await page.close();
  });

  // Last but one: from the first user on, the server never answers without a sign-in again, so the
  // cases above (and the api() helper) could not run after this one.
  test('once a user exists: sign in, a wrong password refused, a run started, sign out', async () => {
    const page = await newPage();
    const header = page.locator('header.top');
    const identity = header.locator('.identity');
    await page.goto(`${url}/#/runs`);
    await page.locator('table.runs').waitFor();
    // No user yet: the anonymous admin, with nothing to sign out of.
    await identity.getByText('local', { exact: true }).waitFor();
    assert.equal(await header.getByRole('button', { name: 'Sign out' }).count(), 0);

    const USER = 'dana';
    const PASSWORD = 'a long enough passphrase';
    const user = await store.createUser({
      name: USER,
      role: 'operator',
      passwordHash: await hashPassword(PASSWORD),
    });
    assert.equal(user?.name, USER);

    await page.reload();
    const heading = page.getByRole('heading', { name: 'Sign in', level: 1 });
    await heading.waitFor();
    const name = page.getByLabel('Name');
    const password = page.getByLabel('Password');
    await until('the name field has the focus', () =>
      name.evaluate((el) => el === (globalThis as any).document.activeElement),
    );
    assert.equal(await header.getByRole('navigation').count(), 0, 'no sections to go to before signing in');
    await shot(page, 'sign-in');

    await name.fill(USER);
    await password.fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.getByText('Not signed in.').waitFor();
    assert.match(await alert.innerText(), /the name or the password is wrong/);
    assert.equal(await password.inputValue(), '', 'the wrong password is cleared');
    assert.ok(
      await password.evaluate((el) => el === (globalThis as any).document.activeElement),
      'the password field has the focus to try again',
    );
    await shot(page, 'sign-in-wrong');

    await password.fill(PASSWORD);
    await password.press('Enter');
    // Back on the page the URL named, as the user.
    await page.locator('table.runs').waitFor();
    assert.match(page.url(), /#\/runs$/);
    await identity.getByText(USER, { exact: true }).waitFor();
    assert.match(await identity.innerText(), /dana\s+operator/);
    await header.getByRole('button', { name: 'Sign out' }).waitFor();
    await shot(page, 'signed-in');

    // Changes made with the session carry its CSRF token (without it the server answers 403 csrf):
    // first the token the sign-in answered (the hash changes, the page stays loaded)...
    const startRun = async () => {
      await page.evaluate((h) => {
        (globalThis as any).location.hash = h;
      }, `#/experiments/${NAME}`);
      await page.getByRole('button', { name: 'Start a run of the latest version' }).click();
      await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
      const id = /#\/runs\/([0-9a-f-]{36})$/.exec(page.url())?.[1] ?? '';
      await page.locator('dt:text-is("Status") + dd').getByText('finished').waitFor({ timeout: 120_000 });
      const run = await store.getRun(id);
      assert.equal(run?.requestedBy, USER, 'the run was started by the signed-in user');
      assert.equal(run?.verdict, 'passed', run?.reason);
    };
    await startRun();
    // ...then after a sign-in behind the page's back (another tab would do it) replaced the cookie: the
    // page's token is stale, so it asks GET /api/session for the new one and tries once more.
    const again = await page.evaluate(
      async ([n, p]) =>
        (
          await fetch('/api/session', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: n, password: p }),
          })
        ).status,
      [USER, PASSWORD] as const,
    );
    assert.equal(again, 200);
    await startRun();

    await header.getByRole('button', { name: 'Sign out' }).click();
    await heading.waitFor();
    assert.equal(await identity.count(), 0, 'nobody is shown as signed in');
    // Signed out on the server too: the browser's cookie no longer works.
    const status = await page.evaluate(async () => (await fetch('/api/session')).status);
    assert.equal(status, 401);
    await page.close();
  });

  test('no page logged an error or asked for anything outside the server', () => {
    assert.deepEqual(problems, []);
  });
});
