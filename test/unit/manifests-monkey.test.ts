/**
 * Chaos Monkey configs -> a Monkey-mode schedule suggestion of a kill of one random workload: the
 * seed's ConfigMap, Netflix's own keys, and malformed ones refused naming the field. The timing is
 * checked with the scheduler's own schema and nextFire().
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ExperimentSchema } from '../../src/core/schema.js';
import { type ManifestSet, translateManifests } from '../../src/manifests/index.js';
import { MonkeyTimingSchema, nextFire } from '../../src/schedule/index.js';

const FIX = new URL('../fixtures/manifests/', import.meta.url);
const fromText = (text: string): ManifestSet =>
  translateManifests(parseAllDocuments(text).map((d) => d.toJS()));
const load = (name: string) => fromText(readFileSync(new URL(name, FIX), 'utf8'));
type Act = { provider: { module?: string; func?: string; arguments?: unknown }; targets?: unknown };

test('seed 003 (ConfigMap): working hours 09:00-17:00 Mon-Fri, p 0.1, μ 2, a SIGKILL of one production workload', () => {
  const s = load('seeds/003-chaos-monkey-configmap.yaml');
  assert.deepEqual(s.refused, []);
  assert.ok(ExperimentSchema.safeParse(s.experiment).success);
  const [sched] = s.schedules;
  assert.deepEqual(sched?.timing, {
    monkey: {
      timezone: 'UTC',
      workingHours: { start: '09:00', end: '17:00' },
      workingDays: ['mon', 'tue', 'wed', 'thu', 'fri'],
      meanTimeBetweenRunsInWorkDays: 2,
      probability: 0.1,
    },
  });
  assert.ok(MonkeyTimingSchema.safeParse(sched!.timing).success);
  const fire = nextFire(sched!.timing, 'seed', new Date('2026-06-01T00:00:00Z'));
  assert.ok(fire, 'the timing fires');
  const h = fire.due.getUTCHours();
  assert.ok(
    h >= 9 && h < 17 && fire.due.getUTCDay() >= 1 && fire.due.getUTCDay() <= 5,
    `${fire.due.toISOString()} within working hours`,
  );
  const [a] = s.experiment.method as Act[];
  assert.deepEqual(a!.provider, {
    type: 'faultline',
    module: 'faultline.process',
    func: 'kill',
    arguments: { signal: 'SIGKILL' },
  });
  assert.deepEqual(a!.targets, {
    on: 'workloads',
    mode: 'one',
    namespaces: ['production'],
    agentSelector: {
      matchExpressions: [{ key: 'region', operator: 'In', values: ['us-east-1'] }],
    },
    selector: {},
  });
  assert.equal(s.notes.find((n) => n.path === 'data["config.yaml"].chaosmonkey.spinnaker')?.fate, 'ignored');
});

test("Netflix's keys: start_hour/end_hour/time_zone, one kill per account", () => {
  const s = load('chaos-monkey/netflix-keys.yaml');
  assert.deepEqual(s.refused, []);
  const t = s.schedules[0]?.timing as { monkey: Record<string, unknown> };
  assert.deepEqual(t.monkey.workingHours, { start: '09:00', end: '15:00' });
  assert.equal(t.monkey.timezone, 'America/Los_Angeles');
  assert.equal(t.monkey.meanTimeBetweenRunsInWorkDays, 5);
  assert.deepEqual(
    (s.experiment.method as { targets: { namespaces: string[] } }[]).map((a) => a.targets.namespaces),
    [['production'], ['test']],
  );
});

test('malformed configs are refused naming the field', () => {
  const doc = (kill: string, extra = '') => `chaosmonkey:\n  enabled: true\n${extra}  kill: {${kill}}\n`;
  const cases: [string, string, string, RegExp][] = [
    ['probability 2', doc('probability: 2'), 'chaosmonkey.kill.probability', /above 0 and at most 1/],
    [
      'mean 0',
      doc('meanTimeBetweenKillsInWorkDays: 0'),
      'chaosmonkey.kill.meanTimeBetweenKillsInWorkDays',
      /1 to 1000/,
    ],
    [
      'cron without hour range',
      doc('probability: 1', '  schedule: {type: cron, path: "*/5 * * * *"}\n'),
      'chaosmonkey.schedule.path',
      /hour field is a range/,
    ],
    [
      'bad cron',
      doc('probability: 1', '  schedule: {type: cron, path: "99 99 * * *"}\n'),
      'chaosmonkey.schedule.path',
      /cron/,
    ],
    ['unknown key', doc('probability: 1', '  banana: 1\n'), 'chaosmonkey.banana', /unknown field/],
    ['leashed', doc('probability: 1', '  leashed: true\n'), 'chaosmonkey.leashed', /pretends/],
  ];
  for (const [what, text, path, why] of cases) {
    const s = fromText(text);
    const n = s.refused.find((x) => x.path === path);
    assert.ok(n, `${what}: ${path} refused (got ${JSON.stringify(s.refused)})`);
    assert.match(n.why!, why, what);
  }
});
