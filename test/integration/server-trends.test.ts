/**
 * History through the API (issue #17 item 4) on both databases (a SQLite file, and a scratch schema of
 * the PostgreSQL at 127.0.0.1:5432): a real run's facts and the `target` filter, journals with known
 * facts pushed and moved to known days, trends with exact success rates, recovery median/p90 and
 * scores, their errors, and the comparison of two runs (its errors and its answer).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { pgExec, pgScratchRole, pgSkipReason } from '../helpers/pg.js';
import { markerExperiment, startTestServer, type TestServer } from '../helpers/serve.js';
import { journalWith } from '../helpers/trend-journals.js';
import { until } from '../helpers/until.js';

interface Db {
  /** For startTestServer: a postgres URL, or undefined for its SQLite file. */
  database?: string;
  /** Runs SQL on the server's database, beside the server. */
  exec(t: TestServer, text: string): Promise<void>;
  cleanup(): Promise<void>;
}

const sqliteDb = async (): Promise<Db> => ({
  async exec(t, text) {
    const db = new BetterSqlite3(join(t.dir, 'faultline.db'), { timeout: 5000 });
    try {
      db.exec(text);
    } finally {
      db.close();
    }
  },
  cleanup: async () => undefined,
});

const postgresDb = async (): Promise<Db> => {
  const scratch = await pgScratchRole('faultline_trends');
  return {
    database: scratch.url(),
    exec: (_t, text) => pgExec(text, scratch.url()),
    cleanup: scratch.drop,
  };
};

const DAY = 86_400_000;

function suite(name: string, make: () => Promise<Db>, skip?: string) {
  describe(`history and trends (${name})`, { skip }, () => {
    let db: Db;
    let t: TestServer;
    before(async () => {
      db = await make();
      t = await startTestServer(db.database ? { database: db.database } : {});
    });
    after(async () => {
      await t?.close();
      await db?.cleanup();
    });

    const push = async (journal: unknown, extra: Record<string, unknown> = {}) => {
      const r = await t.api('POST', '/api/runs/import', { journal, ...extra });
      assert.equal(r.status, 201, r.text);
      return r.body as { id: string; verdict: string };
    };
    /** Moves runs to a known time (the store stamps them with now), their label rows with them. */
    const moveTo = async (ids: string[], at: string) => {
      const list = ids.map((id) => `'${id}'`).join(', ');
      for (const table of ['runs', 'run_targets', 'run_tags'])
        await db.exec(
          t,
          `update ${table} set requested_at = '${at}' where ${table === 'runs' ? 'id' : 'run_id'} in (${list})`,
        );
    };
    const ids = (body: { runs: { id: string }[] }) => body.runs.map((r) => r.id);

    test("a real run's journal gives its facts; the target filter finds it by each label", async () => {
      const marker = join(t.dir, 'facts.marker');
      const up = await t.api('POST', '/api/experiments', {
        name: 'facts',
        format: 'yaml',
        source: markerExperiment(marker, { title: 'facts' }),
      });
      assert.equal(up.status, 201, up.text);
      const started = await t.api('POST', '/api/runs', { experiment: 'facts' });
      assert.equal(started.status, 202, started.text);
      const run = await until(
        'the run to end',
        async () => {
          const r = await t.api('GET', `/api/runs/${started.body.id}`);
          return r.body.status === 'finished' ? r.body : undefined;
        },
        120_000,
      );
      assert.equal(run.verdict, 'passed', JSON.stringify(run.reason));
      assert.equal(run.faults, 1);
      assert.equal(run.targets, 1);
      assert.equal(run.safeguardBreached, false);
      assert.equal(run.unreverted, 0);
      assert.equal(run.recoveryMs, undefined, 'the experiment does not measure recovery');
      for (const label of [marker, `marker-file:${marker}`, `file:${marker}`]) {
        const found = await t.api('GET', `/api/runs?target=${encodeURIComponent(label)}`);
        assert.equal(found.status, 200, found.text);
        assert.deepEqual(ids(found.body), [run.id], label);
      }
      const other = await t.api('GET', `/api/runs?target=${encodeURIComponent(`${marker}.other`)}`);
      assert.deepEqual(ids(other.body), []);
      const empty = await t.api('GET', '/api/runs?target=');
      assert.equal(empty.status, 400);
      assert.equal(empty.body.error.issues[0].path, 'query.target');
    });

    test('the target filter pages newest first, and combines with tags, experiment and verdict', async () => {
      const nginx = (host: string) => ({
        kind: 'process-stop',
        target: 'nginx',
        targets: [{ type: 'process', name: 'nginx', host, labels: { app: 'shop' } }],
      });
      const made: { id: string; host: string; tag: string; verdict: string }[] = [];
      for (let i = 0; i < 12; i++) {
        const host = i % 3 === 0 ? 'web-1' : 'web-2';
        const tag = i % 2 === 0 ? 'even' : 'odd';
        const r = await push(
          journalWith({ title: 'filters', faults: [nginx(host)], deviated: i % 4 === 0 }),
          {
            experiment: 'filters',
            tags: [tag],
          },
        );
        made.push({ id: r.id, host, tag, verdict: r.verdict });
      }
      const newest = [...made].reverse();
      const all = async (query: string) => {
        const out: string[] = [];
        let cursor: string | undefined;
        do {
          const r = await t.api('GET', `/api/runs?limit=2&${query}${cursor ? `&cursor=${cursor}` : ''}`);
          assert.equal(r.status, 200, r.text);
          out.push(...ids(r.body));
          cursor = r.body.next;
        } while (cursor);
        return out;
      };
      assert.deepEqual(
        await all('target=web-1'),
        newest.filter((m) => m.host === 'web-1').map((m) => m.id),
      );
      assert.deepEqual(
        await all('target=app%3Dshop'),
        newest.map((m) => m.id),
      );
      assert.deepEqual(
        await all('target=web-2&tags=even'),
        newest.filter((m) => m.host === 'web-2' && m.tag === 'even').map((m) => m.id),
      );
      assert.deepEqual(
        await all('target=process%3Anginx&experiment=filters&verdict=deviated'),
        newest.filter((m) => m.verdict === 'deviated').map((m) => m.id),
      );
      assert.ok(newest.some((m) => m.verdict === 'deviated'));
    });

    test('trends with known inputs: success rate, recovery median/p90, blast radius, score, per day', async () => {
      const base = Date.parse('2026-03-10T00:00:00Z');
      const dayOne = new Date(base + DAY + 3_600_000).toISOString();
      const dayTwo = new Date(base + 2 * DAY + 7_200_000).toISOString();
      const two = [
        { kind: 'marker-file', target: '/tmp/a' },
        { kind: 'marker-file', target: '/tmp/b' },
      ];
      const first = [
        await push(journalWith({ mttr: 1 }), { experiment: 'known' }),
        await push(journalWith({ mttr: 2 }), { experiment: 'known' }),
        await push(journalWith({ mttr: 3 }), { experiment: 'known' }),
      ];
      const refusedJournal = journalWith({ mttr: 1 });
      refusedJournal.faultline.blast_radius = { policies: [], violation: 'max_targets 0 exceeded' };
      const second = [
        await push(journalWith({ mttr: null }), { experiment: 'known' }),
        await push(journalWith({ unreverted: true }), { experiment: 'known' }),
        await push(journalWith({ mttr: 10, faults: two }), { experiment: 'known' }),
        await push(refusedJournal, { experiment: 'known' }),
      ];
      assert.deepEqual(
        [...first, ...second].map((r) => r.verdict),
        ['passed', 'passed', 'passed', 'deviated', 'failed', 'passed', 'refused'],
      );
      await moveTo(
        first.map((r) => r.id),
        dayOne,
      );
      await moveTo(
        second.map((r) => r.id),
        dayTwo,
      );
      // A pushed run with no stored experiment goes by its title, on day two too.
      const loose = await push(journalWith({ title: 'nightly from CI', mttr: 4 }));
      await moveTo([loose.id], dayTwo);

      const from = new Date(base).toISOString();
      const to = new Date(base + 3 * DAY).toISOString();
      const r = await t.api('GET', `/api/trends?experiment=known&from=${from}&to=${to}&bucket=day`);
      assert.equal(r.status, 200, r.text);
      const k = r.body;
      assert.equal(k.bucket, 'day');
      assert.equal(k.from, from);
      assert.equal(k.overall.runs, 6, 'the refused run is not counted');
      assert.equal(k.overall.passed, 4);
      assert.equal(k.overall.successRate, 4 / 6);
      assert.deepEqual(k.overall.verdicts, {
        passed: 4,
        deviated: 1,
        failed: 1,
        aborted: 0,
        interrupted: 0,
        refused: 1,
      });
      // Recoveries 1, 2, 3 and 10 s: median between 2 and 3; p90 at 2.7 of 0..3, 3 + 0.7 x 7.
      assert.deepEqual(k.overall.recoveryMs, { median: 2500, p90: 7900, samples: 4 });
      assert.deepEqual(k.overall.blastRadius, { faults: 1.167, targets: 1.167, maxTargets: 2 });
      assert.equal(k.overall.leftFaults, 1);
      assert.equal(k.overall.safeguardBreaches, 0);
      // 100 x (1 - 1/6) x (0.6 x 4/6 + 0.25 x 60/67.9 + 0.15 / sqrt(7/6)) = 63.3
      assert.equal(k.overall.resilienceScore, 63.3);
      assert.deepEqual(
        k.series.map((b: any) => [b.start, b.runs, b.passed, b.recoveryMs, b.resilienceScore]),
        [
          ['2026-03-10T00:00:00.000Z', 0, 0, null, null],
          ['2026-03-11T00:00:00.000Z', 3, 3, { median: 2000, p90: 2800, samples: 3 }, 98.9],
          ['2026-03-12T00:00:00.000Z', 3, 1, { median: 10_000, p90: 10_000, samples: 1 }, 36.3],
        ],
      );
      assert.deepEqual(
        k.experiments.map((e: any) => [e.experiment, e.runs]),
        [['known', 6]],
      );

      const everything = await t.api('GET', `/api/trends?from=${from}&to=${to}&bucket=week`);
      assert.equal(everything.status, 200, everything.text);
      assert.equal(everything.body.overall.runs, 7);
      assert.deepEqual(everything.body.overall.recoveryMs, { median: 3000, p90: 7600, samples: 5 });
      const byName = Object.fromEntries(everything.body.experiments.map((e: any) => [e.experiment, e]));
      assert.deepEqual(Object.keys(byName), ['known', 'nightly from CI']);
      assert.deepEqual(byName.known.recoveryMs, k.overall.recoveryMs);
      assert.equal(byName.known.resilienceScore, 63.3);
      assert.deepEqual(byName['nightly from CI'].recoveryMs, { median: 4000, p90: 4000, samples: 1 });
      // 2026-03-09 is a Monday: one week bucket holds the three days.
      assert.deepEqual(
        everything.body.series.map((b: any) => [b.start, b.runs]),
        [['2026-03-09T00:00:00.000Z', 7]],
      );
      const hours = await t.api('GET', `/api/trends?experiment=known&from=${from}&to=${to}&bucket=hour`);
      assert.equal(hours.body.series.length, 72);
      assert.equal(hours.body.series[25].runs, 3, 'day one, 01:00');
      assert.equal(hours.body.series[50].runs, 3, 'day two, 02:00');

      // The default window is the last 30 days: today's runs (the other tests') are in it, these are not.
      const recent = await t.api('GET', '/api/trends');
      assert.equal(recent.status, 200, recent.text);
      assert.equal(recent.body.bucket, 'day');
      assert.equal(recent.body.series.length, 31);
      assert.ok(!recent.body.experiments.some((e: any) => e.experiment === 'known'));
    });

    test('trends: bad windows and buckets are 400 naming the parameter', async () => {
      const cases: [string, string][] = [
        ['from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z', 'query.to'],
        ['from=2030-01-01T00:00:00Z', 'query.from'],
        ['from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&bucket=hour', 'query.bucket'],
        ['bucket=month', 'query.bucket'],
        ['from=yesterday', 'query.from'],
        ['experiments=x', 'query'],
      ];
      for (const [query, path] of cases) {
        const r = await t.api('GET', `/api/trends?${query}`);
        assert.equal(r.status, 400, `${query}: ${r.text}`);
        assert.ok(
          r.body.error.issues.some((i: { path: string }) => i.path.startsWith(path)),
          `${query}: ${r.text}`,
        );
      }
    });

    test('hostile queries get a 4xx JSON error (or an answer), never a 5xx', async () => {
      const queries = [
        '/api/trends?experiment=%00',
        `/api/trends?experiment=${'x'.repeat(300)}`,
        "/api/trends?experiment=' or 1=1 --",
        '/api/trends?from=9999-99-99T00:00:00Z',
        '/api/trends?bucket=day&bucket=hour',
        '/api/trends?from=0001-01-01T00:00:00Z&bucket=week',
        '/api/runs/compare?a=&b=',
        '/api/runs/compare?a=x&a=y&b=z',
        `/api/runs/compare?a=${'0'.repeat(5000)}`,
        '/api/runs?target=%00',
        "/api/runs?target=' or ''='",
        `/api/runs?target=${'t'.repeat(600)}`,
        '/api/runs?target=a&target=b',
        '/api/runs?requestedBy=%00',
        '/api/runs?tags=a%00b',
      ];
      // A pushed fault whose target holds a NUL: stored (the journal keeps it), just not a label.
      const nul = await push(journalWith({ faults: [{ kind: 'marker-file', target: '/tmp/a\u0000b' }] }));
      assert.equal((await t.api('GET', `/api/runs/${nul.id}`)).body.faults, 1);
      for (const q of queries) {
        const r = await t.api('GET', q);
        assert.ok(r.status < 500, `${q.slice(0, 80)}: ${r.status} ${r.text.slice(0, 200)}`);
        assert.ok(r.body !== undefined, `${q.slice(0, 80)}: JSON`);
        if (r.status >= 400) assert.equal(typeof r.body.error.message, 'string');
      }
    });

    test('compare: 400 naming a or b, 404 naming the run, 409 for two experiments, and the answer', async () => {
      const a = await push(journalWith({ mttr: 1 }), { experiment: 'compared' });
      const b = await push(journalWith({ mttr: null }), { experiment: 'compared' });
      const other = await push(journalWith({ title: 'else' }));
      const missing = '00000000-0000-4000-8000-000000000000';

      const noA = await t.api('GET', `/api/runs/compare?b=${b.id}`);
      assert.equal(noA.status, 400, noA.text);
      assert.deepEqual(
        noA.body.error.issues.map((i: { path: string }) => i.path),
        ['query.a'],
      );
      const badB = await t.api('GET', `/api/runs/compare?a=${a.id}&b=nope`);
      assert.equal(badB.status, 400);
      assert.deepEqual(
        badB.body.error.issues.map((i: { path: string; message: string }) => [i.path, i.message]),
        [['query.b', 'expected a run id (a UUID)']],
      );
      const unknown = await t.api('GET', `/api/runs/compare?a=${a.id}&b=${missing}`);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.message, `no run ${missing} (b)`);
      const mixed = await t.api('GET', `/api/runs/compare?a=${a.id}&b=${other.id}`);
      assert.equal(mixed.status, 409);
      assert.equal(mixed.body.error.code, 'different_experiments');
      assert.match(mixed.body.error.message, /a \(.*\) is of compared, b \(.*\) of else/);

      const r = await t.api('GET', `/api/runs/compare?a=${a.id}&b=${b.id}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.a.id, a.id);
      assert.equal(r.body.b.verdict, 'deviated');
      assert.equal(r.body.a.journal, undefined);
      assert.deepEqual(r.body.recoveryMs, { a: 1000 });
      assert.deepEqual(r.body.faults.a, r.body.faults.b);
      assert.equal(r.body.faults.a[0].durationMs, 3009);
      assert.deepEqual(r.body.load.a, { requests: 610, errorRate: 0.257, p99: 273.407 });
      const after = r.body.probes.filter((p: { phase: string }) => p.phase === 'after');
      assert.deepEqual(
        after.map((p: any) => [p.name, p.a.met, p.b.met]),
        [
          ['success-ratio', true, true],
          ['p99-latency-ms', true, true],
        ],
        'the probes as the journals recorded them',
      );
    });
  });
}

suite('sqlite', sqliteDb);
const pgSkip = await pgSkipReason();
if (pgSkip) console.log(`# skipping the PostgreSQL history tests: ${pgSkip}`);
suite('postgres', postgresDb, pgSkip);
