/**
 * End to end: `faultline run --report` and `faultline report` with the built
 * CLI on the examples: files written, formats chosen, errors named (exit 2).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';

const XSD = fileURLToPath(new URL('../fixtures/report/junit.xsd', import.meta.url));
const hasXmllint = spawnSync('xmllint', ['--version']).status === 0;

let home: Awaited<ReturnType<typeof tempHome>>;
let work: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  home = await tempHome();
  work = await mkdtemp(join(tmpdir(), 'faultline-e2e-report-'));
  env = { FAULTLINE_HOME: home.home };
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
  await home.cleanup();
  await rm(work, { recursive: true, force: true });
});

test('run --report writes each report after the journal; report renders several journals', async () => {
  const journal1 = join(work, 'quickstart.json');
  const html = join(work, 'out', 'run.html');
  const junit = join(work, 'out', 'junit.xml');
  const r = await runCli(
    [
      'run',
      'examples/quickstart/experiment.yaml',
      '--journal-path',
      journal1,
      '--report',
      `html=${html}`,
      '--report',
      `junit=${junit}`,
    ],
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /html report: .*run\.html/);
  const page = await readFile(html, 'utf8');
  assert.match(page, /<div class="label">PASSED<\/div>/);
  assert.match(page, /The demo service recovers when its degradation is reverted/);
  assert.ok(!/(src|href)="https?:/.test(page), 'nothing fetched');
  const xml = await readFile(junit, 'utf8');
  assert.match(xml, /<testcase name="service-answers-503-while-degraded" classname="method"/);
  if (hasXmllint) {
    const v = spawnSync('xmllint', ['--noout', '--schema', XSD, junit], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
  }

  // A second run, a Chaos Toolkit experiment, then a trend over both.
  const journal2 = join(work, 'ctk.json');
  const r2 = await runCli(
    ['run', 'examples/chaostoolkit/check-file-exists.json', '--journal-path', journal2],
    {
      env: { ...env, TARGET_DIR: work },
    },
  );
  assert.equal(r2.code, 0, r2.stderr);
  const trend = join(work, 'trend.html');
  const r3 = await runCli(['report', journal1, journal2, '-o', trend], { env });
  assert.equal(r3.code, 0, r3.stderr);
  const t = await readFile(trend, 'utf8');
  assert.match(t, /2\/2 PASSED/);
  assert.match(t, /data-chart="pass-rate"/);

  // Markdown on stdout by default; the format from -o otherwise.
  const md = await runCli(['report', journal1, journal2], { env });
  assert.equal(md.code, 0, md.stderr);
  assert.match(md.stdout, /^## Faultline runs\n\n\*\*2\/2 passed\*\*/);
  const json = join(work, 'summary.json');
  assert.equal((await runCli(['report', journal2, '-o', json], { env })).code, 0);
  assert.equal(JSON.parse(await readFile(json, 'utf8')).runs[0].verdict, 'passed');
  const j2 = await runCli(['report', journal2, '--format', 'junit'], { env });
  assert.match(j2.stdout, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites>/);
});

test('errors name the argument and exit 2', async () => {
  const missing = await runCli(['report', join(work, 'nope.json')], { env });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /JOURNAL '.*nope\.json': no such file/);

  const notJournal = join(work, 'not-a-journal.json');
  await writeFile(notJournal, '{"hello": "world"}');
  const bad = await runCli(['report', notJournal], { env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /JOURNAL '.*not-a-journal\.json': not a run journal/);
  assert.match(bad.stderr, /experiment: /);

  const notJson = join(work, 'broken.json');
  await writeFile(notJson, '{');
  const broken = await runCli(['report', notJson], { env });
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /not a journal: invalid JSON/);

  const fmt = await runCli(['report', 'test/fixtures/report/quickstart.json', '--format', 'pdf'], { env });
  assert.equal(fmt.code, 2);
  assert.match(fmt.stderr, /--format: unknown format 'pdf' \(expected html, markdown, junit, json\)/);
  const ext = await runCli(['report', 'test/fixtures/report/quickstart.json', '-o', join(work, 'r.pdf')], {
    env,
  });
  assert.equal(ext.code, 2);
  assert.match(ext.stderr, /-o: cannot tell the format from/);

  // A bad --report spec stops `run` before anything runs: no journal.
  const journal = join(work, 'never.json');
  const run = await runCli(
    ['run', 'examples/quickstart/experiment.yaml', '--journal-path', journal, '--report', 'pdf=x.pdf'],
    { env },
  );
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--report: unknown format 'pdf' in 'pdf=x.pdf'/);
  assert.equal(existsSync(journal), false);
  const noFormat = await runCli(['run', 'examples/quickstart/experiment.yaml', '--report', 'report'], {
    env,
  });
  assert.equal(noFormat.code, 2);
  assert.match(noFormat.stderr, /--report: expected FORMAT=PATH/);
});
