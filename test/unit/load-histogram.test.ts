/** The load generator's pure parts: HDR histogram wrapper, per-second series, windows, durations. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LatencyHistogram } from '../../src/load/histogram.js';
import { parseDuration } from '../../src/load/schema.js';
import { LoadSeries } from '../../src/load/series.js';

test('histogram: percentiles and max in ms, within HDR resolution', () => {
  const h = new LatencyHistogram();
  for (let i = 1; i <= 1000; i++) h.recordMs(i / 10); // 0.1 .. 100 ms
  assert.equal(h.count, 1000);
  const s = h.summary();
  assert.ok(Math.abs(s.p50 - 50) < 0.1, `p50 ${s.p50}`);
  assert.ok(Math.abs(s.p99 - 99) < 0.1, `p99 ${s.p99}`);
  assert.ok(Math.abs(s.max - 100) < 0.1, `max ${s.max}`);
});

test('histogram: empty reads 0, huge values clamp instead of throwing, add merges', () => {
  const a = new LatencyHistogram(2);
  assert.deepEqual(a.summary(), { p50: 0, p90: 0, p95: 0, p99: 0, max: 0 });
  a.recordMs(10 * 3_600_000);
  assert.ok(a.maxMs >= 590_000);
  const b = new LatencyHistogram(2);
  b.recordMs(1);
  b.add(a);
  assert.equal(b.count, 2);
  b.reset();
  assert.equal(b.count, 0);
});

test('series: outcomes by second, status classes, a window over the last slots', () => {
  let now = 0;
  const s = new LoadSeries(() => now);
  for (let i = 0; i < 10; i++) s.record(200, 1);
  s.record(302, 2);
  s.record(404, 3);
  now = 1500;
  s.record(503, 100);
  s.record('timeout', 0);
  s.record('error', 0);
  s.drop();
  now = 2100;
  s.tick();
  assert.equal(s.seconds.length, 2);
  const [first, second] = s.seconds;
  assert.equal(first?.requests, 12);
  assert.equal(first?.successes, 11);
  assert.deepEqual(first?.status, { '1xx': 0, '2xx': 10, '3xx': 1, '4xx': 1, '5xx': 0 });
  assert.equal(second?.timeouts, 1);
  assert.equal(second?.connection_errors, 1);
  assert.equal(second?.dropped, 1);
  assert.ok(Math.abs((second?.max ?? 0) - 100) < 1);

  now = 1600;
  const w = s.window(500); // slots 1100..1600: the second batch only
  assert.equal(w.requests, 3);
  assert.equal(w.successes, 0);
  assert.equal(w.success_ratio, 0);
  assert.equal(w.error_rate, 1);
  assert.equal(w.throughput, 6);
  const all = s.window(5000);
  assert.equal(all.requests, 15);
  assert.ok(Math.abs(all.success_ratio - 11 / 15) < 1e-9);
  assert.equal(all.throughput, 15 / 1.6);
});

test('series: slots older than a minute are recycled, not counted', () => {
  let now = 0;
  const s = new LoadSeries(() => now);
  s.record(500, 1);
  now = 60_000; // same ring position, a minute later
  s.record(200, 1);
  assert.equal(s.window(60_000).requests, 1);
  assert.equal(s.totals.requests, 2);
});

test('parseDuration: units, bare seconds, refusals', () => {
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1.5'), 1500);
  assert.equal(parseDuration(2), 2000);
  for (const bad of ['', 'x', '0s', '-1s', '3x', '1 2s']) assert.equal(parseDuration(bad), undefined, bad);
});
