/**
 * History's pure parts (issue #17): a journal's facts (db/facts.ts) from real run journals, the
 * resilience score's formula as docs/server.md states it, buckets and the assembly of trends from the
 * store's aggregates, and the comparison of two real journals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runFacts, targetLabels } from '../../src/server/db/facts.js';
import { percentiles } from '../../src/server/db/kysely-store.js';
import {
  emptyTrendCounts,
  type RunWithJournal,
  type TrendAggregates,
  type TrendCounts,
} from '../../src/server/store.js';
import {
  bucketCount,
  bucketStart,
  buildTrends,
  compareRuns,
  resilienceScore,
  trendQuery,
  trendStats,
} from '../../src/server/trends.js';
import { journalWith, RECOVERED, SAFEGUARD_TRIP } from '../helpers/trend-journals.js';

const counts = (c: Partial<TrendCounts>): TrendCounts => ({ ...emptyTrendCounts(), ...c });

describe('run facts', () => {
  test("a real run's journal: one marker-file fault, its target, recovery 1.018 s", () => {
    assert.deepEqual(runFacts(RECOVERED), {
      faults: 1,
      targets: 1,
      targetLabels: ['/tmp/rich/degraded', 'marker-file:/tmp/rich/degraded', 'file:/tmp/rich/degraded'],
      recoveryMs: 1018,
      safeguardBreached: false,
      unreverted: 0,
    });
  });

  test('a safeguard that stopped the run; a fault left behind', () => {
    const trip = runFacts(SAFEGUARD_TRIP);
    assert.equal(trip?.safeguardBreached, true);
    assert.equal(trip?.recoveryMs, 1012);
    const left = runFacts(journalWith({ unreverted: true }));
    assert.equal(left?.unreverted, 1);
    assert.equal(left?.recoveryMs, undefined, 'not measured');
    assert.equal(runFacts(journalWith({ mttr: null }))?.recoveryMs, undefined, 'did not recover');
  });

  test('distinct targets by identity; labels from FaultTargets (name, type:name, host, host:port, key=value)', () => {
    const nginx = { type: 'process', name: 'nginx', host: 'web-1', labels: { app: 'checkout' } };
    const facts = runFacts(
      journalWith({
        faults: [
          { kind: 'process-stop', target: 'nginx', targets: [nginx] },
          // The same process again (a second fault on it): one target.
          { kind: 'process-pause', target: 'nginx', targets: [nginx] },
          {
            kind: 'proxy-toxic',
            target: 'db-proxy',
            targets: [{ type: 'proxy', name: 'db', host: '10.0.0.5', port: 5432 }],
          },
          // No FaultTarget recorded: kind + target is its identity.
          { kind: 'marker-file', target: '/tmp/m' },
        ],
      }),
    );
    assert.equal(facts?.faults, 4);
    assert.equal(facts?.targets, 3);
    for (const label of [
      'nginx',
      'process-stop:nginx',
      'process:nginx',
      'web-1',
      'app=checkout',
      'proxy:db',
      '10.0.0.5',
      '10.0.0.5:5432',
      '/tmp/m',
      'marker-file:/tmp/m',
    ])
      assert.ok(facts?.targetLabels.includes(label), `${label} in ${facts?.targetLabels}`);
    assert.equal(new Set(facts?.targetLabels).size, facts?.targetLabels.length, 'no label twice');
    assert.deepEqual(
      targetLabels({ kind: 'x', target: 'a'.repeat(600) }),
      [],
      'labels too long to filter on are not kept',
    );
    assert.deepEqual(
      targetLabels({ kind: 'x', target: 'a\u0000b' }),
      [],
      'nor labels PostgreSQL cannot store',
    );
  });

  test('a Chaos Toolkit journal has no faults; no journal, no facts; junk is read as far as it goes', () => {
    assert.deepEqual(runFacts({ status: 'completed', run: [] }), {
      faults: 0,
      targets: 0,
      targetLabels: [],
      safeguardBreached: false,
      unreverted: 0,
    });
    assert.equal(runFacts(undefined), undefined);
    assert.equal(runFacts('text'), undefined);
    assert.equal(
      runFacts({ faultline: { faults: [null, 3, { kind: 7 }], recovery: { mttr: 'fast' } } })?.faults,
      1,
    );
  });
});

describe('resilience score', () => {
  test('the example in docs/server.md: 10 runs, 7 passed, p90 30 s, 2 targets a run, 1 left a fault: 62.3', () => {
    // 100 x 0.9 x (0.6 x 0.7 + 0.25 x 60/90 + 0.15 / sqrt(2)) = 62.346...
    assert.equal(
      resilienceScore({ runs: 10, passed: 7, recoveryP90Ms: 30_000, meanTargets: 2, leftFaults: 1 }),
      62.3,
    );
  });

  test('bounds: all passing, instant recovery, one target: 100; nothing counted: null; everything left behind: 0', () => {
    assert.equal(
      resilienceScore({ runs: 3, passed: 3, recoveryP90Ms: 0, meanTargets: 1, leftFaults: 0 }),
      100,
    );
    assert.equal(resilienceScore({ runs: 3, passed: 3, meanTargets: 0, leftFaults: 0 }), 100);
    assert.equal(resilienceScore({ runs: 0, passed: 0, meanTargets: 0, leftFaults: 0 }), null);
    assert.equal(resilienceScore({ runs: 2, passed: 2, recoveryP90Ms: 0, meanTargets: 1, leftFaults: 2 }), 0);
  });

  test('no recovery measured: its weight is left out (S 0.8, C 0.2)', () => {
    // (0.6 x 0.5 + 0.15 x 1/sqrt(4)) / 0.75 = (0.3 + 0.075) / 0.75 = 0.5
    assert.equal(resilienceScore({ runs: 4, passed: 2, meanTargets: 4, leftFaults: 0 }), 50);
    // Slower recovery scores lower, never below the runs' own part.
    const fast = resilienceScore({ runs: 4, passed: 4, recoveryP90Ms: 1000, meanTargets: 1, leftFaults: 0 });
    const slow = resilienceScore({
      runs: 4,
      passed: 4,
      recoveryP90Ms: 600_000,
      meanTargets: 1,
      leftFaults: 0,
    });
    assert.ok((fast as number) > (slow as number) && (slow as number) > 75, `${fast} > ${slow} > 75`);
  });

  test('trendStats: means over the runs with a journal, the success rate, the score', () => {
    const s = trendStats(
      counts({ runs: 10, passed: 7, withFacts: 8, faults: 12, targets: 16, maxTargets: 5, leftFaults: 1 }),
      { samples: 6, median: 12_000, p90: 30_000 },
    );
    assert.equal(s.successRate, 0.7);
    assert.deepEqual(s.blastRadius, { faults: 1.5, targets: 2, maxTargets: 5 });
    assert.deepEqual(s.recoveryMs, { median: 12_000, p90: 30_000, samples: 6 });
    assert.equal(s.resilienceScore, 62.3);
    assert.equal(trendStats(counts({}), undefined).successRate, null);
  });
});

describe('recovery percentiles', () => {
  test('median and p90 interpolated between ranks, as percentile_cont', () => {
    assert.deepEqual(percentiles([1000, 2000, 3000, 10_000]), { samples: 4, median: 2500, p90: 7900 });
    assert.deepEqual(percentiles([5]), { samples: 1, median: 5, p90: 5 });
    // 11 values: both ranks exact (positions 5 and 9), no floating-point drift from 0.9 x 10.
    assert.deepEqual(percentiles(Array.from({ length: 11 }, (_, i) => i + 1)), {
      samples: 11,
      median: 6,
      p90: 10,
    });
  });
});

describe('buckets and trends', () => {
  test('bucket starts: the UTC hour, the UTC day, the week from Monday', () => {
    const t = new Date('2026-12-10T15:42:07.123Z'); // a Thursday
    assert.equal(bucketStart(t, 'hour').toISOString(), '2026-12-10T15:00:00.000Z');
    assert.equal(bucketStart(t, 'day').toISOString(), '2026-12-10T00:00:00.000Z');
    assert.equal(bucketStart(t, 'week').toISOString(), '2026-12-07T00:00:00.000Z');
    assert.equal(
      bucketStart(new Date('2026-12-13T23:59:59Z'), 'week').toISOString(),
      '2026-12-07T00:00:00.000Z',
    );
    assert.equal(
      bucketStart(new Date('2026-12-14T00:00:00Z'), 'week').toISOString(),
      '2026-12-14T00:00:00.000Z',
    );
  });

  test('every bucket of [from, to), empty ones with runs 0; per experiment sorted; overall sums the cells', () => {
    const w = {
      from: new Date('2026-12-01T12:00:00Z'),
      to: new Date('2026-12-04T06:00:00Z'),
      bucket: 'day' as const,
    };
    assert.deepEqual(trendQuery(w), {
      from: '2026-12-01T12:00:00.000Z',
      to: '2026-12-04T06:00:00.000Z',
      origin: '2026-12-01T00:00:00.000Z',
      bucketSeconds: 86_400,
    });
    assert.equal(bucketCount(w), 4);
    const agg: TrendAggregates = {
      cells: [
        {
          bucket: 0,
          experiment: 'web',
          counts: counts({ runs: 2, passed: 2, withFacts: 2, faults: 2, targets: 2, maxTargets: 1 }),
        },
        {
          bucket: 2,
          experiment: 'web',
          counts: counts({ runs: 1, passed: 0, withFacts: 1, faults: 3, targets: 3, maxTargets: 3 }),
        },
        {
          bucket: 2,
          experiment: 'db',
          counts: counts({ runs: 1, passed: 1, withFacts: 1, faults: 1, targets: 1, maxTargets: 1 }),
        },
      ],
      recovery: {
        overall: { samples: 3, median: 1000, p90: 2000 },
        buckets: new Map([[2, { samples: 2, median: 1500, p90: 1900 }]]),
        experiments: new Map([['web', { samples: 2, median: 1000, p90: 1800 }]]),
      },
    };
    const trends = buildTrends(w, agg);
    assert.deepEqual(
      trends.series.map((b) => [b.start, b.runs, b.passed]),
      [
        ['2026-12-01T00:00:00.000Z', 2, 2],
        ['2026-12-02T00:00:00.000Z', 0, 0],
        ['2026-12-03T00:00:00.000Z', 2, 1],
        ['2026-12-04T00:00:00.000Z', 0, 0],
      ],
    );
    assert.equal(trends.series[1]?.resilienceScore, null);
    assert.deepEqual(trends.series[2]?.recoveryMs, { samples: 2, median: 1500, p90: 1900 });
    assert.equal(trends.overall.runs, 4);
    assert.equal(trends.overall.successRate, 0.75);
    assert.deepEqual(trends.overall.blastRadius, { faults: 1.5, targets: 1.5, maxTargets: 3 });
    assert.deepEqual(
      trends.experiments.map((e) => [e.experiment, e.runs, e.recoveryMs?.p90 ?? null]),
      [
        ['db', 1, null],
        ['web', 3, 1800],
      ],
    );
  });
});

describe('comparison', () => {
  const run = (id: string, journal: unknown, extra: Partial<RunWithJournal> = {}): RunWithJournal => ({
    id,
    experiment: 'rich',
    title: 'rich',
    tags: [],
    origin: 'push',
    status: 'finished',
    requestedAt: '2026-11-25T09:30:00.000Z',
    requestedBy: 'ci',
    journal,
    ...extra,
  });

  test('two real journals: probes by phase and name, faults with their durations, load, recovery', () => {
    const c = compareRuns(
      run('00000000-0000-4000-8000-00000000000a', RECOVERED, { verdict: 'passed', recoveryMs: 1018 }),
      run('00000000-0000-4000-8000-00000000000b', SAFEGUARD_TRIP, {
        verdict: 'interrupted',
        recoveryMs: 1012,
      }),
    );
    assert.equal('journal' in c.a, false, 'the runs without their journals');
    assert.equal(c.b.verdict, 'interrupted');
    assert.deepEqual(
      c.probes.map((p) => [p.phase, p.name, p.a?.met ?? '-', p.b?.met ?? '-']),
      [
        ['before', 'success-ratio', true, true],
        ['before', 'p99-latency-ms', true, true],
        ['during', 'success-ratio', true, true],
        ['during', 'p99-latency-ms', true, true],
        ['after', 'success-ratio', true, '-'],
        ['after', 'p99-latency-ms', true, '-'],
      ],
    );
    assert.equal(c.probes[2]?.a?.output, '6 of 6 checks met');
    assert.equal(c.probes[2]?.b?.output, '3 of 3 checks met');
    assert.equal(c.probes[1]?.a?.output, '37.375');
    assert.deepEqual(c.faults.a, [{ kind: 'marker-file', target: '/tmp/rich/degraded', durationMs: 3009 }]);
    assert.deepEqual(c.faults.b, [{ kind: 'marker-file', target: '/tmp/rich/degraded', durationMs: 980 }]);
    assert.deepEqual(c.load.a, { requests: 610, errorRate: 0.257, p99: 273.407 });
    assert.deepEqual(c.load.b, { requests: 415, errorRate: 0.094, p99: 178.559 });
    assert.deepEqual(c.recoveryMs, { a: 1018, b: 1012 });
  });

  test('a run without a journal compares as empty', () => {
    const c = compareRuns(
      run('00000000-0000-4000-8000-00000000000a', RECOVERED),
      run('00000000-0000-4000-8000-00000000000b', undefined),
    );
    assert.ok(c.probes.length > 0 && c.probes.every((p) => p.b === undefined));
    assert.deepEqual(c.faults.b, []);
    assert.equal(c.load.b, undefined);
    assert.deepEqual(c.recoveryMs, {});
  });
});
