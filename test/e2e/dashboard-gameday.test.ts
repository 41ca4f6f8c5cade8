/**
 * A short game day driven through the dashboard in real Chromium against a real server (startServer,
 * a SQLite store, a private FAULTLINE_HOME) with two operators, each in a browser of their own: the
 * incident commander pastes the plan, creates and starts the game day, confirms the baseline check
 * with a note; the scribe's notes appear on both pages as they are recorded (server-sent events); the
 * experiment step's run holds a real marker-file fault; the commander presses Stop game day: the run
 * is interrupted, the fault reverted, the rollback's manual step confirmed, and the page shows the
 * criteria's verdicts; the HTML report holds the notes and the criteria; the plan's follow-up stays
 * open on the list until it is closed there. A second game day is stopped by the header's emergency
 * stop; a viewer follows it and is offered nothing to do. No page logs an error or asks anything of another
 * origin; the game day's page fits a phone.
 *
 * Screenshots go to test-artifacts/dashboard-gameday/; with FAULTLINE_SCREENSHOTS=docs/images the one the docs
 * show (dashboard-gameday) is written there too.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { hashPassword } from '../../src/server/auth/secrets.js';
import { DASHBOARD_DIR } from '../../src/server/dashboard.js';
import { chromiumMissing, launchChromium, overflow, signedInPage } from '../helpers/chromium.js';
import { markerExperiment, runEnded, startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

const PASSWORD = 'a long enough passphrase';
const COMMANDER = 'opal';
const SCRIBE = 'sam';
const VIEWER = 'vic';
const PHONE = { width: 390, height: 844 };

if (chromiumMissing) console.log(`# skipping the game day's browser tests: ${chromiumMissing}`);

function plan(name: string): string {
  return [
    `name: ${name}`,
    'title: Checkout survives losing its marker',
    'objective: Learn whether checkout copes with a held marker fault',
    'hypothesis: The probes pass while the marker is held',
    'participants:',
    `  - { name: ${COMMANDER}, role: incident-commander }`,
    `  - { name: ${SCRIBE}, role: scribe }`,
    '  - { name: bob, role: technical-lead }',
    'steps:',
    '  - { id: baseline, kind: manual, title: Dashboards green, owner: technical-lead, instructions: Check the checkout dashboard }',
    '  - { id: hold, kind: experiment, title: Hold the marker, experiment: hold-marker, owner: technical-lead }',
    'success_criteria:',
    '  - { id: held, description: The hypothesis held, measure: { kind: verdict, step: hold } }',
    '  - { id: comms, description: Status page updated, measure: { kind: manual } }',
    'rollback:',
    '  steps:',
    '    - { id: restore, kind: manual, title: Remove the marker by hand if it is there, owner: incident-commander }',
    'follow_ups: ["Write the postmortem"]',
    '',
  ].join('\n');
}

describe('a game day in the dashboard (Chromium)', { skip: chromiumMissing }, () => {
  let srv: TestServer;
  let browser: Browser;
  let shots: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  const marker = () => join(srv.dir, 'gameday.marker');

  /** `docs`: with FAULTLINE_SCREENSHOTS=docs/images, the docs' copy of it too. */
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
      hash: '#/gamedays',
      ...(viewport ? { viewport } : {}),
    });

  const step = (page: Page, id: string) => page.locator(`li.step[data-step="${id}"]`);

  before(async () => {
    assert.ok(
      existsSync(join(DASHBOARD_DIR, 'index.html')),
      `${DASHBOARD_DIR}index.html is missing: run \`npm run build\` first`,
    );
    shots = fileURLToPath(new URL('../../test-artifacts/dashboard-gameday/', import.meta.url));
    await mkdir(shots, { recursive: true });
    console.log(`# screenshots: ${shots}`);
    if (process.env.FAULTLINE_SCREENSHOTS)
      await mkdir(resolve(process.env.FAULTLINE_SCREENSHOTS), { recursive: true });
    srv = await startTestServer();
    assert.ok(
      await srv.store.createUser({
        name: VIEWER,
        role: 'viewer',
        passwordHash: await hashPassword(PASSWORD),
      }),
    );
    for (const name of [COMMANDER, SCRIBE])
      assert.ok(
        await srv.store.createUser({ name, role: 'operator', passwordHash: await hashPassword(PASSWORD) }),
      );
    await srv.store.putExperiment({
      name: 'hold-marker',
      format: 'yaml',
      title: 'Hold a marker',
      tags: ['gameday'],
      source: markerExperiment(marker(), { title: 'Hold a marker', pause: 600 }),
      createdBy: COMMANDER,
    });
    browser = await launchChromium();
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
    } finally {
      if (srv) {
        await srv.store.releaseHalt().catch(() => false);
        // Closing the server stops a game day still going (a test that failed half-way) and reverts.
        await srv.server.close();
        const faults = await srv.home.activeFaults();
        await srv.close();
        assert.deepEqual(faults, [], 'no fault left behind');
      }
    }
  });

  test('create, start, confirm, notes from two people, stop mid-run, rollback, criteria, report, follow-ups', async () => {
    const ic = await signedIn(COMMANDER);
    await ic.getByRole('heading', { name: 'Game days', level: 1 }).waitFor();
    await ic.getByText('No game days yet').waitFor();
    // A plan with a mistake first: the page shows where.
    await ic.getByLabel('Plan (YAML or JSON)').fill(plan('checkout marker'));
    await ic.getByRole('button', { name: 'Create game day' }).click();
    await ic.locator('.state.failure').getByText('name', { exact: false }).first().waitFor();
    assert.match((await ic.locator('.state.failure ul.issues').textContent()) ?? '', /line 1/);
    await ic.getByLabel('Plan (YAML or JSON)').fill(plan('checkout-marker'));
    await ic.getByRole('button', { name: 'Create game day' }).click();
    await ic.waitForURL(/#\/gamedays\/[0-9a-f-]{36}$/);
    const id = /#\/gamedays\/([0-9a-f-]{36})$/.exec(ic.url())?.[1] ?? '';
    await ic.getByRole('heading', { name: 'Checkout survives losing its marker', level: 1 }).waitFor();
    await ic.locator('.badge.gameday-pending').waitFor();
    await shot(ic, 'created');

    await ic.getByRole('button', { name: 'Start game day' }).click();
    const baseline = step(ic, 'baseline');
    await baseline.and(ic.locator('[aria-current="step"]')).waitFor();
    await baseline.getByRole('button', { name: 'Confirm' }).waitFor();
    assert.match((await baseline.textContent()) ?? '', /Owner: technical-lead \(bob\)/);
    assert.match((await ic.locator('ul.participants li.busy').textContent()) ?? '', /bob/);
    await ic
      .getByRole('status')
      .filter({ hasText: /^live$/ })
      .waitFor();

    // The scribe, in a browser of their own, on the same game day: notes appear on both pages.
    const scribe = await signedIn(SCRIBE);
    await scribe.goto(`${srv.url}/#/gamedays/${id}`);
    await step(scribe, 'baseline').and(scribe.locator('[aria-current="step"]')).waitFor();
    await scribe.getByLabel('Note (timestamped, in your name)').fill('Error budget is fine before we start');
    await scribe.getByRole('button', { name: 'Add note' }).click();
    const note = (page: Page, text: string) => page.locator('ol.timeline li.event-note', { hasText: text });
    await note(ic, 'Error budget is fine before we start').waitFor();
    assert.match(
      (await note(ic, 'Error budget is fine before we start').textContent()) ?? '',
      new RegExp(SCRIBE),
    );
    await shot(ic, 'waiting-confirm');

    await baseline.getByLabel('Note (optional)').fill('all green');
    await baseline.getByRole('button', { name: 'Confirm' }).click();
    await baseline.getByRole('button', { name: 'Confirm' }).waitFor({ state: 'detached' });
    await baseline.getByText('done').waitFor();
    const hold = step(ic, 'hold');
    await hold.and(ic.locator('[aria-current="step"]')).waitFor();
    await hold.getByRole('link', { name: 'its run' }).waitFor({ timeout: 60_000 });
    await until('the fault to be held', () => existsSync(marker()), 60_000);
    await hold.getByText('in progress').waitFor();
    await scribe.getByLabel('Note (timestamped, in your name)').fill('Checkout errors climbing');
    await scribe.getByRole('button', { name: 'Add note' }).click();
    await note(ic, 'Checkout errors climbing').waitFor();
    await shot(ic, 'running');
    const runId = ((await hold.getByRole('link', { name: 'its run' }).getAttribute('href')) ?? '').replace(
      '#/runs/',
      '',
    );

    // Stop game day: a reason is asked for.
    await ic.getByRole('button', { name: 'Stop game day' }).click();
    await ic.locator('.gameday-controls .state.failure').getByText('reason').waitFor();
    await ic.getByLabel('Why stop').fill('errors above budget');
    await ic.getByRole('button', { name: 'Stop game day' }).click();
    const run = await runEnded(srv.store, runId);
    assert.equal(run.status, 'interrupted');
    assert.equal(existsSync(marker()), false, 'the fault was reverted');
    const restore = step(ic, 'restore');
    await restore.getByRole('button', { name: 'Confirm' }).waitFor({ timeout: 60_000 });
    await ic.locator('.badge.gameday-rolling-back').waitFor();
    await ic.getByRole('button', { name: 'Skip the rest of the rollback' }).waitFor();
    await shot(ic, 'rolling-back');
    await restore.getByRole('button', { name: 'Confirm' }).click();
    await ic.locator('.badge.gameday-stopped').waitFor({ timeout: 60_000 });
    await ic.locator('ol.timeline', { hasText: 'stop requested by opal: errors above budget' }).waitFor();
    const criteria = ic.locator('table.criteria');
    await criteria.locator('tr[data-criterion="held"]').waitFor();
    assert.match((await criteria.locator('tr[data-criterion="comms"]').textContent()) ?? '', /to be judged/);
    // The retrospective judges the manual criterion on the page.
    await criteria
      .locator('tr[data-criterion="comms"]')
      .getByRole('button', { name: /^Met\b/ })
      .click();
    await criteria.locator('tr[data-criterion="comms"]').getByText('judged by opal').waitFor();
    await criteria.locator('tr[data-criterion="comms"] .pill', { hasText: /^met$/ }).waitFor();
    // The scribe's page followed to the end as well.
    await scribe.locator('.badge.gameday-stopped').waitFor({ timeout: 60_000 });
    await shot(ic, 'stopped', 'dashboard-gameday');

    // The report: the notes, who wrote them, and the criteria.
    const [report] = await Promise.all([
      ic.context().waitForEvent('page'),
      ic.getByRole('link', { name: 'Report (HTML)' }).click(),
    ]);
    await report.waitForLoadState();
    const text = (await report.locator('body').textContent()) ?? '';
    for (const t of [
      'Error budget is fine before we start',
      'Checkout errors climbing',
      'all green',
      'The hypothesis held',
      'Status page updated',
      'errors above budget',
    ])
      assert.ok(text.includes(t), `the report has "${t}"`);
    assert.ok(text.includes(SCRIBE));
    await report.screenshot({ path: join(shots, 'report.png'), fullPage: true });
    await report.close();
    const md = await ic.evaluate(
      async (u) => (await fetch(u)).text(),
      `/api/gamedays/${id}/report?format=markdown`,
    );
    assert.ok(md.includes('Checkout errors climbing'));

    // Follow-ups: open on the list across game days until closed.
    await ic.goto(`${srv.url}/#/gamedays`);
    const followUp = ic.locator('li.followup', { hasText: 'Write the postmortem' });
    await followUp.waitFor();
    await shot(ic, 'list');
    await followUp.getByRole('button', { name: /Close/ }).click();
    await followUp.waitFor({ state: 'detached' });
    // The criterion the interrupted run did not meet stays open, for the incident commander.
    await ic.locator('li.followup', { hasText: 'Criterion held not met' }).getByText(COMMANDER).waitFor();
    await ic.getByLabel('Show closed ones too').check();
    await ic
      .locator('li.followup.closed', { hasText: 'Write the postmortem' })
      .getByText(`closed by ${COMMANDER}`)
      .waitFor();

    // The game day's page on a phone: nothing sticks out sideways.
    const phone = await (await signedIn(COMMANDER, PHONE)).context().newPage();
    await phone.goto(`${srv.url}/#/gamedays/${id}`);
    await phone.locator('.badge.gameday-stopped').waitFor();
    const o = await overflow(phone);
    assert.ok(o.scroll <= o.width, `the page scrolls sideways on a phone: ${JSON.stringify(o)}`);
    await shot(phone, 'phone');
  });

  test("the header's emergency stop stops a game day in progress", async () => {
    const ic = await signedIn(COMMANDER);
    await ic.getByLabel('Plan (YAML or JSON)').fill(plan('halted-from-the-header'));
    await ic.getByRole('button', { name: 'Create game day' }).click();
    await ic.waitForURL(/#\/gamedays\/[0-9a-f-]{36}$/);
    await ic.getByRole('button', { name: 'Start game day' }).click();
    await step(ic, 'baseline').getByRole('button', { name: 'Confirm' }).click();
    await until('the fault to be held', () => existsSync(marker()), 60_000);
    await ic.getByRole('button', { name: 'Emergency stop' }).click();
    await ic.getByLabel('Reason (everyone sees it)').fill('stop everything now');
    await ic.keyboard.press('Enter');
    await ic.locator('.halt-banner').waitFor();
    await until('the fault to be reverted', () => !existsSync(marker()), 60_000);
    const restore = step(ic, 'restore');
    await restore.getByRole('button', { name: 'Confirm' }).waitFor({ timeout: 60_000 });
    await ic
      .locator('ol.timeline', {
        hasText: 'stop requested by opal: emergency stop by opal: stop everything now',
      })
      .waitFor();
    await shot(ic, 'emergency-stop');
    await restore.getByRole('button', { name: 'Confirm' }).click();
    await ic.locator('.badge.gameday-stopped').waitFor({ timeout: 60_000 });
    assert.equal(await ic.getByRole('button', { name: 'Start game day' }).count(), 0);
    await srv.store.releaseHalt();

    // A viewer follows it and reads its report, and is offered nothing to do.
    const viewer = await signedIn(VIEWER);
    await viewer.goto(ic.url());
    await viewer.locator('.badge.gameday-stopped').waitFor();
    await viewer.locator('ol.timeline', { hasText: 'stop everything now' }).waitFor();
    await viewer.getByRole('link', { name: 'Report (HTML)' }).waitFor();
    for (const button of ['Add note', 'Stop game day', 'Confirm', 'Met', 'Close', 'Start game day'])
      assert.equal(
        await viewer.getByRole('button', { name: button }).count(),
        0,
        `no ${button} for a viewer`,
      );
    await viewer.goto(`${srv.url}/#/gamedays`);
    await viewer.locator('li.followup').first().waitFor();
    assert.equal(await viewer.getByLabel('Plan (YAML or JSON)').count(), 0);
    assert.deepEqual(problems, [], 'no page logged an error or asked another origin');
  });
});
