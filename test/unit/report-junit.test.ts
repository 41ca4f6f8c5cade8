/**
 * The JUnit XML report: test cases and their outcomes, escaping, and the
 * document validated with xmllint against the Ant/Jenkins JUnit schema
 * (test/fixtures/report/junit.xsd).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Journal } from '../../src/core/journal.js';
import { parseJournal, renderReport } from '../../src/report/index.js';

const XSD = fileURLToPath(new URL('../fixtures/report/junit.xsd', import.meta.url));
const load = (name: string): Journal => {
  const r = parseJournal(
    JSON.parse(readFileSync(new URL(`../fixtures/report/${name}`, import.meta.url), 'utf8')),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.journal;
};
const NAMES = ['quickstart.json', 'recovered.json', 'during-deviation.json', 'safeguard-trip.json'];

const hasXmllint = spawnSync('xmllint', ['--version']).status === 0;
const noXmllint = hasXmllint ? false : 'xmllint is missing (apt-get install libxml2-utils)';
if (noXmllint) console.log(`# skipping the schema checks of the JUnit report: ${noXmllint}`);

async function validate(xml: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'faultline-junit-'));
  try {
    const file = join(dir, 'junit.xml');
    await writeFile(file, xml, 'utf8');
    const r = spawnSync('xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stderr}\n${xml}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The test cases of the first suite as "classname/name: outcome". */
function cases(xml: string): string[] {
  return [
    ...xml.matchAll(/<testcase name="([^"]*)" classname="([^"]*)" time="[\d.]+"(\/>|>\s*<(failure|error))/g),
  ].map((m) => `${m[2]}/${m[1]}: ${m[4] ?? 'ok'}`);
}

test('a safeguard trip: probes, activities, the fault, the safeguard and recovery are test cases', () => {
  const xml = renderReport('junit', [load('safeguard-trip.json')]);
  assert.deepEqual(cases(xml), [
    'hypothesis.before/success-ratio: ok',
    'hypothesis.during/success-ratio: ok',
    'hypothesis.before/p99-latency-ms: ok',
    'hypothesis.during/p99-latency-ms: ok',
    'method/degrade: ok',
    'rollbacks/remove-flag: error',
    'faults/marker-file /tmp/rich/degraded: ok',
    'safeguards/error-rate-guard: failure',
    'recovery/time to recover: ok',
  ]);
  assert.match(
    xml,
    /<testsuite name="Checkout under a degraded backend, guarded" package="faultline" id="0" timestamp="2026-11-25T09:22:20" hostname="vm" tests="9" failures="1" errors="1" time="4.376">/,
  );
  assert.match(
    xml,
    /<failure message="0.4090909090909091 is not within \[0, 0.2\]" type="SafeguardTripped">/,
  );
  assert.match(xml, /<property name="verdict" value="interrupted"\/>/);
});

test('deviations are failures with the values checked', () => {
  const xml = renderReport('junit', [load('during-deviation.json')]);
  assert.ok(cases(xml).includes('hypothesis.during/success-ratio: failure'));
  assert.match(
    xml,
    /message="1\/3 met, 0.457 .. 1; 2\/3 met with no fault active \(tolerance range \[0.9, 1\]\)" type="ToleranceNotMet"/,
  );
  const after = structuredClone(load('quickstart.json'));
  const p = after.steady_states.after?.probes[0];
  assert.ok(p && after.steady_states.after);
  p.tolerance_met = false;
  after.steady_states.after.steady_state_met = false;
  after.deviated = true;
  after.faultline.unreverted = after.faultline.faults;
  const x2 = renderReport('junit', [after]);
  assert.ok(cases(x2).includes('hypothesis.after/service-is-healthy: failure'));
  assert.ok(cases(x2).some((c) => c.startsWith('faults/') && c.endsWith(': failure')));
  assert.match(x2, /does not meet tolerance 200/);
});

test('journal strings are escaped; characters XML cannot carry are replaced', () => {
  const j = structuredClone(load('quickstart.json'));
  j.experiment.title = `<"quotes" & 'apostrophes'>\u0000\u001b]`;
  const run = j.run[0];
  assert.ok(run);
  run.activity.name = 'a\tb\nc';
  run.status = 'failed';
  run.exception = ['Traceback\n', 'faultline.ActivityFailed: ]]> </error><script>x</script>\n'];
  const xml = renderReport('junit', [j]);
  assert.match(xml, /name="&lt;&quot;quotes&quot; &amp; &#39;apostrophes&#39;&gt;\uFFFD\uFFFD\]"/);
  assert.match(xml, /name="a&#9;b&#10;c" classname="method"/);
  assert.match(xml, /message="\]\]&gt; &lt;\/error&gt;&lt;script&gt;x&lt;\/script&gt;"/);
  assert.ok(!xml.includes('<script>'));
  assert.ok(!xml.includes('\u0000'));
});

test('the JUnit XML validates against the schema, one run and several', { skip: noXmllint }, async () => {
  for (const name of NAMES) await validate(renderReport('junit', [load(name)]));
  const all = renderReport('junit', NAMES.map(load));
  assert.equal(all.match(/<testsuite /g)?.length, 4);
  assert.deepEqual(
    [...all.matchAll(/ id="(\d+)"/g)].map((m) => m[1]),
    ['0', '1', '2', '3'],
  );
  await validate(all);
  // Even the hostile strings and an empty title stay valid.
  const j = structuredClone(load('recovered.json'));
  j.experiment.title = '';
  j.faultline.host = '';
  j.experiment.title = '\u0001<&>';
  await validate(renderReport('junit', [j]));
});
