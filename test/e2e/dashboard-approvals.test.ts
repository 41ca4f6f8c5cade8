/**
 * The approval flow in real Chromium with two users, each in a browser of their own, against a real
 * server (startServer, SQLite, a private FAULTLINE_HOME). An operator uploads an experiment tagged for
 * production: its page says `draft`, and Start is refused naming the approval it needs. The operator asks
 * for an approval (`in-review`) and, on #/approvals, is offered no way to decide (the API refuses them
 * too). The approver, in their browser, sees the request with the operator's comment and approves it.
 * The operator's page then says `approved`, Start runs it, the run passes, and its journal records the
 * approval (who asked, who approved, which version). The approvals page fits a phone's width, and no page
 * logs an error or asks anything of another origin.
 *
 * Screenshots go to test-artifacts/dashboard-approvals/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { hashPassword } from '../../src/server/auth/secrets.js';
import { DASHBOARD_DIR } from '../../src/server/dashboard.js';
import {
  chromiumMissing,
  guardedContext,
  launchChromium,
  overflow,
  signedInPage,
} from '../helpers/chromium.js';
import { markerExperiment, runEnded, startTestServer, type TestServer } from '../helpers/serve.js';

const PHONE = { width: 390, height: 844 };
const PASSWORD = 'a long enough passphrase';
const OPERATOR = 'opal';
const APPROVER = 'avery';
const NAME = 'payments-failover';

if (chromiumMissing) console.log(`# skipping the approvals' browser test: ${chromiumMissing}`);

describe('the approval flow in Chromium, two users', { skip: chromiumMissing }, () => {
  let srv: TestServer;
  let browser: Browser;
  let shots: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  let operator: Page;
  let approver: Page;

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  /** A browser of its own (its own cookies) signed in through the page as `name`. */
  const signedIn = (name: string) =>
    signedInPage({
      browser,
      url: srv.url,
      problems,
      contexts,
      name,
      password: PASSWORD,
      hash: '#/experiments',
    });

  before(async () => {
    assert.ok(
      existsSync(join(DASHBOARD_DIR, 'index.html')),
      `${DASHBOARD_DIR}index.html is missing: run \`npm run build\` first`,
    );
    shots = fileURLToPath(new URL('../../test-artifacts/dashboard-approvals/', import.meta.url));
    await mkdir(shots, { recursive: true });
    console.log(`# screenshots: ${shots}`);
    srv = await startTestServer();
    for (const [name, role] of [
      [OPERATOR, 'operator'],
      [APPROVER, 'approver'],
    ] as const)
      assert.ok(await srv.store.createUser({ name, role, passwordHash: await hashPassword(PASSWORD) }));
    browser = await launchChromium();
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
    } finally {
      if (srv) {
        await srv.server.close();
        const faults = await srv.home.activeFaults();
        await srv.close();
        assert.deepEqual(faults, [], 'no fault left behind');
      }
    }
  });

  test('the operator uploads a production experiment: draft, and Start is refused', async () => {
    operator = await signedIn(OPERATOR);
    await operator.getByLabel('File (JSON or YAML)').setInputFiles({
      name: `${NAME}.yaml`,
      mimeType: 'application/yaml',
      buffer: Buffer.from(
        markerExperiment(join(srv.dir, 'failover.marker'), {
          title: 'Payments fail over to the standby',
          tags: ['production', 'payments'],
        }),
      ),
    });
    await operator.getByRole('button', { name: 'Upload' }).click();
    await operator.getByText(`${NAME}: stored as version 1`).waitFor();
    const row = operator.locator('table.experiments tbody tr', { hasText: NAME });
    await row.locator('.badge.lifecycle-draft').waitFor();
    await operator.getByRole('link', { name: 'See it' }).click();
    await operator.getByRole('heading', { name: NAME, level: 1 }).waitFor();
    await operator.locator('.lifecycle .badge.lifecycle-draft').waitFor();
    await operator.getByRole('button', { name: 'Start a run of the latest version' }).click();
    const refused = operator.getByRole('alert').filter({ hasText: 'Error 409' });
    await refused.waitFor();
    assert.match((await refused.textContent()) ?? '', /version 1 is tagged 'production'.*needs an approval/s);
    assert.equal((await srv.store.listRuns({ experiment: NAME })).runs.length, 0, 'nothing was queued');
  });

  test('the operator asks for an approval and cannot decide it', async () => {
    await operator.getByLabel('Comment for the approver').fill('failover drill, SRE on call watching');
    await operator.getByRole('button', { name: 'Ask for approval' }).click();
    await operator
      .getByRole('status')
      .filter({ hasText: 'Asked: an approval for one run of version 1' })
      .waitFor();
    await operator.locator('.lifecycle .badge.lifecycle-in-review').waitFor();
    await shot(operator, 'experiment-in-review');

    await operator.locator('header.top').getByRole('link', { name: 'Approvals' }).click();
    const row = operator.locator('table.approvals.pending tbody tr', { hasText: NAME });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /failover drill, SRE on call watching/);
    await row.getByText('only an approver may decide').waitFor();
    assert.equal(await row.getByRole('button', { name: /Approve/ }).count(), 0, 'no Approve for an operator');
    await shot(operator, 'approvals-operator');
    const id = (await row.getAttribute('data-approval')) ?? '';
    // The server refuses them whatever the page offers.
    const refused = await operator.evaluate(async (approval) => {
      const s = (await fetch('/api/session').then((r) => r.json())) as { csrfToken: string };
      const r = await fetch(`/api/approvals/${approval}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrfToken },
        body: '{}',
      });
      return { status: r.status, body: (await r.json()) as { error: { code: string } } };
    }, id);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'forbidden');
  });

  test('the approver approves in their own browser', async () => {
    approver = await signedIn(APPROVER);
    await approver.locator('header.top').getByRole('link', { name: 'Approvals' }).click();
    const row = approver.locator('table.approvals.pending tbody tr', { hasText: NAME });
    await row.waitFor();
    assert.match(
      (await row.textContent()) ?? '',
      new RegExp(`${OPERATOR}[\\s\\S]*one run[\\s\\S]*1 day once approved`),
    );
    await row.getByLabel(`Comment on ${NAME} version 1`).fill('go, keep the rollback ready');
    await shot(approver, 'approvals-approver');
    await row.getByRole('button', { name: `Approve ${NAME} version 1` }).click();
    const done = approver.locator('table.approvals.history tbody tr', { hasText: NAME });
    await done.locator('.badge.approval-approved').waitFor();
    assert.match(
      (await done.textContent()) ?? '',
      new RegExp(`${APPROVER}[\\s\\S]*decided: go, keep the rollback ready`),
    );
    await approver.getByText('Nothing waits for an approver.').waitFor();
    await shot(approver, 'approvals-approved');
    const audit = await srv.store.listAudit({ limit: 50 });
    assert.ok(audit.some((e) => e.actor === OPERATOR && e.action === 'approval.request'));
    assert.ok(audit.some((e) => e.actor === APPROVER && e.action === 'approval.approve'));
  });

  test('the operator starts the run it allows: it passes, and its journal records the approval', async () => {
    await operator.goto(`${srv.url}/#/experiments/${NAME}`);
    await operator.locator('.lifecycle .badge.lifecycle-approved').waitFor();
    await shot(operator, 'experiment-approved');
    await operator.getByRole('button', { name: 'Start a run of the latest version' }).click();
    await operator.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    const id = /#\/runs\/([0-9a-f-]{36})$/.exec(operator.url())?.[1] ?? '';
    const run = await runEnded(srv.store, id);
    assert.equal(run.verdict, 'passed', run.reason);
    const approval = run.journal.faultline.policy.approval;
    assert.equal(approval.kind, 'server');
    assert.equal(approval.grant.requestedBy, OPERATOR);
    assert.equal(approval.grant.approvedBy, APPROVER);
    assert.equal(approval.grant.version, 1);
    assert.equal(approval.grant.comment, 'failover drill, SRE on call watching');
    await operator.locator('.badge.verdict-passed').first().waitFor({ timeout: 60_000 });
    await shot(operator, 'run-passed');

    // Used up: the experiment asks for a new approval, and the history says the approval was used.
    await operator.goto(`${srv.url}/#/experiments/${NAME}`);
    await operator.locator('.lifecycle .badge.lifecycle-expired').waitFor();
    await operator.goto(`${srv.url}/#/approvals`);
    await operator
      .locator('table.approvals.history tbody tr', { hasText: NAME })
      .locator('.badge.approval-used')
      .waitFor();
  });

  test('the approvals page fits a phone, and nothing logged an error', async () => {
    const context = await guardedContext(browser, srv.url, problems, PHONE);
    contexts.push(context);
    const phone = await context.newPage();
    // The same session as the approver's browser: the cookie is that context's, so sign in again here.
    await phone.goto(`${srv.url}/#/approvals`);
    await phone.getByLabel('Name').fill(APPROVER);
    await phone.getByLabel('Password').fill(PASSWORD);
    await phone.getByRole('button', { name: 'Sign in' }).click();
    await phone.locator('table.approvals.history').waitFor();
    const o = await overflow(phone);
    assert.ok(
      o.scroll <= o.width,
      `the approvals page is ${o.scroll} px wide in ${o.width}: ${o.wide.join('; ')}`,
    );
    await shot(phone, 'approvals-phone');
    assert.deepEqual(problems, []);
  });
});
