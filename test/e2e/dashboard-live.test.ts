/**
 * The live dashboard in real Chromium against a real server (startServer, a SQLite store, a private
 * FAULTLINE_HOME) with users in three roles. An operator signs in, uploads an experiment that sends load
 * to a small HTTP server of the test's own and holds a real marker-file fault, and starts it from the
 * page; the run's page shows, over server-sent events, the fault active with its target and a ticking
 * age, the load charts filling up, the probes' tolerance results and the safeguard. The operator presses
 * Emergency stop (Escape cancels, a reason and Enter confirm): the fault is reverted (the marker gone, the
 * ledger empty), the run interrupted, the banner shows who and why, and Start is disabled; an approver,
 * in a browser of their own, releases it and the banner goes from both. Then the report opens, a second
 * run passes, the trends show both runs and the comparison puts them side by side. A viewer sees no
 * Start, Upload or Emergency stop, and the API refuses both to them. The new pages fit a phone's width,
 * and no page logs an error or asks anything of another origin.
 *
 * Screenshots go to test-artifacts/dashboard-live/; with FAULTLINE_SCREENSHOTS=docs/images the ones the
 * docs show (dashboard-live, -halt, -trends, -compare) are written there too.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { hashPassword } from '../../src/server/auth/secrets.js';
import { DASHBOARD_DIR } from '../../src/server/dashboard.js';
import { chromiumMissing, launchChromium, overflow, signedInPage } from '../helpers/chromium.js';
import { startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

const PHONE = { width: 390, height: 844 };
const PASSWORD = 'a long enough passphrase';
const USERS = { operator: 'opal', approver: 'avery', viewer: 'vic' } as const;
const NAME = 'checkout-under-load';

if (chromiumMissing) console.log(`# skipping the live dashboard's browser tests: ${chromiumMissing}`);

/** Load against `target`, a marker fault at `marker` held `hold` s, probes checked every second. */
function liveExperiment(target: string, marker: string, hold: number): string {
  return [
    'title: Checkout keeps answering while a marker fault is held',
    'description: load against a local server, a marker-file fault, the steady state checked every second',
    'tags: [dashboard-live]',
    'load:',
    '  rate: 20',
    '  concurrency: 10',
    '  timeout: 5s',
    '  requests:',
    `    - url: ${target}/checkout`,
    'runtime:',
    '  hypothesis: { strategy: continuously, frequency: 1 }',
    'steady-state-hypothesis:',
    '  title: checkout answers',
    '  probes:',
    '    - type: probe',
    '      name: checkout-success-ratio',
    '      tolerance: { type: range, range: [0.5, 1.0] }',
    '      provider: { type: faultline, module: faultline.load, func: success_ratio, arguments: { window: 5 } }',
    'safeguards:',
    '  - type: probe',
    '    name: error-rate-below-90-percent',
    '    frequency: 1',
    '    tolerance: { type: range, range: [0, 0.9] }',
    '    provider: { type: faultline, module: faultline.load, func: error_rate, arguments: { window: 5 } }',
    'method:',
    '  - type: action',
    '    name: hold-marker',
    '    provider:',
    '      type: faultline',
    '      module: faultline.marker',
    '      func: create',
    `      arguments: { path: ${JSON.stringify(marker)}, duration: 600 }`,
    `    pauses: { before: 2, after: ${hold} }`,
    '',
  ].join('\n');
}

describe('the live dashboard in Chromium', { skip: chromiumMissing }, () => {
  let srv: TestServer;
  let target: Server;
  let targetUrl: string;
  let browser: Browser;
  let shots: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  const marker = () => join(srv.dir, 'checkout.marker');
  let interruptedRun = '';
  let passedRun = '';

  const shot = async (page: Page, name: string, docs?: string) => {
    const file = join(shots, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    const out = process.env.FAULTLINE_SCREENSHOTS;
    if (docs && out) await copyFile(file, join(resolve(out), `${docs}.png`));
  };

  /** A browser of its own (its own cookies) signed in through the page as `name`. */
  const signedIn = (name: string, viewport?: { width: number; height: number }) =>
    signedInPage({
      browser,
      url: srv.url,
      problems,
      contexts,
      name,
      password: PASSWORD,
      hash: '#/runs',
      ...(viewport ? { viewport } : {}),
    });

  /** The API as `name`, with a session cookie and its CSRF token. */
  const apiAs = async (name: string) => {
    const res = await fetch(`${srv.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password: PASSWORD }),
    });
    assert.equal(res.status, 200);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const { csrfToken } = (await res.json()) as { csrfToken: string };
    return async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${srv.url}${path}`, {
        method,
        headers: {
          cookie,
          'x-csrf-token': csrfToken,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: r.status, body: (await r.json()) as any };
    };
  };

  before(async () => {
    assert.ok(
      existsSync(join(DASHBOARD_DIR, 'index.html')),
      `${DASHBOARD_DIR}index.html is missing: run \`npm run build\` first`,
    );
    // Kept as the test's artifacts, beside dashboard.test.ts's (git-ignored), not left in /tmp.
    shots = fileURLToPath(new URL('../../test-artifacts/dashboard-live/', import.meta.url));
    await mkdir(shots, { recursive: true });
    console.log(`# screenshots: ${shots}`);
    if (process.env.FAULTLINE_SCREENSHOTS)
      await mkdir(resolve(process.env.FAULTLINE_SCREENSHOTS), { recursive: true });
    target = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
    srv = await startTestServer();
    for (const [role, name] of Object.entries(USERS))
      assert.ok(
        await srv.store.createUser({
          name,
          role: role as 'operator' | 'approver' | 'viewer',
          passwordHash: await hashPassword(PASSWORD),
        }),
      );
    browser = await launchChromium();
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
    } finally {
      // Whatever happened above, no stop stays raised and no fault stays in place.
      if (srv) {
        await srv.store.releaseHalt().catch(() => false);
        // Stopping the server interrupts a run still going (a test that failed half-way) and reverts.
        await srv.server.close();
        const faults = await srv.home.activeFaults();
        await srv.close();
        assert.deepEqual(faults, [], 'no fault left behind');
      }
      await new Promise<void>((r) => (target ? target.close(() => r()) : r()));
    }
  });

  test('an operator uploads, starts and watches a run live: fault, charts, probes, safeguard', async () => {
    const page = await signedIn(USERS.operator);
    await page.locator('header.top').getByRole('link', { name: 'Experiments' }).click();
    await page.getByLabel('File (JSON or YAML)').setInputFiles({
      name: `${NAME}.yaml`,
      mimeType: 'application/yaml',
      buffer: Buffer.from(liveExperiment(targetUrl, marker(), 600)),
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByText(`${NAME}: stored as version 1`).waitFor();
    await page.getByRole('button', { name: `Start a run of ${NAME}` }).click();
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    interruptedRun = /#\/runs\/([0-9a-f-]{36})$/.exec(page.url())?.[1] ?? '';

    await page
      .getByRole('status')
      .filter({ hasText: /^live$/ })
      .waitFor({ timeout: 60_000 });
    // The fault, with its target, as soon as it is in place; its age ticks.
    const fault = page.locator('table.live-faults tbody tr', { hasText: 'marker' });
    await fault.waitFor({ timeout: 60_000 });
    assert.match(await fault.innerText(), new RegExp(marker().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await fault.getByText('active').waitFor();
    assert.ok(existsSync(marker()), 'the marker fault is in place');
    const age = fault.locator('.age');
    const first = await age.innerText();
    await until('the age ticks', async () => (await age.innerText()) !== first, 30_000);

    // The load's charts get points (each chart's summary counts the seconds it draws).
    await until(
      'five seconds of load charted',
      async () => {
        const text = (await page.locator('figure.chart figcaption').first().textContent()) ?? '';
        return Number(/^(\d+) seconds/.exec(text)?.[1] ?? 0) >= 5;
      },
      60_000,
    );
    assert.equal((await page.locator('figure.chart canvas').count()) >= 3, true, 'three charts drawn');
    // A probe against its tolerance, and the safeguard's last value.
    await page
      .locator('table.live-probes tbody tr', { hasText: 'checkout-success-ratio' })
      .first()
      .getByText('met', { exact: true })
      .waitFor({ timeout: 60_000 });
    const guard = page.locator('table.live-safeguards tbody tr', { hasText: 'error-rate-below-90-percent' });
    await guard.getByText('holding').waitFor({ timeout: 60_000 });
    await shot(page, 'live', 'dashboard-live');

    const phone = await page.context().newPage();
    await phone.setViewportSize(PHONE);
    await phone.goto(page.url());
    await phone.locator('table.live-faults').waitFor({ timeout: 60_000 });
    await phone.locator('figure.chart canvas').first().waitFor();
    const o = await overflow(phone);
    assert.ok(
      o.scroll <= o.width,
      `the live view is ${o.scroll} px wide in ${o.width}: ${o.wide.join('; ')}`,
    );
    await shot(phone, 'live-phone');
    await phone.close();
  });

  test('the emergency stop asks once, reverts the fault, shows the banner; an approver releases it', async () => {
    const page = await signedIn(USERS.operator);
    await page.goto(`${srv.url}/#/runs/${interruptedRun}`);
    await page.locator('table.live-faults tbody tr', { hasText: 'active' }).waitFor({ timeout: 60_000 });
    const approver = await signedIn(USERS.approver);

    const stop = page.locator('header.top').getByRole('button', { name: 'Emergency stop' });
    const dialog = page.getByRole('dialog', { name: 'Stop everything?' });
    const reason = dialog.getByLabel('Reason (everyone sees it)');
    // Escape cancels: nothing is stopped.
    await stop.click();
    await dialog.waitFor();
    await until('the reason field has the focus', () =>
      reason.evaluate((el) => el === (globalThis as any).document.activeElement),
    );
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await srv.api('GET', '/api/health')).status, 200);
    assert.ok(existsSync(marker()), 'a cancelled stop changes nothing');

    // A reason and Enter confirm.
    await stop.click();
    await reason.fill('checkout errors in production, stopping all chaos');
    await shot(page, 'halt-confirm');
    await reason.press('Enter');
    await dialog.waitFor({ state: 'hidden', timeout: 60_000 });

    const banner = page.locator('.halt-banner');
    await banner.waitFor({ timeout: 30_000 });
    assert.match(
      await banner.innerText(),
      /Emergency stop raised by opal[\s\S]*checkout errors in production/,
    );
    await until('the marker fault is reverted', () => !existsSync(marker()), 60_000);
    await until('the ledger is empty', async () => (await srv.home.activeFaults()).length === 0, 60_000);
    await until(
      'the run is interrupted',
      async () => (await srv.store.getRun(interruptedRun))?.status === 'interrupted',
      60_000,
    );
    await page.locator('dt:text-is("Status") + dd').getByText('interrupted').waitFor({ timeout: 60_000 });
    // The operator may not release it; the approver, in their own browser, sees the banner and may.
    assert.equal(await banner.getByRole('button', { name: 'Release the stop' }).count(), 0);
    await shot(page, 'halt', 'dashboard-halt');

    // Start is disabled while the stop is raised.
    await page.goto(`${srv.url}/#/experiments`);
    const start = page.getByRole('button', { name: `Start a run of ${NAME}` });
    await start.waitFor();
    assert.ok(await start.isDisabled(), 'Start is disabled while halted');

    const approverBanner = approver.locator('.halt-banner');
    await approverBanner.waitFor({ timeout: 30_000 });
    await approverBanner.getByRole('button', { name: 'Release the stop' }).click();
    await approverBanner.waitFor({ state: 'hidden', timeout: 30_000 });
    // The operator's page hears the release over its stream.
    await banner.waitFor({ state: 'hidden', timeout: 30_000 });
    await until('Start is offered again', () => start.isEnabled(), 30_000);
  });

  test('the report opens; a second run passes; the trend and the comparison show both', async () => {
    const page = await signedIn(USERS.operator);
    await page.goto(`${srv.url}/#/runs/${interruptedRun}`);
    const [report] = await Promise.all([
      page.context().waitForEvent('page'),
      page.getByRole('link', { name: 'HTML report' }).click(),
    ]);
    await report.waitForLoadState();
    assert.match(await report.content(), /Checkout keeps answering/);
    await report.close();

    // A short run of the same experiment, started through the API as the operator.
    const api = await apiAs(USERS.operator);
    const up = await api('POST', '/api/experiments', {
      name: NAME,
      format: 'yaml',
      source: liveExperiment(targetUrl, marker(), 2),
    });
    assert.equal(up.status, 201, JSON.stringify(up.body));
    // A Runs page already open hears of the new run over /api/live: it polls only while a run it shows
    // is going on, and none is.
    const list = await page.context().newPage();
    await list.goto(`${srv.url}/#/runs`);
    await list.locator(`a[href="#/runs/${interruptedRun}"]`).waitFor();
    const started = await api('POST', '/api/runs', { experiment: NAME });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    passedRun = started.body.id;
    await list.locator(`a[href="#/runs/${passedRun}"]`).waitFor({ timeout: 30_000 });
    await list.close();
    await page.goto(`${srv.url}/#/runs/${passedRun}`);
    await page.locator('dt:text-is("Verdict") + dd').getByText('passed').waitFor({ timeout: 120_000 });

    await page.goto(`${srv.url}/#/trends?experiment=${NAME}`);
    const row = page.locator('table.trend-table tbody tr', { hasText: NAME });
    await row.waitFor({ timeout: 30_000 });
    assert.match(await row.innerText(), /2 \(1 passed\)/);
    await page.locator('figure.chart canvas').first().waitFor();
    await shot(page, 'trends', 'dashboard-trends');

    // From the run's page: Compare with… fixes A; B is chosen among the experiment's runs.
    await page.goto(`${srv.url}/#/runs/${passedRun}`);
    await page.getByRole('link', { name: 'Compare with…' }).click();
    await page.waitForURL(/#\/compare\?/);
    await page.getByLabel('Run B').selectOption(interruptedRun);
    const verdict = page.locator('table.compare tr', { hasText: 'Verdict' });
    await verdict.waitFor({ timeout: 30_000 });
    assert.match(await verdict.innerText(), /passed[\s\S]*interrupted/);
    assert.equal(await verdict.getAttribute('class'), 'diff', 'different verdicts are marked');
    await shot(page, 'compare', 'dashboard-compare');

    const phone = await page.context().newPage();
    await phone.setViewportSize(PHONE);
    for (const hash of [`#/trends?experiment=${NAME}`, `#/compare?a=${passedRun}&b=${interruptedRun}`]) {
      await phone.goto(`${srv.url}/${hash}`);
      await phone
        .locator(hash.startsWith('#/trends') ? 'figure.chart canvas' : 'table.compare')
        .first()
        .waitFor({ timeout: 30_000 });
      const o = await overflow(phone);
      assert.ok(o.scroll <= o.width, `${hash}: ${o.scroll} px wide in ${o.width}: ${o.wide.join('; ')}`);
      await shot(phone, `${hash.slice(2, hash.indexOf('?'))}-phone`);
    }
    await phone.close();
  });

  test('a viewer sees no Start, Upload or Emergency stop, and the API refuses them', async () => {
    const page = await signedIn(USERS.viewer);
    await page.goto(`${srv.url}/#/experiments`);
    await page.locator('table.experiments').waitFor();
    assert.equal(await page.getByRole('button', { name: /^Start/ }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Upload' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Emergency stop' }).count(), 0);
    await page.goto(`${srv.url}/#/experiments/${NAME}`);
    await page.locator('pre.source').waitFor();
    assert.equal(await page.getByRole('button', { name: /^Start/ }).count(), 0);
    await shot(page, 'viewer-experiment');

    const api = await apiAs(USERS.viewer);
    const halt = await api('POST', '/api/halt', { reason: 'a viewer tries' });
    assert.equal(halt.status, 403, JSON.stringify(halt.body));
    const run = await api('POST', '/api/runs', { experiment: NAME });
    assert.equal(run.status, 403, JSON.stringify(run.body));
    assert.equal((await api('GET', '/api/halt')).body.halted, false);
  });

  test('no page logged an error or asked for anything outside the server', () => {
    assert.deepEqual(problems, []);
  });
});
