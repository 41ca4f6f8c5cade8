/**
 * The control plane's API against a real server (port 0) on a real SQLite
 * store: uploads and versions, the refusals (an invalid experiment, inline
 * secrets) with their positions, a real run of a marker-file fault executed
 * by the run loop to its journal and verdict, its HTML report, an imported
 * journal, the list filters, an abort that reverts the fault, the audit log,
 * the OpenAPI document and health (a closed database: 503, runs refused).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pgScratchRole, pgSkipReason } from '../helpers/pg.js';
import { markerExperiment, runEnded, startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

const REPORT_FIXTURE = fileURLToPath(new URL('../fixtures/report/quickstart.json', import.meta.url));

describe('faultline serve API', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  test('uploads versions: new (201), identical (200), changed (201); lists and reads them', async () => {
    const marker = join(t.dir, 'versions.marker');
    const source = markerExperiment(marker, { title: 'versions' });
    const first = await t.api('POST', '/api/experiments', { name: 'versions', format: 'yaml', source });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.body.version, 1);
    assert.equal(first.body.title, 'versions');
    assert.deepEqual(first.body.tags, ['server-test']);
    const same = await t.api('POST', '/api/experiments', { name: 'versions', format: 'yaml', source });
    assert.equal(same.status, 200);
    assert.equal(same.body.version, 1);
    const changed = await t.api('POST', '/api/experiments', {
      name: 'versions',
      format: 'yaml',
      source: markerExperiment(marker, { title: 'versions two' }),
    });
    assert.equal(changed.status, 201);
    assert.equal(changed.body.version, 2);

    const latest = await t.api('GET', '/api/experiments/versions');
    assert.equal(latest.status, 200);
    assert.equal(latest.body.version, 2);
    assert.equal(latest.body.title, 'versions two');
    const v1 = await t.api('GET', '/api/experiments/versions?version=1');
    assert.equal(v1.body.source, source);
    const versions = await t.api('GET', '/api/experiments/versions/versions');
    assert.deepEqual(versions.body.map((v: { version: number }) => v.version).sort(), [1, 2]);
    assert.ok(versions.body.every((v: object) => !('source' in v)));
    const list = await t.api('GET', '/api/experiments');
    const summary = list.body.find((e: { name: string }) => e.name === 'versions');
    assert.equal(summary.versions, 2);
    assert.equal((await t.api('GET', '/api/experiments/versions?version=9')).status, 404);
    assert.equal((await t.api('GET', '/api/experiments/nope')).status, 404);
  });

  test('an invalid experiment is refused with 422 and every issue with its path, line and column', async () => {
    const source = 'title: broken\nmethod:\n  - type: action\n    name: x\n    provider: { type: nosuch }\n';
    const r = await t.api('POST', '/api/experiments', { name: 'broken', format: 'yaml', source });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.body.error.code, 'invalid_experiment');
    assert.ok(r.body.error.issues.length > 0);
    const issue = r.body.error.issues.find((i: { path: string }) => i.path.startsWith('method[0]'));
    assert.ok(issue, JSON.stringify(r.body.error.issues));
    assert.equal(typeof issue.line, 'number');
    assert.equal(typeof issue.column, 'number');
    const unparsable = await t.api('POST', '/api/experiments', {
      name: 'broken',
      format: 'json',
      source: '{"title": ',
    });
    assert.equal(unparsable.status, 422);
    assert.equal(unparsable.body.error.code, 'invalid_experiment');
    assert.equal((await t.api('GET', '/api/experiments/broken')).status, 404, 'nothing stored');
  });

  test('inline secret values are refused (422) naming the secret; env references are accepted', async () => {
    const base = markerExperiment(join(t.dir, 'secrets.marker'));
    const inline = `${base}secrets:\n  db:\n    password: hunter2\n    token: { type: env, key: PATH }\n`;
    const r = await t.api('POST', '/api/experiments', { name: 'secrets', format: 'yaml', source: inline });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.body.error.code, 'inline_secret');
    assert.equal(r.body.error.issues.length, 1);
    assert.equal(r.body.error.issues[0].path, 'secrets.db.password');
    assert.equal(typeof r.body.error.issues[0].line, 'number');
    assert.ok(!r.text.includes('hunter2'), 'the value is never echoed');
    const referenced = `${base}secrets:\n  db:\n    token: { type: env, key: PATH }\n`;
    const ok = await t.api('POST', '/api/experiments', {
      name: 'secrets',
      format: 'yaml',
      source: referenced,
    });
    assert.equal(ok.status, 201, ok.text);
  });

  test('a run is queued (202), executed by the run loop, and stored finished with its journal and verdict', async () => {
    const marker = join(t.dir, 'run.marker');
    const up = await t.api('POST', '/api/experiments', {
      name: 'run-me',
      format: 'yaml',
      source: markerExperiment(marker, { title: 'run me' }),
    });
    assert.equal(up.status, 201, up.text);
    const queued = await t.api('POST', '/api/runs', { experiment: 'run-me', tags: ['ci'] });
    assert.equal(queued.status, 202, queued.text);
    assert.equal(queued.body.status, 'queued');
    assert.equal(queued.body.experiment, 'run-me');
    assert.equal(queued.body.experimentVersion, 1);
    assert.deepEqual([...queued.body.tags].sort(), ['ci', 'server-test']);

    const run = await runEnded(t.store, queued.body.id);
    assert.equal(run.status, 'finished', JSON.stringify(run));
    assert.equal(run.verdict, 'passed', run.reason);
    assert.equal(run.journal.status, 'completed');
    assert.equal(run.journal.faultline.run_id, queued.body.id);
    assert.ok(
      run.journal.run.some((a: { activity: { name: string } }) => a.activity.name === 'create-marker'),
    );
    assert.equal(run.journal.faultline.faults.length, 1);
    assert.ok(!existsSync(marker), 'the fault was reverted');
    assert.deepEqual(await t.home.activeFaults(), []);

    const report = await fetch(`${t.url}/api/runs/${queued.body.id}/report`);
    assert.equal(report.status, 200);
    assert.match(report.headers.get('content-type') ?? '', /text\/html/);
    assert.match(report.headers.get('content-security-policy') ?? '', /default-src 'none'.*sandbox/);
    const html = await report.text();
    assert.match(html, /<html/i);
    assert.match(html, /run me/);

    const missing = await t.api('POST', '/api/runs', { experiment: 'no-such' });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'not_found');
  });

  test('an imported journal is stored finished with the verdict its journal gives; filters find it', async () => {
    const journal = JSON.parse(await readFile(REPORT_FIXTURE, 'utf8'));
    const r = await t.api('POST', '/api/runs/import', { journal, tags: ['pushed', 'nightly'] });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.origin, 'push');
    assert.equal(r.body.status, 'finished');
    assert.ok(r.body.verdict);
    assert.equal(r.body.title, journal.experiment.title);
    const stored = await t.api('GET', `/api/runs/${r.body.id}`);
    assert.equal(stored.body.journal.experiment.title, journal.experiment.title);

    const byTags = await t.api('GET', '/api/runs?tags=pushed,nightly');
    assert.deepEqual(
      byTags.body.runs.map((x: { id: string }) => x.id),
      [r.body.id],
    );
    const none = await t.api('GET', '/api/runs?tags=pushed,other');
    assert.deepEqual(none.body.runs, []);
    const byExperiment = await t.api('GET', '/api/runs?experiment=run-me');
    assert.ok(byExperiment.body.runs.length >= 1);
    assert.ok(byExperiment.body.runs.every((x: { experiment: string }) => x.experiment === 'run-me'));
    const byVerdict = await t.api('GET', `/api/runs?verdict=${r.body.verdict}&status=finished`);
    assert.ok(byVerdict.body.runs.some((x: { id: string }) => x.id === r.body.id));
    const page = await t.api('GET', '/api/runs?limit=1');
    assert.equal(page.body.runs.length, 1);
    assert.ok(page.body.next, 'a cursor to the next page');
    const next = await t.api('GET', `/api/runs?limit=1&cursor=${encodeURIComponent(page.body.next)}`);
    assert.equal(next.status, 200);
    assert.notEqual(next.body.runs[0]?.id, page.body.runs[0].id);
    const future = await t.api('GET', `/api/runs?from=${encodeURIComponent('2999-01-01T00:00:00Z')}`);
    assert.deepEqual(future.body.runs, []);

    const bad = await t.api('POST', '/api/runs/import', { journal: { hello: 'world' } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.code, 'invalid_journal');
    assert.ok(bad.body.error.issues.every((i: { path: string }) => i.path.startsWith('journal')));
  });

  test('abort interrupts a running run and its fault is reverted', async () => {
    const marker = join(t.dir, 'abort.marker');
    await t.api('POST', '/api/experiments', {
      name: 'long',
      format: 'yaml',
      source: markerExperiment(marker, { title: 'long', pause: 600 }),
    });
    const queued = await t.api('POST', '/api/runs', { experiment: 'long' });
    assert.equal(queued.status, 202);
    const id = queued.body.id;
    await until('the marker fault to be injected', () => existsSync(marker), 60_000);
    const running = await t.api('GET', `/api/runs/${id}`);
    assert.equal(running.body.status, 'running');
    const aborted = await t.api('POST', `/api/runs/${id}/abort`);
    assert.equal(aborted.status, 202, aborted.text);
    const run = await runEnded(t.store, id);
    assert.equal(run.status, 'interrupted');
    assert.equal(run.verdict, 'interrupted');
    assert.equal(run.journal.status, 'interrupted');
    assert.ok(!existsSync(marker), 'the fault was reverted');
    const again = await t.api('POST', `/api/runs/${id}/abort`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'not_running');
  });

  test('every mutation is in the audit log, actor local', async () => {
    const r = await t.api('GET', '/api/audit?limit=500');
    assert.equal(r.status, 200);
    const actions = new Set(r.body.map((e: { action: string }) => e.action));
    for (const a of ['experiment.upload', 'run.start', 'run.abort', 'run.push']) assert.ok(actions.has(a), a);
    assert.ok(r.body.every((e: { actor: string }) => e.actor === 'local'));
  });

  test('the OpenAPI document describes every route from the same schemas', async () => {
    const r = await t.api('GET', '/api/openapi.json');
    assert.equal(r.status, 200);
    const paths = Object.keys(r.body.paths);
    for (const p of [
      '/api/experiments',
      '/api/experiments/{name}',
      '/api/experiments/{name}/versions',
      '/api/runs',
      '/api/runs/{id}',
      '/api/runs/{id}/report',
      '/api/runs/{id}/abort',
      '/api/runs/import',
      '/api/health',
      '/api/audit',
    ])
      assert.ok(paths.includes(p), p);
    const upload = r.body.paths['/api/experiments'].post.requestBody.content['application/json'].schema;
    assert.deepEqual([...upload.required].sort(), ['format', 'name', 'source']);
    assert.equal(upload.additionalProperties, false);
  });

  test('health is 200 with the database named', async () => {
    const r = await t.api('GET', '/api/health');
    assert.equal(r.status, 200);
    assert.equal(r.body.ok, true);
    assert.match(r.body.database, /sqlite/i);
    assert.equal(r.body.server, t.server.serverId);
  });
});

describe('faultline serve on a database that went away', () => {
  test('health is 503 and new runs are refused with 503, as JSON errors', async () => {
    const t = await startTestServer();
    try {
      await t.store.close();
      const health = await t.api('GET', '/api/health');
      assert.equal(health.status, 503, health.text);
      assert.equal(health.body.ok, false);
      assert.equal(health.body.error.code, 'unhealthy');
      const run = await t.api('POST', '/api/runs', { experiment: 'anything' });
      assert.equal(run.status, 503, run.text);
      assert.ok(run.body.error.code);
      assert.ok(!/at .*\.ts:\d+/.test(run.text), 'no stack trace');
    } finally {
      await t.close();
    }
  });
});

describe('faultline serve on PostgreSQL', async () => {
  const skip = await pgSkipReason();
  if (skip) console.log(`# skipping: ${skip}`);
  test('a run, an import and filters; the database goes away (503, runs refused) and comes back', {
    skip,
  }, async () => {
    // A role and a schema of the test's own, so the database can "go away" for this server alone.
    const scratch = await pgScratchRole('faultline_api');
    let t: TestServer | undefined;
    try {
      t = await startTestServer({ database: scratch.url() });
      const marker = join(t.dir, 'pg.marker');
      const up = await t.api('POST', '/api/experiments', {
        name: 'pg-run',
        format: 'yaml',
        source: markerExperiment(marker, { title: 'on postgres' }),
      });
      assert.equal(up.status, 201, up.text);
      const queued = await t.api('POST', '/api/runs', { experiment: 'pg-run', tags: ['pg'] });
      assert.equal(queued.status, 202, queued.text);
      const server = t;
      const run = await until(
        'the run to finish',
        async () => {
          const r = await server.api('GET', `/api/runs/${queued.body.id}`);
          return r.body.status === 'finished' ? r.body : undefined;
        },
        120_000,
      );
      assert.equal(run.verdict, 'passed', run.reason);
      assert.equal(run.journal.status, 'completed');
      assert.ok(!existsSync(marker));
      const journal = JSON.parse(await readFile(REPORT_FIXTURE, 'utf8'));
      const imported = await t.api('POST', '/api/runs/import', { journal, tags: ['pg'] });
      assert.equal(imported.status, 201);
      // PostgreSQL's text holds no NUL: the caller's 400 naming the field, not the database's 503.
      const nulTitle = structuredClone(journal);
      nulTitle.experiment.title = 'a\u0000b';
      for (const [body, field] of [
        [{ journal: nulTitle }, 'journal.experiment.title'],
        [{ journal, tags: ['x\u0000'] }, 'tags[0]'],
      ] as const) {
        const r = await t.api('POST', '/api/runs/import', body);
        assert.equal(r.status, 400, r.text);
        assert.equal(r.body.error.issues[0].path, field, r.text);
      }
      const list = await t.api('GET', '/api/runs?tags=pg');
      assert.deepEqual(
        list.body.runs.map((r: { id: string }) => r.id).sort(),
        [queued.body.id, imported.body.id].sort(),
      );
      assert.equal((await t.api('GET', `/api/runs/${queued.body.id}/report`)).status, 200);

      await scratch.disappear();
      await until(
        'health to report the database gone',
        async () => (await server.api('GET', '/api/health')).status === 503,
      );
      const refused = await t.api('POST', '/api/runs', { experiment: 'pg-run' });
      assert.equal(refused.status, 503, refused.text);
      assert.equal(refused.body.error.code, 'unhealthy');
      await scratch.comeBack();
      await until('health to recover', async () => (await server.api('GET', '/api/health')).status === 200);
      const again = await t.api('GET', `/api/runs/${queued.body.id}`);
      assert.equal(again.body.verdict, 'passed', 'the finished run is still there');
      assert.equal((await t.api('POST', '/api/runs', { experiment: 'pg-run' })).status, 202);
      await until(
        'the second run to finish',
        async () => {
          const r = await server.api('GET', '/api/runs?experiment=pg-run&status=finished');
          return r.body.runs.length === 2;
        },
        120_000,
      );
    } finally {
      await t?.close();
      await scratch.drop().catch(() => {});
    }
  });
});
