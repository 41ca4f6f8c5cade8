/** The Prometheus client's pure parts: times, durations, result conversions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadBuiltinActivities } from '../../src/compose.js';
import { findBuiltin } from '../../src/engine/builtins.js';
import {
  formatPromTime,
  PrometheusError,
  type QueryData,
  sampleValue,
  toMatrix,
  toNumber,
  toVector,
} from '../../src/prometheus/client.js';
import { parseDurationSeconds, parseTime } from '../../src/prometheus/time.js';

await loadBuiltinActivities();

const now = new Date('2026-01-02T03:04:05.000Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000);

test('parseTime reads now, relative phrases, RFC 3339 and unix seconds', () => {
  assert.deepEqual(parseTime('now', now), now);
  assert.deepEqual(parseTime('5 minutes ago', now), ago(300));
  assert.deepEqual(parseTime('2 Minutes Ago', now), ago(120));
  assert.deepEqual(parseTime('an hour ago', now), ago(3600));
  assert.deepEqual(parseTime('30s ago', now), ago(30));
  assert.deepEqual(parseTime('1.5 hours ago', now), ago(5400));
  assert.deepEqual(parseTime('in 1 day', now), new Date(now.getTime() + 86_400_000));
  assert.deepEqual(parseTime('2026-01-02T03:00:00Z', now), new Date('2026-01-02T03:00:00Z'));
  assert.deepEqual(parseTime('2026-01-02T04:00:00.5+01:00', now), new Date('2026-01-02T03:00:00.5Z'));
  assert.deepEqual(parseTime('1767322800', now), new Date(1_767_322_800_000));
  assert.deepEqual(parseTime(1767322800.25, now), new Date(1_767_322_800_250));
  for (const bad of ['', 'yesterday-ish', '5 parsecs ago', 'in 5 minutes ago', '5 minutes', '2026-13-45']) {
    assert.equal(parseTime(bad, now), undefined, bad);
  }
});

test('parseDurationSeconds reads seconds and Prometheus durations', () => {
  assert.equal(parseDurationSeconds(30), 30);
  assert.equal(parseDurationSeconds('15'), 15);
  assert.equal(parseDurationSeconds('5m'), 300);
  assert.equal(parseDurationSeconds('1h30m'), 5400);
  assert.equal(parseDurationSeconds('250ms'), 0.25);
  for (const bad of ['', '5 minutes', '-1', 'm5', '5mx'])
    assert.equal(parseDurationSeconds(bad), undefined, bad);
  assert.equal(parseDurationSeconds(-1), undefined);
});

test('formatPromTime and sampleValue', () => {
  assert.equal(formatPromTime(new Date(1_700_000_000_123)), '1700000000.123');
  assert.equal(formatPromTime(1_700_000_000), '1700000000');
  assert.equal(formatPromTime('2026-01-02T03:04:05Z'), '2026-01-02T03:04:05Z');
  assert.equal(sampleValue('1.5'), 1.5);
  assert.equal(sampleValue('+Inf'), Number.POSITIVE_INFINITY);
  assert.equal(sampleValue('-Inf'), Number.NEGATIVE_INFINITY);
  assert.ok(Number.isNaN(sampleValue('NaN')));
});

test('result conversions: number, vector, matrix', () => {
  const scalar: QueryData = { resultType: 'scalar', result: [1, '3'] };
  const one: QueryData = { resultType: 'vector', result: [{ metric: { a: '1' }, value: [1, '7'] }] };
  const two: QueryData = {
    resultType: 'vector',
    result: [
      { metric: { a: '1' }, value: [1, '7'] },
      { metric: { a: '2' }, value: [1, '8'] },
    ],
  };
  const matrix: QueryData = {
    resultType: 'matrix',
    result: [
      {
        metric: {},
        values: [
          [1, '1'],
          [2, '2'],
        ],
      },
    ],
  };
  assert.equal(toNumber(scalar), 3);
  assert.equal(toNumber(one), 7);
  assert.throws(() => toNumber(two), /2 series, not one number/);
  assert.throws(() => toNumber({ resultType: 'vector', result: [] }), /no samples/);
  assert.throws(() => toNumber(matrix), PrometheusError);
  assert.deepEqual(toVector(two), [
    { metric: { a: '1' }, value: 7 },
    { metric: { a: '2' }, value: 8 },
  ]);
  assert.deepEqual(toVector(scalar), [{ metric: {}, value: 3 }]);
  assert.deepEqual(toMatrix(matrix), [
    {
      metric: {},
      values: [
        [1, 1],
        [2, 2],
      ],
    },
  ]);
});

test('argument schemas: chaosprometheus signatures and query_range start/last', () => {
  const interval = findBuiltin('chaosprometheus.probes', 'query_interval');
  assert.ok(interval);
  assert.equal(interval.kind, 'probe');
  assert.deepEqual(interval.arguments.parse({ query: 'up', start: '5 minutes ago', end: 'now' }), {
    query: 'up',
    start: '5 minutes ago',
    end: 'now',
    step: 1,
    verify_tls: true,
  });
  assert.equal(interval.arguments.safeParse({ query: 'up', start: 'now' }).success, false);
  const query = findBuiltin('chaosprometheus.probes', 'query');
  assert.ok(query?.arguments.safeParse({ query: 'up', when: null, timeout: null }).success);
  const range = findBuiltin('faultline.prometheus', 'query_range');
  assert.ok(range);
  assert.ok(range.arguments.safeParse({ query: 'up', last: '5m' }).success);
  assert.ok(range.arguments.safeParse({ query: 'up', start: '5 minutes ago', end: 'now' }).success);
  assert.equal(range.arguments.safeParse({ query: 'up' }).success, false);
  assert.equal(range.arguments.safeParse({ query: 'up', last: 60, start: 'now' }).success, false);
});
