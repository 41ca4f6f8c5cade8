/**
 * The control plane's store (issue #17) on real databases: the same suite against a SQLite file in a
 * temp directory and against the PostgreSQL on this machine (127.0.0.1:5432, database `test`), where it
 * runs as a role and in a schema of its own (created here, dropped at the end) so it can make the
 * database "disappear" for itself alone: NOLOGIN plus pg_terminate_backend, then LOGIN again. The
 * PostgreSQL half skips, saying why, when that server cannot be reached.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { type Kysely, Migrator } from 'kysely';
import { FaultlineError } from '../../src/core/errors.js';
import { connect } from '../../src/server/db/connect.js';
import { openStore, parseDatabase } from '../../src/server/db/index.js';
import { migrationProvider } from '../../src/server/db/migrations/index.js';
import type { Run, RunFilter, Store } from '../../src/server/store.js';
import { pgExec, pgScratchRole, pgSkipReason } from '../helpers/pg.js';
import { RECOVERED, SAFEGUARD_TRIP } from '../helpers/trend-journals.js';
import { until } from '../helpers/until.js';

const PASSWORD = 's3cret';
const execFileP = promisify(execFile);

interface Backend {
  /** A URL or path for openStore; every call opens another store on the same database. */
  database: string;
  /** Another, empty database of the same kind (removed by cleanup). */
  fresh(): Promise<string>;
  /** Runs SQL on `database` directly, not through the store. */
  exec(text: string): Promise<void>;
  /** Makes the database unusable for the store, and back. */
  disappear(): Promise<void>;
  comeBack(): Promise<void>;
  cleanup(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend & { dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'faultline-store-'));
  const file = join(dir, 'faultline.db');
  let n = 0;
  return {
    dir,
    file,
    database: `sqlite://${file}`,
    fresh: async () => `sqlite://${join(dir, `fresh-${++n}.db`)}`,
    async exec(text) {
      const db = new BetterSqlite3(file);
      try {
        db.exec(text);
      } finally {
        db.close();
      }
    },
    // An open SQLite handle keeps working on a moved file: the store must notice the file is gone.
    disappear: () => rename(file, `${file}.moved`),
    comeBack: () => rename(`${file}.moved`, file),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

async function postgresBackend(): Promise<Backend & { role: string }> {
  const scratch = await pgScratchRole('faultline_test');
  const { role } = scratch;
  // trust auth ignores the password; it is here so the tests can check it never shows.
  const database = scratch.url(PASSWORD);
  let n = 0;
  return {
    role,
    database,
    async fresh() {
      const schema = `${role}_f${++n}`;
      await pgExec(`create schema ${schema} authorization ${role}`);
      return `${database}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    },
    exec: (text) => pgExec(text, database),
    disappear: scratch.disappear,
    comeBack: scratch.comeBack,
    cleanup: scratch.drop,
  };
}

function assertStoreError(err: unknown, backend: Backend): true {
  assert.ok(err instanceof FaultlineError, `expected a FaultlineError, got ${String(err)}`);
  assert.equal(err.code, 'FAULTLINE_ERR_STORE');
  assert.ok(!err.message.includes(PASSWORD), `the password leaked: ${err.message}`);
  assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
  assert.ok(err.message.includes(backend.database.replace(`:${PASSWORD}`, '').replace('sqlite://', '')));
  return true;
}

const byNewest = (a: Run, b: Run) =>
  a.requestedAt === b.requestedAt ? (a.id < b.id ? 1 : -1) : a.requestedAt < b.requestedAt ? 1 : -1;

async function listAll(
  store: Store,
  filter: RunFilter,
  limit: number,
): Promise<{ runs: Run[]; pages: number }> {
  const runs: Run[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await store.listRuns({ ...filter, limit, ...(cursor ? { cursor } : {}) });
    pages++;
    assert.ok(page.runs.length <= limit);
    runs.push(...page.runs);
    if (!page.next) return { runs, pages };
    assert.equal(page.runs.length, limit, 'a page with a next cursor is full');
    cursor = page.next;
  }
}

function storeSuite(name: string, make: () => Promise<Backend>, skip?: string): void {
  describe(name, { skip }, () => {
    let backend: Backend;
    let store: Store;
    const opened: Store[] = [];
    const open = async () => {
      const s = await openStore({ database: backend.database, home: '/nonexistent-home-unused' });
      opened.push(s);
      return s;
    };

    before(async () => {
      backend = await make();
      store = await open();
    });
    after(async () => {
      for (const s of opened) await s.close().catch(() => undefined);
      await backend?.cleanup();
    });

    test('migrations: applied once, a second open and a second migrate apply nothing', async () => {
      assert.deepEqual(await store.migrate(), { applied: [] });
      const again = await open();
      assert.deepEqual(await again.migrate(), { applied: [] });
      assert.ok(!again.describe.includes(PASSWORD), again.describe);
      assert.deepEqual(await again.health(), { ok: true });
    });

    test('two servers starting at once on a new database: one applies the migrations, all open it', async () => {
      const database = await backend.fresh();
      const script = `
        const { openStore } = await import(${JSON.stringify(new URL('../../src/server/db/index.ts', import.meta.url).href)});
        const s = await openStore({ database: process.env.DB, home: '/nonexistent-home-unused' });
        const again = await s.migrate();
        process.stdout.write(JSON.stringify({ health: await s.health(), again }));
        await s.close();`;
      const children = Array.from({ length: 3 }, () =>
        execFileP(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          env: { ...process.env, DB: database },
          timeout: 120_000,
        }),
      );
      const outs = (await Promise.all(children)).map((r) => JSON.parse(r.stdout));
      for (const o of outs) assert.deepEqual(o, { health: { ok: true }, again: { applied: [] } });
      const s = await openStore({ database, home: '/nonexistent-home-unused' });
      opened.push(s);
      assert.deepEqual(await s.migrate(), { applied: [] });
      await s.createRun({ title: 'x', tags: ['a'], origin: 'server', requestedBy: 'me' });
      assert.equal((await s.listRuns({ tags: ['a'] })).runs.length, 1);
    });

    test('migration 0004 fills the facts and target labels of runs stored before it', async () => {
      const database = await backend.fresh();
      // The database as the release before 0004 left it, with finished runs in it.
      const c = await connect(parseDatabase(database, '/nonexistent-home-unused'));
      try {
        const migrator = new Migrator({
          db: c.db,
          provider: migrationProvider(c.kind),
          ...(c.migrationSchema ? { migrationTableSchema: c.migrationSchema } : {}),
        });
        const { error } = await migrator.migrateTo('0003-halt');
        assert.equal(error, undefined);
        const row = (id: string, journal: unknown) => ({
          id,
          experiment: 'old',
          experiment_version: 1,
          title: 'old',
          tags: '[]',
          origin: 'push',
          status: 'finished',
          verdict: 'passed',
          reason: null,
          requested_at: `2026-01-01T00:00:0${id.slice(-1)}.000Z`,
          started_at: null,
          finished_at: null,
          requested_by: 'ci',
          claimed_by: null,
          duration: null,
          journal: journal === undefined ? null : JSON.stringify(journal),
        });
        const old = [
          row('00000000-0000-4000-8000-000000000001', RECOVERED),
          row('00000000-0000-4000-8000-000000000002', SAFEGUARD_TRIP),
          row('00000000-0000-4000-8000-000000000003', undefined),
          row('00000000-0000-4000-8000-000000000004', { status: 'completed' }),
        ];
        // Straight into the table as 0001 made it: the Database type already has 0004's columns.
        await (c.db as unknown as Kysely<any>).insertInto('runs').values(old).execute();
      } finally {
        await c.db.destroy();
      }
      const s = await openStore({ database, home: '/nonexistent-home-unused' });
      opened.push(s);
      assert.deepEqual((await s.migrate()).applied, []);
      const facts = async (id: string) => {
        const { faults, targets, recoveryMs, safeguardBreached, unreverted } = (await s.getRun(id)) as Run;
        return { faults, targets, recoveryMs, safeguardBreached, unreverted };
      };
      assert.deepEqual(await facts('00000000-0000-4000-8000-000000000001'), {
        faults: 1,
        targets: 1,
        recoveryMs: 1018,
        safeguardBreached: false,
        unreverted: 0,
      });
      assert.deepEqual(await facts('00000000-0000-4000-8000-000000000002'), {
        faults: 1,
        targets: 1,
        recoveryMs: 1012,
        safeguardBreached: true,
        unreverted: 0,
      });
      assert.deepEqual(await facts('00000000-0000-4000-8000-000000000003'), {
        faults: undefined,
        targets: undefined,
        recoveryMs: undefined,
        safeguardBreached: undefined,
        unreverted: undefined,
      });
      assert.equal((await facts('00000000-0000-4000-8000-000000000004')).faults, 0);
      assert.deepEqual(
        (await s.listRuns({ target: 'file:/tmp/rich/degraded' })).runs.map((r) => r.id),
        ['00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001'],
      );
      // A journal stored later replaces the labels of the run.
      await s.updateRun('00000000-0000-4000-8000-000000000001', { journal: { status: 'completed' } });
      assert.deepEqual(
        (await s.listRuns({ target: '/tmp/rich/degraded' })).runs.map((r) => r.id),
        ['00000000-0000-4000-8000-000000000002'],
      );
      assert.equal((await s.getRun('00000000-0000-4000-8000-000000000001'))?.recoveryMs, undefined);
    });

    test('experiments: versions, an identical upload makes no new version, concurrent uploads', async () => {
      const base = { name: 'checkout', format: 'json' as const, tags: ['web'], createdBy: 'ana' };
      const v1 = await store.putExperiment({ ...base, title: 'one', source: '{"title":"one"}' });
      assert.equal(v1.created, true);
      assert.equal(v1.experiment.version, 1);
      assert.match(v1.experiment.sha256, /^[0-9a-f]{64}$/);
      const same = await store.putExperiment({ ...base, title: 'one', source: '{"title":"one"}' });
      assert.deepEqual(same, { experiment: v1.experiment, created: false });
      const v2 = await store.putExperiment({
        ...base,
        title: 'two',
        tags: ['web', 'db'],
        source: '{"title":"two"}',
      });
      assert.equal(v2.experiment.version, 2);
      // Back to the first text: a new version (only the latest is compared).
      const v3 = await store.putExperiment({ ...base, title: 'one', source: '{"title":"one"}' });
      assert.equal(v3.experiment.version, 3);
      assert.equal(v3.created, true);

      assert.deepEqual(await store.getExperiment('checkout'), v3.experiment);
      assert.deepEqual(await store.getExperiment('checkout', 2), v2.experiment);
      assert.equal(await store.getExperiment('checkout', 9), undefined);
      assert.equal(await store.getExperiment('nothing'), undefined);
      const versions = await store.listExperimentVersions('checkout');
      assert.deepEqual(
        versions.map((v) => [v.version, v.title, 'source' in v]),
        [
          [1, 'one', false],
          [2, 'two', false],
          [3, 'one', false],
        ],
      );
      await store.putExperiment({
        ...base,
        name: 'aaa-first',
        title: 'A',
        source: 'title: A\n',
        format: 'yaml',
      });
      const list = await store.listExperiments();
      assert.deepEqual(
        list.map((e) => [e.name, e.version, e.versions, e.format, 'source' in e]),
        [
          ['aaa-first', 1, 1, 'yaml', false],
          ['checkout', 3, 3, 'json', false],
        ],
      );

      // Two servers uploading under one name at once: every upload gets its own version, none lost.
      const other = await open();
      const uploads = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? store : other).putExperiment({
            ...base,
            name: 'raced',
            title: `r${i}`,
            source: `{"i":${i}}`,
          }),
        ),
      );
      assert.deepEqual(
        uploads.map((u) => u.experiment.version).sort((a, b) => a - b),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
    });

    test('runs: create, claim, update, get; a pushed run arrives finished with its journal', async () => {
      while (await store.claimQueuedRun('drain')) {
        /* runs other tests queued */
      }
      const run = await store.createRun({
        experiment: 'checkout',
        experimentVersion: 3,
        title: 'checkout survives',
        tags: ['web', 'web', 'nightly'],
        origin: 'server',
        requestedBy: 'ana',
      });
      assert.equal(run.status, 'queued');
      assert.deepEqual(run.tags, ['web', 'nightly']);
      assert.equal(run.claimedBy, undefined);
      const claimed = await store.claimQueuedRun('server-a');
      assert.equal(claimed?.id, run.id);
      assert.equal(claimed?.status, 'running');
      assert.equal(claimed?.claimedBy, 'server-a');
      assert.ok(claimed?.startedAt);
      assert.equal(await store.claimQueuedRun('server-b'), undefined);

      // Stored as written: key order kept, a NUL from a process's output kept.
      const journal = {
        status: 'completed',
        zeta: 1,
        alpha: 2,
        run: [{ activity: { name: 'kill' }, output: 'ünïcode ✓ \u0000 end', n: 1.5 }],
      };
      const finished = await store.updateRun(run.id, {
        status: 'finished',
        verdict: 'deviated',
        reason: 'p99 over 200 ms',
        finishedAt: new Date().toISOString(),
        duration: 12.25,
        journal,
      });
      assert.equal(finished?.status, 'finished');
      assert.equal(finished?.verdict, 'deviated');
      assert.equal(finished?.duration, 12.25);
      assert.equal('journal' in (finished ?? {}), false, 'updates return the run without its journal');
      const got = await store.getRun(run.id);
      assert.equal(JSON.stringify(got?.journal), JSON.stringify(journal));
      assert.equal(got?.experimentVersion, 3);
      assert.equal(got?.reason, 'p99 over 200 ms');
      assert.deepEqual(await store.updateRun(run.id, {}), finished);
      assert.equal(
        await store.updateRun('00000000-0000-4000-8000-000000000000', { status: 'finished' }),
        undefined,
      );
      assert.equal(await store.getRun('00000000-0000-4000-8000-000000000000'), undefined);

      const pushed = await store.createRun({
        title: 'from CI',
        tags: [],
        origin: 'push',
        requestedBy: 'token:ci',
        finished: {
          verdict: 'passed',
          startedAt: '2026-01-01T00:00:00.000Z',
          finishedAt: '2026-01-01T00:01:00.000Z',
          duration: 60,
          journal: { status: 'completed' },
        },
      });
      assert.equal(pushed.status, 'finished');
      assert.equal(pushed.experiment, undefined);
      assert.deepEqual((await store.getRun(pushed.id))?.journal, { status: 'completed' });
      assert.equal(await store.claimQueuedRun('server-b'), undefined, 'a pushed run is never queued');
    });

    test('listRuns: every filter, newest first, pages across a few hundred runs', async () => {
      const experiments = ['alpha', 'beta', 'gamma'];
      const verdicts = ['passed', 'deviated', 'failed'] as const;
      for (let i = 0; i < 300; i++) {
        const r = await store.createRun({
          experiment: experiments[i % 3],
          title: `run ${i}`,
          tags: [`t${i % 4}`, ...(i % 5 === 0 ? ['five'] : [])],
          origin: 'server',
          requestedBy: i % 7 === 0 ? 'bob' : 'ana',
        });
        if (i % 2 === 0) {
          await store.updateRun(r.id, { status: 'finished', verdict: verdicts[i % 3] });
        }
      }
      const all = await listAll(store, {}, 41);
      assert.ok(all.runs.length >= 300);
      assert.ok(all.pages >= 8);
      assert.deepEqual(all.runs, [...all.runs].sort(byNewest), 'newest first, (requestedAt, id) desc');
      assert.equal(new Set(all.runs.map((r) => r.id)).size, all.runs.length, 'no run on two pages');
      assert.deepEqual((await store.listRuns({})).runs, all.runs.slice(0, 50), 'default page: 50');

      const mid = all.runs[200]?.requestedAt as string;
      const late = all.runs[40]?.requestedAt as string;
      const cases: [RunFilter, (r: Run) => boolean][] = [
        [{ experiment: 'beta' }, (r) => r.experiment === 'beta'],
        [{ status: 'queued' }, (r) => r.status === 'queued'],
        [{ status: 'finished' }, (r) => r.status === 'finished'],
        [{ verdict: 'failed' }, (r) => r.verdict === 'failed'],
        [
          { experiment: 'gamma', verdict: 'passed' },
          (r) => r.experiment === 'gamma' && r.verdict === 'passed',
        ],
        [{ tags: ['t1'] }, (r) => r.tags.includes('t1')],
        [{ tags: ['t0', 'five'] }, (r) => r.tags.includes('t0') && r.tags.includes('five')],
        [{ tags: ['t0', 't1'] }, () => false],
        [{ requestedBy: 'bob' }, (r) => r.requestedBy === 'bob'],
        [{ from: mid }, (r) => r.requestedAt >= mid],
        [{ to: mid }, (r) => r.requestedAt < mid],
        [
          { from: mid, to: late, experiment: 'alpha' },
          (r) => r.requestedAt >= mid && r.requestedAt < late && r.experiment === 'alpha',
        ],
        [{ experiment: 'nothing' }, () => false],
      ];
      for (const [filter, keep] of cases) {
        const expected = all.runs.filter(keep);
        const got = await listAll(store, filter, 17);
        assert.deepEqual(
          got.runs.map((r) => r.id),
          expected.map((r) => r.id),
          `filter ${JSON.stringify(filter)}`,
        );
      }
      // A date range written with an offset means the same instant.
      const midPlus2 = new Date(Date.parse(mid) + 2 * 3600_000).toISOString().replace('Z', '+02:00');
      assert.deepEqual(
        (await listAll(store, { from: midPlus2 }, 100)).runs.map((r) => r.id),
        all.runs.filter((r) => r.requestedAt >= mid).map((r) => r.id),
      );

      await assert.rejects(store.listRuns({ cursor: 'not-a-cursor!' }), (err: FaultlineError) => {
        assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
        assert.match(err.message, /^cursor: /);
        return true;
      });
      await assert.rejects(store.listRuns({ limit: 501 }), (err: FaultlineError) => {
        assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
        assert.match(err.message, /^limit: /);
        return true;
      });
    });

    test('claimQueuedRun: stores in this process and in two others racing claim every run exactly once', async (t) => {
      while (await store.claimQueuedRun('drain')) {
        /* queued runs of the previous tests */
      }
      const created = new Set<string>();
      for (let i = 0; i < 300; i++) {
        created.add(
          (await store.createRun({ title: `q${i}`, tags: [], origin: 'server', requestedBy: 'ana' })).id,
        );
      }
      // Two more servers as processes of their own (for SQLite, the only way two writers really race:
      // stores of one process take turns), released together with this process's workers.
      const script = `
        const { openStore } = await import(${JSON.stringify(new URL('../../src/server/db/index.ts', import.meta.url).href)});
        const s = await openStore({ database: process.env.DB, home: '/nonexistent-home-unused' });
        process.stdout.write('ready\\n');
        await new Promise((r) => process.stdin.once('data', r));
        const ids = [];
        const worker = async () => { for (let r; (r = await s.claimQueuedRun(process.env.NAME)); ) ids.push(r.id); };
        await Promise.all([worker(), worker()]);
        await s.close();
        process.stdout.write(JSON.stringify(ids) + '\\n');`;
      const children = ['server-c', 'server-d'].map((name) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          env: { ...process.env, DB: backend.database, NAME: name },
          stdio: ['pipe', 'pipe', 'inherit'],
        });
        t.after(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
        });
        const exited = once(child, 'exit');
        return { name, child, exited, out: () => out };
      });
      await until('the claiming processes to open the store', () =>
        children.every((c) => c.out().startsWith('ready\n')),
      );
      const other = await open();
      const claims: [server: string, id: string][] = [];
      const worker = async (s: Store, server: string) => {
        for (;;) {
          const run = await s.claimQueuedRun(server);
          if (!run) return;
          assert.equal(run.claimedBy, server);
          assert.equal(run.status, 'running');
          claims.push([server, run.id]);
        }
      };
      for (const c of children) c.child.stdin?.end('go\n');
      await Promise.all([
        worker(store, 'server-a'),
        worker(store, 'server-a'),
        worker(other, 'server-b'),
        worker(other, 'server-b'),
        ...children.map(async (c) => {
          const [code] = await c.exited;
          assert.equal(code, 0, `${c.name} exited ${code}`);
          const ids = JSON.parse(c.out().slice('ready\n'.length)) as string[];
          for (const id of ids) claims.push([c.name, id]);
        }),
      ]);
      const ids = claims.map(([, id]) => id);
      const per = new Map<string, number>();
      for (const [server] of claims) per.set(server, (per.get(server) ?? 0) + 1);
      t.diagnostic(`claims: ${[...per].map(([k, v]) => `${k} ${v}`).join(', ')}`);
      assert.equal(new Set(ids).size, ids.length, 'no run claimed twice');
      assert.deepEqual(new Set(ids), created, 'every queued run claimed');
      for (const [server, id] of claims) {
        assert.equal((await store.getRun(id))?.claimedBy, server);
      }
    });

    test('interruptRunsOf: the running runs of one server only', async () => {
      while (await store.claimQueuedRun('drain')) {
        /* empty the queue so the next claims take these runs */
      }
      const mk = () =>
        store.createRun({ title: 'i', tags: ['interrupt'], origin: 'server', requestedBy: 'ana' });
      const a1 = await mk();
      const a2 = await mk();
      const b1 = await mk();
      const a3 = await mk();
      assert.equal((await store.claimQueuedRun('killed-server'))?.id, a1.id);
      assert.equal((await store.claimQueuedRun('killed-server'))?.id, a2.id);
      assert.equal((await store.claimQueuedRun('other-server'))?.id, b1.id);
      assert.equal((await store.claimQueuedRun('killed-server'))?.id, a3.id);
      await store.updateRun(a3.id, { status: 'finished', verdict: 'passed' });

      const interrupted = await store.interruptRunsOf('killed-server', 'the server was killed mid-run');
      assert.deepEqual(
        interrupted.map((r) => r.id),
        [a1.id, a2.id],
      );
      for (const r of interrupted) {
        assert.equal(r.status, 'interrupted');
        assert.equal(r.verdict, 'interrupted');
        assert.equal(r.reason, 'the server was killed mid-run');
        assert.ok(r.finishedAt);
      }
      assert.equal((await store.getRun(b1.id))?.status, 'running');
      assert.equal((await store.getRun(a3.id))?.status, 'finished');
      assert.deepEqual(await store.interruptRunsOf('killed-server', 'again'), []);
    });

    test('audit log: appended, listed newest first, paged by id', async () => {
      const first = await store.audit({ actor: 'ana', action: 'experiment.upload', subject: 'checkout' });
      const entries = [first];
      for (let i = 0; i < 5; i++) {
        entries.push(
          await store.audit({
            actor: 'bob',
            action: 'run.start',
            subject: `run-${i}`,
            detail: { i, nested: { ok: true } },
          }),
        );
      }
      assert.equal(first.subject, 'checkout');
      assert.equal(first.detail, undefined);
      for (let i = 1; i < entries.length; i++) {
        assert.ok((entries[i]?.id as number) > (entries[i - 1]?.id as number), 'ids increase');
      }
      const newest = await store.listAudit({ limit: 2 });
      assert.deepEqual(newest, entries.slice(-2).reverse());
      const older = await store.listAudit({ limit: 3, before: newest[1]?.id as number });
      assert.deepEqual(older, entries.slice(-5, -2).reverse());
      assert.deepEqual((await store.listAudit()).slice(0, 6), [...entries].reverse());
      // The database refuses to rewrite history, whoever asks.
      await assert.rejects(
        backend.exec(`update audit_log set actor = 'mallory' where id = ${first.id}`),
        /append-only/,
      );
      await assert.rejects(backend.exec(`delete from audit_log where id = ${first.id}`), /append-only/);
      assert.deepEqual((await store.listAudit({ limit: 1000 })).at(-1)?.actor, 'ana');
    });

    test('a database that disappears: health false, errors name it without the password, then back', async () => {
      const keep = await store.createRun({
        title: 'finished before the outage',
        tags: [],
        origin: 'push',
        requestedBy: 'ci',
        finished: {
          verdict: 'passed',
          startedAt: '2026-01-01T00:00:00Z',
          finishedAt: '2026-01-01T00:00:01Z',
          journal: { kept: true },
        },
      });
      assert.deepEqual(await store.health(), { ok: true });
      await backend.disappear();
      let back = false;
      try {
        const down = await until('health to report the database gone', async () => {
          const h = await store.health();
          return h.ok ? undefined : h;
        });
        assert.ok(!down.error.includes(PASSWORD), down.error);
        assert.ok(down.error.length > 0);
        if (name === 'postgres') {
          await assert.rejects(store.listRuns({}), (err) => assertStoreError(err, backend));
          await assert.rejects(
            openStore({ database: backend.database, home: '/nonexistent-home-unused' }),
            (err) => assertStoreError(err, backend),
          );
        }
        await backend.comeBack();
        back = true;
      } finally {
        if (!back) await backend.comeBack();
      }
      await until('health to recover', async () => (await store.health()).ok);
      assert.deepEqual((await store.getRun(keep.id))?.journal, { kept: true });
    });
  });
}

describe('server store', () => {
  storeSuite('sqlite', sqliteBackend);
});

const pgSkip = await pgSkipReason();
if (pgSkip) console.log(`# skipping the PostgreSQL store tests: ${pgSkip}`);
describe('server store', () => {
  storeSuite('postgres', postgresBackend, pgSkip);
});

describe('server store: opening', () => {
  test('SQLite by default in the home, the file 0600, WAL', async (t) => {
    const home = join(await mkdtemp(join(tmpdir(), 'faultline-store-home-')), 'home');
    t.after(() => rm(join(home, '..'), { recursive: true, force: true }));
    const store = await openStore({ home });
    t.after(() => store.close());
    assert.equal(store.describe, `sqlite ${join(home, 'faultline.db')}`);
    assert.equal((await stat(join(home, 'faultline.db'))).mode & 0o777, 0o600);
    assert.equal((await stat(home)).mode & 0o777, 0o700);
    await store.createRun({ title: 'x', tags: [], origin: 'server', requestedBy: 'me' });
    assert.equal((await stat(join(home, 'faultline.db-wal'))).mode & 0o777, 0o600);
    // The same file made writable by others is refused at the next open.
    const { chmod } = await import('node:fs/promises');
    await chmod(join(home, 'faultline.db'), 0o666);
    await assert.rejects(openStore({ home }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_STORE');
      assert.match(
        err.message,
        /untrusted Faultline home: .*faultline\.db is writable by its group and every user/,
      );
      return true;
    });
  });

  test('SQLite: a home another user could write is refused', async (t) => {
    const home = await mkdtemp(join(tmpdir(), 'faultline-store-home-'));
    t.after(() => rm(home, { recursive: true, force: true }));
    const { chmod } = await import('node:fs/promises');
    await chmod(home, 0o777);
    await assert.rejects(openStore({ home }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_STORE');
      assert.match(err.message, /untrusted Faultline home: .* writable by/);
      return true;
    });
  });

  test('SQLite: a missing directory, a directory, a file that is not a database', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'faultline-store-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const home = join(dir, 'home');
    await assert.rejects(openStore({ home, database: join(dir, 'nope', 'f.db') }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_STORE');
      assert.equal(
        err.message,
        `cannot open sqlite ${join(dir, 'nope', 'f.db')}: the directory ${join(dir, 'nope')} does not exist; create it, or pass another --database`,
      );
      return true;
    });
    await assert.rejects(openStore({ home, database: `sqlite://${dir}` }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_STORE');
      assert.match(err.message, /is not a regular file/);
      return true;
    });
    const junk = join(dir, 'junk.db');
    await writeFile(
      junk,
      'this is not a database, just text that is long enough to have a header'.repeat(20),
    );
    await assert.rejects(openStore({ home, database: junk }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_STORE');
      assert.match(
        err.message,
        /^opening the database failed on sqlite .*junk\.db: file is not a database; the file is not a Faultline database/,
      );
      return true;
    });
    assert.match(await readFile(junk, 'utf8'), /^this is not a database/, 'the file is left as it was');
    await assert.rejects(openStore({ home, database: 'mysql://u:pw@h/db' }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
      assert.ok(!err.message.includes('pw'), err.message);
      return true;
    });
  });

  // Root writes through permissions, but not into an immutable directory (chattr +i): the same refusal.
  const asRoot = process.getuid?.() === 0;
  const noChattr =
    asRoot && spawnSync('chattr', ['--help']).error ? 'chattr is missing (Debian: e2fsprogs)' : false;
  test('SQLite: a directory this user cannot write', { skip: noChattr }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'faultline-store-'));
    const { chmod } = await import('node:fs/promises');
    t.after(async () => {
      if (asRoot) spawnSync('chattr', ['-i', dir]);
      await chmod(dir, 0o700);
      await rm(dir, { recursive: true, force: true });
    });
    if (asRoot) {
      const r = spawnSync('chattr', ['+i', dir], { encoding: 'utf8' });
      if (r.status !== 0) return t.skip(`chattr +i is not supported here: ${r.stderr.trim()}`);
    } else await chmod(dir, 0o500);
    await assert.rejects(
      openStore({ home: dir, database: join(dir, 'f.db') }),
      /is not writable by this user/,
    );
  });

  test('PostgreSQL: a refused connection and a missing database, without the password', {
    skip: pgSkip,
  }, async () => {
    const refused = `postgres://postgres:${PASSWORD}@127.0.0.1:1/test`;
    await assert.rejects(openStore({ home: '/unused', database: refused }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_STORE');
      assert.ok(!err.message.includes(PASSWORD), err.message);
      assert.match(
        err.message,
        /^connecting failed on postgres postgres:\/\/postgres@127\.0\.0\.1:1\/test: .*ECONNREFUSED.*; check that the database server is running/,
      );
      return true;
    });
    const missing = `postgres://postgres:${PASSWORD}@127.0.0.1:5432/faultline_no_such_db_${process.pid}`;
    await assert.rejects(openStore({ home: '/unused', database: missing }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_STORE');
      assert.ok(!err.message.includes(PASSWORD), err.message);
      assert.match(err.message, /does not exist; create the database/);
      return true;
    });
  });
});
