/**
 * The schedules page in real Chromium against a real server (startServer, SQLite, loopback without
 * users: the page may manage schedules): the list shows each schedule's timing in words and its next
 * fire times in the viewer's zone and the schedule's; the form creates one and shows the server's issue
 * for an invalid cron; a schedule firing every 2 s shows its firings with their runs on its own page,
 * and Pause, Resume and Delete work from there. The list fits a phone's width, and no page logs an
 * error or asks anything of another origin.
 *
 * Screenshots go to test-artifacts/dashboard-schedules/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DASHBOARD_DIR } from '../../src/server/dashboard.js';
import { chromiumMissing, guardedContext, launchChromium, overflow } from '../helpers/chromium.js';
import { startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';
import { quickExperiment } from '../integration/server-schedules-fixtures.js';

const PHONE = { width: 390, height: 844 };

if (chromiumMissing) console.log(`# skipping the schedules' browser test: ${chromiumMissing}`);

describe('the schedules page in Chromium', { skip: chromiumMissing }, () => {
  let srv: TestServer;
  let browser: Browser;
  let shots: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  let page: Page;

  const shot = (p: Page, name: string) => p.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  before(async () => {
    assert.ok(
      existsSync(join(DASHBOARD_DIR, 'index.html')),
      `${DASHBOARD_DIR}index.html is missing: run \`npm run build\` first`,
    );
    shots = fileURLToPath(new URL('../../test-artifacts/dashboard-schedules/', import.meta.url));
    await mkdir(shots, { recursive: true });
    console.log(`# screenshots: ${shots}`);
    srv = await startTestServer({ serve: { schedulePollMs: 500 } });
    const up = await srv.api('POST', '/api/experiments', {
      name: 'quick',
      format: 'yaml',
      source: quickExperiment(),
    });
    assert.equal(up.status, 201, up.text);
    for (const body of [
      { name: 'nightly', experiment: 'quick', timing: { cron: '30 2 * * *', timezone: 'Asia/Tokyo' } },
      { name: 'every-2s', experiment: 'quick', timing: { cron: '*/2 * * * * *' }, tags: ['browser'] },
    ]) {
      const r = await srv.api('POST', '/api/schedules', body);
      assert.equal(r.status, 201, r.text);
    }
    browser = await launchChromium();
    const context = await guardedContext(browser, srv.url, problems);
    contexts.push(context);
    page = await context.newPage();
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
    } finally {
      if (srv) {
        await srv.api('POST', '/api/schedules/every-2s/pause').catch(() => undefined);
        await srv.server.close();
        const faults = await srv.home.activeFaults();
        await srv.close();
        assert.deepEqual(faults, [], 'no fault left behind');
      }
    }
  });

  test('the list: timing in words, next fire times in both zones; the form creates and shows issues', async () => {
    await page.goto(`${srv.url}/#/schedules`);
    await page.getByRole('heading', { name: 'Schedules', level: 1 }).waitFor();
    const nightly = page.locator('table.schedules tbody tr', { hasText: 'nightly' });
    await nightly.waitFor();
    assert.match((await nightly.textContent()) ?? '', /every day at 02:30 \(Asia\/Tokyo\)/);
    // The browser's zone is UTC here: the schedule's own zone is shown beside each time.
    await nightly
      .getByText(/Asia\/Tokyo\)$/)
      .first()
      .waitFor();
    await nightly.locator('.badge.schedule-active').waitFor();
    const fast = page.locator('table.schedules tbody tr', { hasText: 'every-2s' });
    assert.match((await fast.textContent()) ?? '', /every 2 seconds \(UTC\)/);

    await page.getByLabel('Name').fill('bad-cron');
    await page.getByLabel('Cron').fill('every tuesday');
    await page.getByRole('button', { name: 'Create' }).click();
    const refused = page.getByRole('alert').filter({ hasText: 'Error 400' });
    await refused.waitFor();
    assert.match((await refused.textContent()) ?? '', /timing\.cron/);

    await page.getByLabel('Name').fill('from-form');
    await page.getByLabel('Cron').fill('@every 1h');
    await page.getByLabel('Time zone').fill('Europe/Paris');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('status').filter({ hasText: 'from-form created' }).waitFor();
    const row = page.locator('table.schedules tbody tr', { hasText: 'from-form' });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /every 1h \(Europe\/Paris\)/);
    const stored = await srv.api('GET', '/api/schedules/from-form');
    assert.equal(stored.body.timing.timezone, 'Europe/Paris');
    assert.equal(stored.body.experiment, 'quick');
    await shot(page, 'list');

    const phone = await guardedContext(browser, srv.url, problems, PHONE);
    contexts.push(phone);
    const small = await phone.newPage();
    await small.goto(`${srv.url}/#/schedules`);
    await small.locator('table.schedules tbody tr', { hasText: 'nightly' }).waitFor();
    const o = await overflow(small);
    assert.ok(o.scroll <= o.width, `the list scrolls sideways on a phone: ${o.wide.join(', ')}`);
    await shot(small, 'list-phone');
  });

  test("a schedule's page: its firings with their runs; pause, resume and delete", async () => {
    await page.goto(`${srv.url}/#/schedules/every-2s`);
    await page.getByRole('heading', { name: 'Schedule every-2s', level: 1 }).waitFor();
    const fired = page
      .locator('table.firings tbody tr', { has: page.locator('.badge.firing-fired') })
      .first();
    await fired.waitFor({ timeout: 60_000 });
    const link = fired.getByRole('link', { name: /^run / });
    await link.waitFor();
    const runHref = (await link.getAttribute('href')) ?? '';
    assert.match(runHref, /^#\/runs\/[0-9a-f-]{36}$/);
    await shot(page, 'schedule');

    await page.getByRole('button', { name: 'Pause' }).click();
    await page.locator('dl.facts .badge.schedule-paused').waitFor();
    await page.getByText('None while paused.').waitFor();
    assert.equal((await srv.api('GET', '/api/schedules/every-2s')).body.paused, true);
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.locator('dl.facts .badge.schedule-active').waitFor();
    assert.equal((await srv.api('GET', '/api/schedules/every-2s')).body.paused, false);

    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('heading', { name: 'Schedules', level: 1 }).waitFor();
    await until(
      'every-2s to be gone',
      async () => (await srv.api('GET', '/api/schedules/every-2s')).status === 404,
    );
    assert.equal(await page.locator('table.schedules tbody tr', { hasText: 'every-2s' }).count(), 0);
    const audit = (await srv.store.listAudit({ limit: 50 })).filter((a) => a.subject === 'every-2s');
    for (const action of ['schedule.pause', 'schedule.resume', 'schedule.delete'])
      assert.ok(
        audit.some((a) => a.action === action),
        action,
      );
    assert.deepEqual(problems, []);
  });
});
