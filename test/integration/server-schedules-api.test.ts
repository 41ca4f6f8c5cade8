/**
 * The schedules API's refusals against a real server, on SQLite and on the real PostgreSQL: every
 * invalid field named in the error's issues (400), an experiment that is not stored (422), a name
 * taken (409), a rename (400), unknown schedules (404); then random and mutated bodies on POST and PUT
 * are answered with JSON, 4xx for what is invalid, never a 5xx (a NUL in a tag is the caller's 400 on
 * PostgreSQL too), and the OpenAPI document lists the routes.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { prng, randomJson } from '../helpers/http-raw.js';
import { pgScratchRole, pgSkipReason, type ScratchRole } from '../helpers/pg.js';
import { startTestServer, type TestServer } from '../helpers/serve.js';
import { quickExperiment } from './server-schedules-fixtures.js';

const VALID = {
  name: 'nightly',
  experiment: 'quick',
  timing: { cron: '0 2 * * *', timezone: 'Europe/Paris', jitter: '5m' },
  concurrencyPolicy: 'forbid',
  startingDeadline: '10m',
  missedRunPolicy: 'run-once',
  historyLimit: 50,
  tags: ['nightly'],
};

const QUICK = quickExperiment();

/** Keys the random bodies use: the spec's own, so mutations reach the validation of each field. */
const FIELDS = [
  'name',
  'experiment',
  'version',
  'timing',
  'cron',
  'timezone',
  'jitter',
  'monkey',
  'concurrencyPolicy',
  'startingDeadline',
  'missedRunPolicy',
  'historyLimit',
  'paused',
  'tags',
  'targets',
  'candidates',
  'count',
];

function mutate(rand: () => number, body: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = structuredClone(body);
  const key = FIELDS[Math.floor(rand() * FIELDS.length)] as string;
  const value = randomJson(rand, FIELDS);
  if (key === 'cron' || key === 'timezone' || key === 'jitter')
    copy.timing = { ...(copy.timing as object), [key]: value };
  else if (key === 'candidates' || key === 'count') copy.targets = { candidates: ['a', 'b'], [key]: value };
  else copy[key] = value;
  return copy;
}

function suite(label: 'SQLite' | 'PostgreSQL', skip?: string) {
  describe(`the schedules API on ${label}`, { skip }, () => {
    let t: TestServer | undefined;
    let scratch: ScratchRole | undefined;
    const database = async () => {
      if (label === 'SQLite') return undefined;
      scratch = await pgScratchRole('faultline_sched_api');
      return scratch.url();
    };
    const server = async () => {
      if (!t) {
        const url = await database();
        t = await startTestServer(url ? { database: url } : {});
        const up = await t.api('POST', '/api/experiments', { name: 'quick', format: 'yaml', source: QUICK });
        assert.equal(up.status, 201, up.text);
      }
      return t;
    };
    after(async () => {
      await t?.close();
      await scratch?.drop().catch(() => undefined);
    });

    test('every invalid field is named; unknown experiment 422, name taken 409, rename 400, unknown 404', async () => {
      const s = await server();
      const cases: [unknown, string][] = [
        [{ ...VALID, name: 'a b' }, 'name'],
        [{ ...VALID, experiment: '' }, 'experiment'],
        [{ ...VALID, timing: { cron: 'every tuesday' } }, 'timing.cron'],
        [{ ...VALID, timing: { cron: '* * * * *', timezone: 'Mars/Olympus' } }, 'timing.timezone'],
        [{ ...VALID, timing: { cron: '* * * * *', jitter: 'a while' } }, 'timing.jitter'],
        [{ ...VALID, timing: { monkey: { probability: 2 } } }, 'timing.monkey.probability'],
        [{ ...VALID, timing: { cron: '* * * * *', monkey: {} } }, 'timing'],
        [{ ...VALID, timing: 'daily' }, 'timing'],
        [{ ...VALID, concurrencyPolicy: 'sometimes' }, 'concurrencyPolicy'],
        [{ ...VALID, missedRunPolicy: 'all' }, 'missedRunPolicy'],
        [{ ...VALID, startingDeadline: 'soon' }, 'startingDeadline'],
        [{ ...VALID, historyLimit: 0 }, 'historyLimit'],
        [{ ...VALID, version: -1 }, 'version'],
        [{ ...VALID, paused: 'yes' }, 'paused'],
        [{ ...VALID, tags: ['a\u0000b'] }, 'tags[0]'],
        [{ ...VALID, targets: { candidates: [] } }, 'targets.candidates'],
        [{ ...VALID, targets: { candidates: ['a'], count: 0 } }, 'targets.count'],
        [{ ...VALID, targets: { candidates: ['a'], configurationKey: 'a-b' } }, 'targets.configurationKey'],
        [{ ...VALID, surprise: true }, 'surprise'],
      ];
      for (const [body, field] of cases) {
        const r = await s.api('POST', '/api/schedules', body);
        assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
        assert.equal(r.body.error.code, 'bad_request');
        assert.ok(
          r.body.error.issues.some((i: { path: string; message: string }) =>
            field === 'surprise' ? i.message.includes(field) : i.path === field,
          ),
          `${field} named: ${r.text}`,
        );
      }
      const unknown = await s.api('POST', '/api/schedules', { ...VALID, experiment: 'absent' });
      assert.equal(unknown.status, 422, unknown.text);
      assert.equal(unknown.body.error.issues[0].path, 'experiment');
      const badVersion = await s.api('POST', '/api/schedules', { ...VALID, version: 9 });
      assert.equal(badVersion.status, 422, badVersion.text);
      assert.equal(badVersion.body.error.issues[0].path, 'version');

      const created = await s.api('POST', '/api/schedules', VALID);
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.timing.timezone, 'Europe/Paris');
      assert.equal(created.body.nextFires.length, 5);
      const taken = await s.api('POST', '/api/schedules', VALID);
      assert.equal(taken.status, 409, taken.text);
      assert.equal(taken.body.error.issues[0].path, 'name');
      const rename = await s.api('PUT', '/api/schedules/nightly', { ...VALID, name: 'other' });
      assert.equal(rename.status, 400, rename.text);
      assert.equal(rename.body.error.issues[0].path, 'name');
      const put = await s.api('PUT', '/api/schedules/nightly', {
        ...VALID,
        name: undefined,
        timing: { monkey: { timezone: 'Europe/Paris', meanTimeBetweenKillsInWorkDays: 2, probability: 0.5 } },
        targets: { candidates: ['a', 'b', 'c'], count: 2 },
      });
      assert.equal(put.status, 200, put.text);
      assert.equal(put.body.timing.monkey.meanTimeBetweenRunsInWorkDays, 2);
      assert.equal(put.body.targets.configurationKey, 'targets');
      assert.ok(put.body.revision > created.body.revision);
      for (const [method, path] of [
        ['GET', '/api/schedules/absent'],
        ['PUT', '/api/schedules/absent'],
        ['DELETE', '/api/schedules/absent'],
        ['POST', '/api/schedules/absent/pause'],
        ['POST', '/api/schedules/absent/resume'],
        ['GET', '/api/schedules/absent/firings'],
      ] as const) {
        const r = await s.api(method, path, method === 'PUT' ? VALID : undefined);
        assert.equal(r.status, 404, `${method} ${path}: ${r.text}`);
        assert.equal(r.body.error.code, 'not_found');
      }
      const badName = await s.api('GET', '/api/schedules/..%2Fetc');
      assert.ok(badName.status === 400 || badName.status === 404, badName.text);
      const badQuery = await s.api('GET', '/api/schedules/nightly/firings?limit=0');
      assert.equal(badQuery.status, 400, badQuery.text);
      const list = await s.api('GET', '/api/schedules');
      assert.deepEqual(
        list.body.schedules.map((x: { name: string }) => x.name),
        ['nightly'],
      );
      const doc = await s.api('GET', '/api/openapi.json');
      assert.equal(doc.status, 200);
      for (const path of [
        '/api/schedules',
        '/api/schedules/{name}',
        '/api/schedules/{name}/pause',
        '/api/schedules/{name}/resume',
        '/api/schedules/{name}/firings',
      ])
        assert.ok(doc.body.paths[path], `${path} in the OpenAPI document`);
      const del = await s.api('DELETE', '/api/schedules/nightly');
      assert.equal(del.status, 204);
    });

    test('random and mutated bodies on POST and PUT: JSON answers, never a 5xx', async () => {
      const s = await server();
      const rand = prng(18);
      const made: string[] = [];
      for (let i = 0; i < 400; i++) {
        const put = i % 2 === 1;
        const body =
          i % 4 < 2
            ? mutate(rand, { ...VALID, name: `fuzz-${i}` })
            : (randomJson(rand, FIELDS) as Record<string, unknown>);
        const text = i % 37 === 0 ? '{"name": "x", ' : (JSON.stringify(body) ?? 'null');
        const path = put ? '/api/schedules/fuzz-target' : '/api/schedules';
        if (put && i === 1) {
          const base = await s.api('POST', '/api/schedules', { ...VALID, name: 'fuzz-target' });
          assert.equal(base.status, 201, base.text);
        }
        const r = await s.api(put ? 'PUT' : 'POST', path, text);
        const what = `${put ? 'PUT' : 'POST'} ${text.slice(0, 200)}`;
        assert.ok(r.status < 500, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
        assert.ok(r.body !== undefined, `${what}: not JSON: ${r.text.slice(0, 200)}`);
        if (r.status >= 400) {
          assert.equal(typeof r.body.error?.code, 'string', `${what}: ${r.text.slice(0, 200)}`);
          assert.equal(typeof r.body.error?.message, 'string', what);
        } else if (!put) made.push(r.body.name);
      }
      // What was accepted is listed and readable back (the store can hold what the API let through).
      const list = await s.api('GET', '/api/schedules');
      assert.equal(list.status, 200, list.text);
      for (const name of made)
        assert.ok(
          list.body.schedules.some((x: { name: string }) => x.name === name),
          name,
        );
      for (const name of [...made, 'fuzz-target']) await s.api('DELETE', `/api/schedules/${name}`);
    });
  });
}

suite('SQLite');
const pgSkip = await pgSkipReason();
if (pgSkip) console.log(`# skipping PostgreSQL: ${pgSkip}`);
suite('PostgreSQL', pgSkip);
