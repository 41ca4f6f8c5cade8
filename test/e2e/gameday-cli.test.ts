/**
 * End to end: `faultline gameday validate|schema|run` through the built CLI. The example game day runs real
 * faults on its own service (--yes confirms the manual steps); a scripted stdin answers, adds notes and rolls
 * back; Ctrl-C (SIGINT) during an experiment that holds a fault interrupts it, the fault is reverted, the
 * rollback plan runs and the report says so; without a terminal the run refuses to start.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, cliSuite, ROOT, runCli, startCli } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

const e2e = cliSuite('faultline-gameday-');
const STACK = /\n\s+at .+:\d+:\d+/;
const EXAMPLE = join(ROOT, 'examples/gameday/plan.yaml');

/** A marker-file fault held for a long time: a stop must revert it. */
const HOLD = (marker: string) => `title: Holds a marker fault
description: Holds a marker-file fault until the game day is stopped.
method:
  - type: action
    name: create-marker
    provider:
      type: faultline
      module: faultline.marker
      func: create
      arguments: { path: ${JSON.stringify(marker)}, duration: 600 }
    pauses: { after: 600 }
`;

const PEOPLE = `participants:
  - { name: alice, role: incident-commander }
  - { name: bob, role: technical-lead }
  - { name: carol, role: scribe }
`;

test('validate: the example is valid; a broken plan lists every issue with its line and column, exit 2', async () => {
  const good = await runCli(['gameday', 'validate', EXAMPLE], { env: e2e.env });
  assert.equal(good.code, 0, good.stderr);
  assert.match(
    good.stderr,
    /valid game-day plan "replica-loss" \(5 steps, 1 rollback steps, 5 success criteria\)/,
  );

  const bad = join(e2e.work, 'bad.yaml');
  await writeFile(
    bad,
    `name: bad
title: Bad
objective: o
hypothesis: h
${PEOPLE}steps:
  - { id: a, kind: manual, owner: nobody }
  - { id: b, kind: experiment, experiment: missing.yaml }
  - { id: c, kind: decision, question: q?, options: [{ label: x, then: nowhere }, { label: later }] }
`,
  );
  const r = await runCli(['gameday', 'validate', bad], { env: e2e.env });
  assert.equal(r.code, 2, r.stderr);
  assert.doesNotMatch(r.stderr, STACK);
  assert.match(r.stderr, /bad\.yaml: 2 problems/);
  assert.match(r.stderr, /steps\[0\]\.owner: "nobody" is neither a participant .* \(.*bad\.yaml:10:\d+\)/);
  assert.match(
    r.stderr,
    /steps\[2\]\.options\[0\]\.then: "nowhere" is not one of the steps .*bad\.yaml:12:\d+/,
  );

  // Once the plan itself is valid, its experiments are checked (the file, then its content).
  await writeFile(
    bad,
    (await readFile(bad, 'utf8'))
      .replace('owner: nobody', 'owner: bob')
      .replace('then: nowhere', 'then: end'),
  );
  const exp = await runCli(['gameday', 'validate', bad], { env: e2e.env });
  assert.equal(exp.code, 2, exp.stderr);
  assert.match(
    exp.stderr,
    /steps\[1\]\.experiment: missing\.yaml: Path ".*missing\.yaml" does not exist \(.*bad\.yaml:11:\d+\)/,
  );

  const missing = await runCli(['gameday', 'validate', join(e2e.work, 'nope.yaml')], { env: e2e.env });
  assert.equal(missing.code, 2);
  assert.doesNotMatch(missing.stderr, STACK);
});

test('schema: prints the JSON Schema of the plan format', async () => {
  const r = await runCli(['gameday', 'schema'], { env: e2e.env });
  assert.equal(r.code, 0, r.stderr);
  const schema = JSON.parse(r.stdout);
  assert.equal(schema.$id, 'https://faultline.dev/schemas/gameday-plan.schema.json');
  assert.ok(schema.properties.success_criteria);
});

test('run: the example game day with --yes: every step announced with its owner, real faults, criteria met, reports written', async () => {
  const html = join(e2e.work, 'example.html');
  const md = join(e2e.work, 'example.md');
  const journals = join(e2e.work, 'journals');
  const r = await runCli(
    [
      'gameday',
      'run',
      EXAMPLE,
      '--yes',
      '--report',
      html,
      '--report',
      `markdown=${md}`,
      '--journal-dir',
      journals,
    ],
    { env: e2e.env },
  );
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n');
  const stamped = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO\] /;
  const at = (re: RegExp) => {
    const i = lines.findIndex((l) => stamped.test(l) && re.test(l));
    assert.ok(i >= 0, `${re} in:\n${r.stderr}`);
    return i;
  };
  // In order: the manual check (auto-confirmed), the experiment with its owner, the wait, the decision.
  const order = [
    at(/baseline: started \(manual\) Dashboards are green, owner bob \(technical-lead\)/),
    at(/baseline: confirmed by .* \(--yes\)/),
    at(/lose-a-replica: started \(experiment\) One replica goes down for 3 seconds, owner bob/),
    at(/lose-a-replica: run started \(/),
    at(/fault injected: marker-file/),
    at(/lose-a-replica: run ended: passed/),
    at(/soak: ok after/),
    at(/go-on: .* chose "continue" \(automatic\)/),
    at(/longer-outage: run ended: passed/),
    at(/game day ended: finished/),
  ];
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  );
  assert.match(r.stderr, /Game day replica-loss FINISHED: every step done, exit code 0/);
  assert.match(r.stderr, /✓ recovery: .*: met \(/);
  assert.match(r.stderr, /✓ errors: .*: met \(\d+(\.\d+)?%\)/);
  assert.match(r.stderr, /… noticed: .*: manual/);
  assert.deepEqual((await readdir(journals)).sort(), ['longer-outage.json', 'lose-a-replica.json']);

  const page = await readFile(html, 'utf8');
  assert.match(page, /data-status="finished"/);
  for (const id of ['recovery', 'errors', 'hypothesis', 'healthy-after'])
    assert.match(page, new RegExp(`data-criterion="${id}" data-verdict="met"`));
  assert.match(page, /data-criterion="noticed" data-verdict="manual"/);
  assert.match(page, new RegExp(`<a href="${join(journals, 'lose-a-replica.json')}">`));
  assert.doesNotMatch(page, /<script/i);
  const text = await readFile(md, 'utf8');
  assert.match(text, /^# Game day: The service rides out the loss of one replica/);
  assert.match(text, /- \[ \] Alert on a replica's loss within a minute \(owner bob\)/);
});

test('run: answers, notes and a decision to roll back from a script on stdin; who and what land in the report', async () => {
  const dir = join(e2e.work, 'scripted');
  await mkdir(dir, { recursive: true });
  const plan = join(dir, 'plan.yaml');
  await writeFile(
    plan,
    `name: scripted
title: Scripted
objective: o
hypothesis: h
${PEOPLE}steps:
  - { id: check, kind: manual, title: Dashboards green, owner: technical-lead }
  - id: go-on
    kind: decision
    owner: incident-commander
    question: Go on?
    options: [{ label: continue }, { label: roll back, then: rollback }]
  - { id: never, kind: manual, owner: carol }
success_criteria:
  - { id: comms, description: Status page updated, measure: { kind: manual } }
rollback:
  steps:
    - { id: undo, kind: manual, owner: bob }
`,
  );
  const report = join(dir, 'report.md');
  const r = await runCli(['gameday', 'run', plan, '--answers-from-stdin', '--report', report], {
    env: e2e.env,
    input: 'note: starting <b>now</b>\ny all green\nmaybe\n2\nyes undone\nn nobody did it\n',
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /check: bob \(technical-lead\), Dashboards green: confirm \(y\/n, a note may follow\)/,
  );
  assert.match(r.stderr, /check: confirmed by bob: all green/);
  assert.match(r.stderr, /WARN\] not an answer: maybe/);
  assert.match(r.stderr, /go-on: alice chose "roll back" → rollback/);
  assert.match(r.stderr, /undo: confirmed by bob: undone/);
  assert.match(r.stderr, /criterion comms judged not-met by alice: nobody did it/);
  assert.match(r.stderr, /Game day scripted STOPPED: alice chose "roll back": roll back, exit code 1/);
  assert.doesNotMatch(r.stderr, /never: started/);
  const md = await readFile(report, 'utf8');
  assert.match(md, /\| carol \| check \| starting &lt;b&gt;now&lt;\/b&gt; \|/);
  assert.match(md, /\| comms: Status page updated \| ❌ not met \|/);
  assert.match(md, /rollback plan started \(alice chose "roll back": roll back\)/);

  // Stdin closes before a question is answered: the step fails clearly, the rollback plan still runs.
  const eof = await runCli(['gameday', 'run', plan, '--answers-from-stdin'], { env: e2e.env, input: '' });
  assert.equal(eof.code, 1, eof.stderr);
  assert.match(eof.stderr, /check: failed .*no answer \(stdin closed\)/);
  assert.doesNotMatch(eof.stderr, STACK);

  // Without a terminal, --yes or a script, nobody could answer: refused before anything runs.
  const refused = await runCli(['gameday', 'run', plan], { env: e2e.env });
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /no terminal to ask on: check \(manual\), go-on \(decision\), never \(manual\), undo \(manual\) need someone to answer/,
  );
  assert.doesNotMatch(refused.stderr, /game day started/);
  const choose = await runCli(['gameday', 'run', plan, '--yes', '--choose', 'go-on=nope'], { env: e2e.env });
  assert.equal(choose.code, 2);
  assert.match(
    choose.stderr,
    /--choose: 'nope' is not an option of go-on \(expected 'continue', 'roll back'\)/,
  );
});

test('run: Ctrl-C while an experiment holds its fault interrupts it, reverts the fault, runs the rollback plan', async () => {
  const dir = join(e2e.work, 'sigint');
  await mkdir(dir, { recursive: true });
  const marker = join(dir, 'degraded');
  await writeFile(join(dir, 'hold.yaml'), HOLD(marker));
  const plan = join(dir, 'plan.yaml');
  await writeFile(
    plan,
    `name: stopped
title: Stopped
objective: o
hypothesis: h
${PEOPLE}steps:
  - { id: hold, kind: experiment, experiment: hold.yaml, owner: bob }
  - { id: after, kind: manual, owner: carol }
success_criteria:
  - { id: held, description: The hypothesis held, measure: { kind: verdict, step: hold } }
rollback:
  description: Check that the marker is gone.
  steps:
    - { id: check-gone, kind: manual, title: The marker is gone, owner: bob }
`,
  );
  const html = join(dir, 'report.html');
  const cli = startCli(['gameday', 'run', plan, '--yes', '--report', html], {
    env: e2e.env,
    hangMs: 240_000,
  });
  await cli.waitFor(/hold: run started/, 120_000);
  await until('the fault is in place', () => existsSync(marker), 120_000);
  cli.child.kill('SIGINT');
  const r = await cli.done;
  assert.equal(r.code, 1, r.stderr);
  assert.equal(existsSync(marker), false, 'the fault was reverted');
  assert.match(r.stderr, /Ctrl-C: stopping; the step in progress is interrupted/);
  assert.match(r.stderr, /WARN\] stop requested by .*: Ctrl-C/);
  assert.match(r.stderr, /fault reverted: marker-file/);
  assert.match(r.stderr, /hold: run ended: interrupted/);
  assert.match(r.stderr, /hold: interrupted after/);
  assert.match(r.stderr, /check-gone: confirmed by .* \(--yes\)/);
  assert.match(r.stderr, /rollback plan finished: done/);
  assert.match(r.stderr, /Game day stopped STOPPED: stopped by .*: Ctrl-C, exit code 1/);
  assert.match(r.stderr, /✗ held: The hypothesis held: not-met \(interrupted\)/);
  assert.doesNotMatch(r.stderr, /after: started/);
  const page = await readFile(html, 'utf8');
  assert.match(page, /data-status="stopped"/);
  assert.match(page, /<tr class="ev-stop-requested">/);
  assert.match(page, /<p class="text">Check that the marker is gone\.<\/p>/);
});

/**
 * The CLI on a pseudo-terminal (`script`): each time the output shows the next pattern, the matching keys are
 * typed. Resolves when the CLI exits.
 */
function onTerminal(
  args: string[],
  dialogue: [RegExp, string][],
): Promise<{ code: number | null; out: string }> {
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qec', cmd, '/dev/null'], {
    cwd: ROOT,
    env: { ...process.env, ...e2e.env, NO_COLOR: '1' },
  });
  let out = '';
  let from = 0;
  const steps = [...dialogue];
  child.stdin.on('error', () => undefined); // the terminal may close before a write lands
  child.stdout.on('data', (d) => {
    out += d;
    const next = steps[0];
    if (!next) return;
    const m = next[0].exec(out.slice(from));
    if (!m) return;
    from += m.index + m[0].length;
    steps.shift();
    child.stdin.write(next[1]);
  });
  const hang = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(hang);
      resolve({ code, out });
    }),
  );
}

test('run on a terminal: the owner confirms with a note, a note is typed, Ctrl-C stops the wait, the rollback and a criterion are answered', async () => {
  const dir = join(e2e.work, 'tty');
  await mkdir(dir, { recursive: true });
  const plan = join(dir, 'plan.yaml');
  await writeFile(
    plan,
    `name: on-a-terminal
title: On a terminal
objective: o
hypothesis: h
${PEOPLE}steps:
  - { id: check, kind: manual, title: Dashboards green, owner: technical-lead }
  - { id: soak, kind: wait, duration: 1h }
success_criteria:
  - { id: comms, description: Status page updated, measure: { kind: manual } }
rollback:
  steps:
    - { id: undo, kind: manual, owner: bob }
`,
  );
  const md = join(dir, 'report.md');
  const r = await onTerminal(
    ['gameday', 'run', plan, '--report', md],
    [
      [/check: bob \(technical-lead\), Dashboards green: confirm \(y\/n/, 'note: typed on the terminal\r'],
      [/note by carol: typed on the terminal/, 'y all green\r'],
      [/soak: started/, '\x03'],
      [/undo: bob, confirm \(y\/n/, 'y undone\r'],
      [/criterion comms: alice, Status page updated: met\? \(y\/n/, 'n not yet\r'],
    ],
  );
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /check: confirmed by bob: all green/);
  assert.match(r.out, /Ctrl-C: stopping/);
  assert.match(r.out, /soak: interrupted after/);
  assert.match(r.out, /undo: confirmed by bob: undone/);
  assert.match(r.out, /criterion comms judged not-met by alice: not yet/);
  assert.match(r.out, /Game day on-a-terminal STOPPED: stopped by .*: Ctrl-C, exit code 1/);
  const text = await readFile(md, 'utf8');
  assert.match(text, /\| carol \| check \| typed on the terminal \|/);
  assert.match(text, /stop requested by .*: Ctrl-C/);
});

test('run: an experiment tagged for production asks for approval like `faultline run`; refused, its step fails and the rollback runs', async () => {
  const dir = join(e2e.work, 'production');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'settings.yaml'), 'production_tags: [production]\n');
  const marker = join(dir, 'prod-marker');
  await writeFile(
    join(dir, 'prod.yaml'),
    `title: A production experiment
description: Creates and removes a marker.
tags: [production]
method:
  - type: action
    name: create-marker
    provider: { type: faultline, module: faultline.marker, func: create, arguments: { path: ${JSON.stringify(marker)}, duration: 60 } }
  - type: action
    name: remove-marker
    provider: { type: faultline, module: faultline.marker, func: remove, arguments: { path: ${JSON.stringify(marker)} } }
`,
  );
  const plan = join(dir, 'plan.yaml');
  await writeFile(
    plan,
    `name: production
title: Production
objective: o
hypothesis: h
${PEOPLE}steps:
  - { id: prod, kind: experiment, experiment: prod.yaml, owner: bob }
rollback:
  steps:
    - { id: undo, kind: manual, owner: bob }
`,
  );
  const settings = join(dir, 'settings.yaml');
  // Scripted: the approval question is answered no, the rollback's check yes.
  const no = await runCli(['gameday', 'run', plan, '--settings', settings, '--answers-from-stdin'], {
    env: e2e.env,
    input: 'n\ny\n',
  });
  assert.equal(no.code, 1, no.stderr);
  assert.match(no.stderr, /This experiment is tagged 'production'\. Run it\?/);
  assert.match(no.stderr, /prod: run ended: refused/);
  assert.match(no.stderr, /prod: failed .*/);
  assert.match(no.stderr, /undo: confirmed by bob/);
  assert.match(no.stderr, /Game day production FAILED/);
  // --yes approves it (recorded in the run's journal as a local approval).
  const journals = join(dir, 'journals');
  const yes = await runCli(
    ['gameday', 'run', plan, '--settings', settings, '--yes', '--journal-dir', journals],
    {
      env: e2e.env,
    },
  );
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stderr, /prod: run ended: passed/);
  assert.ok(existsSync(join(journals, 'prod.json')));
});
