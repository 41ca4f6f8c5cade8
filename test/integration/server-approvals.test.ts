/**
 * Approvals on a real control plane (port 0, real SQLite, real runs in the server's threads, a real
 * webhook receiver): experiments' lifecycle states; a production experiment refused without an
 * approval; the four-eyes rule (the author and the requester are refused, also through their tokens);
 * a one-run approval used by exactly one of several concurrent starts; a standing one reused and the
 * only kind schedules may use; a new version not covered by its predecessor's approval; rejection;
 * expiry with an injected clock (audited and announced once); every step in the audit log and the
 * webhooks; and the journal of the run an approval allowed. The CLI's `--yes` is a local approval.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runFromSource } from '../../src/lib/run-source.js';
import { approvalForRun, expireApprovals } from '../../src/server/approvals/gate.js';
import type { Role } from '../../src/server/auth/roles.js';
import { hashPassword, newToken, secretHash } from '../../src/server/auth/secrets.js';
import type { ServerEvent } from '../../src/server/services.js';
import { pgScratchRole, pgSkipReason, type ScratchRole } from '../helpers/pg.js';
import { markerExperiment, runEnded, startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

type Reply = { status: number; body: any; text: string };
type As = (method: string, path: string, body?: unknown) => Promise<Reply>;

let t: TestServer;
let receiver: Server;
const hooks: { event: string; text: string; faultline: any }[] = [];
const who: Record<string, As> = {};
let markers = 0;

/** Calls the API of the server at `url` with `token`. */
const bearer =
  (url: string, token: string): As =>
  async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, text };
  };

/**
 * A user and a token of theirs with their role in `on`'s store: the token acts as `token:<name>-t`, owned
 * by them. Calls `on`, or with `.at(url)` another server on the same database.
 */
async function person(on: TestServer, name: string, role: Role): Promise<As & { at(url: string): As }> {
  await on.store.createUser({ name, role, passwordHash: await hashPassword(`password-of-${name}`) });
  const secret = newToken();
  await on.store.createToken({ name: `${name}-t`, owner: name, role, tokenHash: secretHash(secret) });
  return Object.assign(bearer(on.url, secret), { at: (url: string) => bearer(url, secret) });
}

const marker = () => join(t.dir, `m${++markers}.marker`);

/** Uploads a production (or not) marker experiment as `as`: its version. */
async function upload(as: As, name: string, tags = ['production'], title = name): Promise<number> {
  const r = await as('POST', '/api/experiments', {
    name,
    format: 'yaml',
    source: markerExperiment(marker(), { tags, title }),
  });
  assert.ok(r.status === 201 || r.status === 200, r.text);
  return r.body.version;
}

async function requestApproval(as: As, name: string, body: Record<string, unknown> = {}) {
  const r = await as('POST', `/api/experiments/${name}/approvals`, body);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.state, 'pending');
  return r.body as { id: string; version: number };
}

async function approve(as: As, id: string, comment?: string) {
  const r = await as('POST', `/api/approvals/${id}/approve`, comment === undefined ? {} : { comment });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.state, 'approved');
  return r.body;
}

async function lifecycle(name: string) {
  const r = await who.viewer!('GET', `/api/experiments/${name}`);
  assert.equal(r.status, 200, r.text);
  return r.body.lifecycle;
}

const hooked = (event: ServerEvent, approval: string) =>
  until(`webhook ${event} for ${approval}`, () =>
    hooks.find((h) => h.event === event && h.faultline.approval === approval),
  );

before(async () => {
  receiver = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      const body = JSON.parse(text);
      hooks.push({ event: body.faultline.event, text: body.text, faultline: body.faultline });
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t = await startTestServer();
  await writeFile(
    join(t.home.home, 'settings.yaml'),
    [
      'notifications:',
      `  - url: http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
      '    events: [approval.requested, approval.granted, approval.rejected, approval.expired]',
      '',
    ].join('\n'),
  );
  who.alice = await person(t, 'alice', 'operator');
  who.bob = await person(t, 'bob', 'operator');
  who.carol = await person(t, 'carol', 'approver');
  who.dave = await person(t, 'dave', 'approver');
  who.erin = await person(t, 'erin', 'approver');
  who.viewer = await person(t, 'vic', 'viewer');
});

after(async () => {
  await t?.close();
  await new Promise<void>((r) => receiver?.close(() => r()) ?? r());
});

describe('approvals', () => {
  test('lifecycle states; a production run is refused without an approval, others run', async () => {
    await upload(who.carol!, 'flow');
    await upload(who.alice!, 'plain', ['staging']);
    const list = await who.viewer!('GET', '/api/experiments');
    assert.equal(list.status, 200, list.text);
    const states = Object.fromEntries(list.body.map((e: any) => [e.name, e.lifecycle]));
    assert.deepEqual(states.flow, { state: 'draft', production: true, version: 1 });
    assert.deepEqual(states.plain, { state: 'ready', production: false, version: 1 });

    const refused = await who.alice!('POST', '/api/runs', { experiment: 'flow' });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.error.code, 'approval_required');
    assert.match(refused.body.error.message, /experiment flow version 1 is tagged 'production'/);
    assert.match(refused.body.error.message, /POST \/api\/experiments\/flow\/approvals/);
    assert.equal((await t.store.listRuns({ experiment: 'flow' })).runs.length, 0, 'nothing was queued');

    const plain = await who.alice!('POST', '/api/runs', { experiment: 'plain' });
    assert.equal(plain.status, 202, plain.text);
    assert.equal(plain.body.approval, undefined);
    assert.equal((await runEnded(t.store, plain.body.id)).verdict, 'passed');

    const notNeeded = await who.alice!('POST', '/api/experiments/plain/approvals', {});
    assert.equal(notNeeded.status, 409, notNeeded.text);
    assert.equal(notNeeded.body.error.code, 'approval_not_needed');
  });

  test('request, four eyes, approve, and the run it allowed records it in its journal', async () => {
    // carol (an approver) wrote it; bob asks; carol, bob (an operator) and bob's token cannot approve.
    const asked = await requestApproval(who.bob!, 'flow', { comment: 'game day rehearsal', expiresIn: '2h' });
    assert.equal((await lifecycle('flow')).state, 'in-review');
    const hook = await hooked('approval.requested', asked.id);
    assert.match(
      hook.text,
      /token:bob-t asks for an approval of flow version 1 \(one run\): game day rehearsal/,
    );

    const again = await who.alice!('POST', '/api/experiments/flow/approvals', {});
    assert.equal(again.status, 409, again.text);
    assert.equal(again.body.error.code, 'already_requested');

    const byAuthor = await who.carol!('POST', `/api/approvals/${asked.id}/approve`, {});
    assert.equal(byAuthor.status, 403, byAuthor.text);
    assert.equal(byAuthor.body.error.code, 'self_approval');
    assert.match(byAuthor.body.error.message, /carol wrote version 1 of flow/);
    const byOperator = await who.bob!('POST', `/api/approvals/${asked.id}/approve`, {});
    assert.equal(byOperator.status, 403, byOperator.text);
    assert.equal(byOperator.body.error.code, 'forbidden');

    const approved = await approve(who.dave!, asked.id, 'watch the error rate');
    assert.equal(approved.decidedBy, 'token:dave-t');
    const ms = Date.parse(approved.expiresAt) - Date.parse(approved.decidedAt);
    assert.equal(ms, 2 * 3600 * 1000, 'it expires expiresIn after the approval');
    assert.equal((await lifecycle('flow')).state, 'approved');
    await hooked('approval.granted', asked.id);
    const twice = await who.erin!('POST', `/api/approvals/${asked.id}/approve`, {});
    assert.equal(twice.status, 409, twice.text);
    assert.equal(twice.body.error.code, 'not_pending');

    const run = await who.alice!('POST', '/api/runs', { experiment: 'flow' });
    assert.equal(run.status, 202, run.text);
    assert.equal(run.body.approval, asked.id);
    const ended = await runEnded(t.store, run.body.id);
    assert.equal(ended.verdict, 'passed', ended.reason);
    const policy = ended.journal.faultline.policy;
    assert.equal(policy.production, true);
    assert.equal(policy.approval.by, 'approval');
    assert.equal(policy.approval.kind, 'server');
    assert.equal(policy.approval.grant.id, asked.id);
    assert.equal(policy.approval.grant.approvedBy, 'token:dave-t');
    assert.equal(policy.approval.grant.requestedBy, 'token:bob-t');
    assert.equal(policy.approval.grant.version, 1);
    assert.equal(policy.approval.grant.standing, false);

    const detail = await who.viewer!('GET', `/api/approvals/${asked.id}`);
    assert.equal(detail.status, 200, detail.text);
    assert.equal(detail.body.state, 'used');
    assert.equal(detail.body.usedBy, 'token:alice-t');
    assert.deepEqual(detail.body.runs, [run.body.id]);
    // Used up: the next run needs another approval.
    const next = await who.alice!('POST', '/api/runs', { experiment: 'flow' });
    assert.equal(next.status, 409, next.text);
    assert.equal(next.body.error.code, 'approval_required');
    assert.equal((await lifecycle('flow')).state, 'expired');
  });

  test('the requester may not approve, even an approver; a rejection is final for that request', async () => {
    const asked = await requestApproval(who.erin!, 'flow', { standing: true });
    const bySelf = await who.erin!('POST', `/api/approvals/${asked.id}/approve`, {});
    assert.equal(bySelf.status, 403, bySelf.text);
    assert.equal(bySelf.body.error.code, 'self_approval');
    assert.match(bySelf.body.error.message, /erin asked for this approval/, 'named through her token');

    const rejected = await who.dave!('POST', `/api/approvals/${asked.id}/reject`, {
      comment: 'not this week',
    });
    assert.equal(rejected.status, 200, rejected.text);
    assert.equal(rejected.body.state, 'rejected');
    assert.equal(rejected.body.decisionComment, 'not this week');
    assert.equal((await lifecycle('flow')).state, 'rejected');
    const hook = await hooked('approval.rejected', asked.id);
    assert.match(hook.text, /token:dave-t rejected flow version 1 \(standing\): not this week/);
    const late = await who.dave!('POST', `/api/approvals/${asked.id}/approve`, {});
    assert.equal(late.status, 409, late.text);
    assert.equal(late.body.error.code, 'not_pending');
    assert.match(late.body.error.message, /is rejected \(decided by token:dave-t/);
  });

  test('an approval names its version: a new upload is not approved', async () => {
    await upload(who.carol!, 'versioned');
    const v1 = await requestApproval(who.bob!, 'versioned');
    await approve(who.dave!, v1.id);
    assert.equal(await upload(who.carol!, 'versioned', ['production'], 'versioned, edited'), 2);
    assert.deepEqual(await lifecycle('versioned'), { state: 'draft', production: true, version: 2 });
    const latest = await who.alice!('POST', '/api/runs', { experiment: 'versioned' });
    assert.equal(latest.status, 409, latest.text);
    assert.match(latest.body.error.message, /versioned version 2 is tagged 'production'/);
    const old = await who.alice!('POST', '/api/runs', { experiment: 'versioned', version: 1 });
    assert.equal(old.status, 202, old.text);
    assert.equal(old.body.approval, v1.id);
    assert.equal((await runEnded(t.store, old.body.id)).verdict, 'passed');
  });

  test('a one-run approval allows exactly one of several concurrent starts', async () => {
    await upload(who.carol!, 'race');
    const asked = await requestApproval(who.bob!, 'race');
    await approve(who.dave!, asked.id);
    const starts = await Promise.all(
      Array.from({ length: 6 }, () => who.alice!('POST', '/api/runs', { experiment: 'race' })),
    );
    const won = starts.filter((r) => r.status === 202);
    assert.equal(won.length, 1, starts.map((r) => `${r.status} ${r.text}`).join('\n'));
    for (const r of starts.filter((s) => s.status !== 202)) {
      assert.equal(r.status, 409, r.text);
      assert.equal(r.body.error.code, 'approval_required');
    }
    assert.equal((await runEnded(t.store, won[0]!.body.id)).verdict, 'passed');
  });

  test('a standing approval allows every run until it expires, and is what schedules need', async () => {
    await upload(who.carol!, 'nightly');
    const version = (await t.store.getExperiment('nightly'))!;
    const oneRun = await requestApproval(who.bob!, 'nightly');
    await approve(who.dave!, oneRun.id);
    // A schedule may not use a one-run approval.
    await assert.rejects(
      approvalForRun(t.store, t.home.home, version, { standing: true, actor: 'schedule:nightly' }),
      (err: any) => err.status === 409 && err.code === 'approval_required' && /standing/.test(err.message),
    );
    const standing = await requestApproval(who.bob!, 'nightly', { standing: true, expiresIn: '1h' });
    await approve(who.dave!, standing.id);
    const first = await approvalForRun(t.store, t.home.home, version, {
      standing: true,
      actor: 'schedule:nightly',
    });
    assert.deepEqual(first, { production: true, approval: standing.id });
    // An API start uses the one-run approval first, then the standing one again and again.
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await who.alice!('POST', '/api/runs', { experiment: 'nightly' });
      assert.equal(r.status, 202, r.text);
      ids.push(r.body.approval);
      assert.equal((await runEnded(t.store, r.body.id)).verdict, 'passed');
    }
    assert.deepEqual(ids, [oneRun.id, standing.id, standing.id]);
    assert.equal((await t.store.approvals.get(standing.id))?.state, 'approved');
    assert.equal((await lifecycle('nightly')).state, 'approved');
  });

  test('expiry: past expiresAt nothing runs, the sweep marks it once, audits and announces it', async () => {
    const version = (await t.store.getExperiment('nightly'))!;
    const standing = (await t.store.approvals.list({ experiment: 'nightly', state: 'approved' }))[0]!;
    const later = new Date(Date.parse(standing.expiresAt!) + 1000);
    const told: string[] = [];
    await assert.rejects(
      approvalForRun(t.store, t.home.home, version, {
        standing: true,
        actor: 'schedule:nightly',
        now: later,
        notify: (event, _summary, facts) => told.push(`${event} ${String(facts?.approval)}`),
      }),
      (err: any) => err.code === 'approval_required',
    );
    assert.deepEqual(told, [`approval.expired ${standing.id}`]);
    assert.equal((await t.store.approvals.get(standing.id))?.state, 'expired');
    assert.deepEqual(await expireApprovals(t.store, undefined, later), [], 'each expiry is swept once');
    const expired = await who.viewer!('GET', '/api/approvals?state=expired');
    assert.deepEqual(
      expired.body.map((a: any) => a.id),
      [standing.id],
    );
    const entries = await t.store.listAudit({ limit: 500 });
    const expiry = entries.filter((e) => e.action === 'approval.expire');
    assert.equal(expiry.length, 1);
    assert.equal(expiry[0]?.actor, 'approvals');
    assert.equal(expiry[0]?.subject, standing.id);
    const run = await who.alice!('POST', '/api/runs', { experiment: 'nightly' });
    assert.equal(run.status, 409, run.text);
  });

  test('every request, decision and expiry is in the audit log', async () => {
    const entries = await t.store.listAudit({ limit: 1000 });
    const actions = new Set(entries.map((e) => e.action));
    for (const a of ['approval.request', 'approval.approve', 'approval.reject', 'approval.expire'])
      assert.ok(actions.has(a), `${a} is audited`);
    const approvals = await t.store.approvals.list({ limit: 500 });
    for (const a of approvals) {
      const about = entries.filter((e) => e.subject === a.id).map((e) => `${e.actor} ${e.action}`);
      assert.ok(about.includes(`${a.requestedBy} approval.request`), `${a.id} request: ${about}`);
      if (a.state === 'approved' || a.state === 'used' || a.state === 'expired')
        assert.ok(about.includes(`${a.decidedBy} approval.approve`), `${a.id} approval: ${about}`);
      if (a.state === 'rejected')
        assert.ok(about.includes(`${a.decidedBy} approval.reject`), `${a.id} rejection: ${about}`);
      if (a.state === 'expired') assert.ok(about.includes('approvals approval.expire'), `${a.id}: ${about}`);
    }
    const start = entries.find((e) => e.action === 'run.start' && e.detail?.approval !== undefined);
    assert.ok(start, 'a run start names the approval it used');
  });

  test('requests are validated, naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ expiresIn: '1s' }, 'expiresIn'],
      [{ expiresIn: '721h' }, 'expiresIn'],
      [{ expiresIn: 'tomorrow' }, 'expiresIn'],
      [{ standing: 'yes' }, 'standing'],
      [{ version: 0 }, 'version'],
      [{ comment: 'a\u0000b' }, 'comment'],
      [{ approver: 'me' }, 'approver'],
    ];
    for (const [body, field] of cases) {
      const r = await who.bob!('POST', '/api/experiments/flow/approvals', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.ok(r.body.error.message.includes(field), `${JSON.stringify(body)} names ${field}: ${r.text}`);
    }
    const missing = await who.bob!('POST', '/api/experiments/flow/approvals', { version: 99 });
    assert.equal(missing.status, 404, missing.text);
    const viewer = await who.viewer!('POST', '/api/experiments/flow/approvals', {});
    assert.equal(viewer.status, 403, viewer.text);
    const none = await who.dave!('POST', '/api/approvals/00000000-0000-4000-8000-000000000000/approve', {});
    assert.equal(none.status, 404, none.text);
    const badState = await who.viewer!('GET', '/api/approvals?state=maybe');
    assert.equal(badState.status, 400, badState.text);
  });

  test('no fault is left behind by the runs approvals allowed', async () => {
    for (let i = 1; i <= markers; i++) assert.equal(existsSync(join(t.dir, `m${i}.marker`)), false);
    assert.deepEqual(await t.home.activeFaults(), []);
  });
});

describe('two servers on one PostgreSQL', async () => {
  const skip = await pgSkipReason();
  if (skip) console.log(`# skipping: ${skip}`);
  let scratch: ScratchRole | undefined;
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
    await scratch?.drop().catch(() => undefined);
  });

  test('a one-run approval is used once across servers; one decision and one expiry each win', {
    skip,
  }, async () => {
    scratch = await pgScratchRole('faultline_approvals');
    const a = await startTestServer({ database: scratch.url() });
    servers.push(a);
    const b = await startTestServer({ database: scratch.url() });
    servers.push(b);
    const carol = await person(a, 'carol', 'approver');
    const bob = await person(a, 'bob', 'operator');
    const dave = await person(a, 'dave', 'approver');
    const erin = await person(a, 'erin', 'approver');
    const up = await carol('POST', '/api/experiments', {
      name: 'pg-race',
      format: 'yaml',
      source: markerExperiment(join(a.dir, 'pg-race.marker'), { tags: ['production'] }),
    });
    assert.equal(up.status, 201, up.text);
    const asked = await requestApproval(bob.at(b.url), 'pg-race');

    // Two approvers at once, through different servers: one decision stands.
    const decisions = await Promise.all([
      dave('POST', `/api/approvals/${asked.id}/approve`, {}),
      erin.at(b.url)('POST', `/api/approvals/${asked.id}/reject`, {}),
    ]);
    assert.deepEqual(
      decisions.map((d) => d.status).sort(),
      [200, 409],
      decisions.map((d) => d.text).join('\n'),
    );
    const decided = decisions.find((d) => d.status === 200)!.body;
    if (decided.state === 'rejected') {
      // The rejection won the race: ask again and approve, so the race of the starts is still tested.
      await approve(dave, (await requestApproval(bob, 'pg-race')).id);
    }

    const starts = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        bob.at(i % 2 === 0 ? a.url : b.url)('POST', '/api/runs', { experiment: 'pg-race' }),
      ),
    );
    const won = starts.filter((r) => r.status === 202);
    assert.equal(won.length, 1, starts.map((r) => `${r.status} ${r.text}`).join('\n'));
    for (const r of starts.filter((s) => s.status !== 202))
      assert.equal(r.body.error.code, 'approval_required');
    const ended = await runEnded(a.store, won[0]!.body.id);
    assert.equal(ended.verdict, 'passed', ended.reason);
    assert.equal(ended.journal.faultline.policy.approval.grant.id, won[0]!.body.approval);

    // A standing approval past its expiry, swept by both servers at once: expired, audited, told once.
    const standing = await requestApproval(bob, 'pg-race', { standing: true, expiresIn: '1h' });
    const ok = await approve(dave.at(b.url), standing.id);
    const later = new Date(Date.parse(ok.expiresAt) + 1);
    const told: string[] = [];
    const notify = (event: ServerEvent) => told.push(event);
    const swept = await Promise.all([
      expireApprovals(a.store, notify, later),
      expireApprovals(b.store, notify, later),
    ]);
    assert.equal(swept.flat().length, 1);
    assert.deepEqual(told, ['approval.expired']);
    const audit = (await a.store.listAudit({ limit: 200 })).filter((e) => e.action === 'approval.expire');
    assert.equal(audit.length, 1);
    for (const s of servers) assert.deepEqual(await s.home.activeFaults(), []);
  });
});

describe('the CLI', () => {
  test('--yes approves a production run locally, and the journal names the user', async () => {
    const source = join(t.dir, 'local.yaml');
    await writeFile(source, markerExperiment(join(t.dir, 'local.marker'), { tags: ['production'] }));
    const result = await runFromSource(source, { home: t.home.home, cwd: t.dir, yes: true });
    assert.equal(result.exitCode, 0);
    const approval = (result.journal as any).faultline.policy.approval;
    assert.equal(approval.kind, 'local');
    assert.equal(approval.by, '--yes');
    assert.equal(approval.user, userInfo().username);
    assert.equal(approval.grant, undefined);
  });
});
