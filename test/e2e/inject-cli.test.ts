/**
 * End to end: `faultline inject` (ad-hoc faults, reverted by their duration,
 * Ctrl-C or `faultline halt`), and the blast radius and safeguards a settings
 * file or an experiment declares, through the built CLI.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cliSuite, journalOf, ROOT, runCli, startCli } from '../helpers/cli.js';

const e2e = cliSuite('faultline-inject-');
let n = 0;
const fresh = (name: string) => join(e2e.work, `${name}-${++n}`);

describe('faultline inject', () => {
  test('without a fault it lists every exposed fault with its arguments', async () => {
    const r = await runCli(['inject'], { env: e2e.env });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^marker\.create$/m);
    assert.match(r.stdout, /path {2}the file to create/);
  });

  test('the fault lasts its --duration, then is reverted and verified', async () => {
    const flag = fresh('flag');
    const cli = startCli(
      ['inject', 'marker.create', `path=${flag}`, 'content=on', '--duration', '1s', '--json'],
      {
        env: e2e.env,
      },
    );
    await cli.waitFor(/injected on file/);
    assert.equal(await readFile(flag, 'utf8'), 'on');
    const r = await cli.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(flag), false);
    const out = JSON.parse(r.stdout);
    assert.equal(out.fault, 'marker.create');
    assert.equal(out.verified, true);
    assert.equal(out.ended_by, 'its duration elapsed');
    assert.ok(out.seconds >= 0.9 && out.seconds < 5, String(out.seconds));
    assert.deepEqual(out.targets, [{ type: 'file', name: flag }]);
  });

  test('Ctrl-C reverts at once', async () => {
    const flag = fresh('flag');
    const cli = startCli(['inject', 'marker.create', `path=${flag}`, '--duration', '5m'], { env: e2e.env });
    await cli.waitFor(/injected on file/);
    assert.ok(existsSync(flag));
    cli.child.kill('SIGINT');
    const r = await cli.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /reverted and verified after .* \(interrupted by SIGINT\)/);
    assert.equal(existsSync(flag), false);
  });

  test('--until-halt lasts until `faultline halt` from another terminal', async () => {
    const flag = fresh('flag');
    const cli = startCli(['inject', 'marker.create', `path=${flag}`, '--until-halt'], { env: e2e.env });
    await cli.waitFor(/until `faultline halt`/);
    try {
      const halt = await runCli(['halt', '--reason', 'test'], { env: e2e.env });
      assert.equal(halt.code, 0, halt.stderr);
      const r = await cli.done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /halted by `faultline halt`/);
      assert.equal(existsSync(flag), false);
      const refused = await runCli(['inject', 'marker.create', `path=${fresh('flag')}`, '--duration', '1s'], {
        env: e2e.env,
      });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /a halt is in force/);
    } finally {
      assert.equal((await runCli(['halt', '--release'], { env: e2e.env })).code, 0);
    }
  });

  test('bad input: exit 2 with one line naming the argument', async () => {
    const cases: [string[], RegExp][] = [
      [['inject', 'marker.create', `path=${fresh('x')}`], /--duration: required/],
      [
        ['inject', 'marker.create', `path=${fresh('x')}`, '--duration', 'soon'],
        /--duration: expected a duration/,
      ],
      [
        ['inject', 'marker.create', `path=${fresh('x')}`, '--duration', '1s', '--until-halt'],
        /--until-halt: expected either/,
      ],
      [
        ['inject', 'nope.nothing', '--duration', '1s'],
        /<fault>: unknown fault 'nope\.nothing' \(expected one of: .*marker\.create/,
      ],
      [['inject', 'marker.create', 'path', '--duration', '1s'], /argument 'path': expected key=value/],
      [
        ['inject', 'marker.create', 'content=x', '--duration', '1s'],
        /marker-file: path: expected a file path/,
      ],
      [['inject', 'marker.create', '--args', '[1]', '--duration', '1s'], /--args: expected a JSON object/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args, { env: e2e.env });
      assert.equal(r.code, 2, `${args.join(' ')}\n${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});

describe('a host fault from the command line', () => {
  test('a name matching two processes: refused (exit 2) with both listed; --dry-run shows the choice; mode=newest pauses the one started last', async () => {
    const title = `fl-amb-${process.pid}`;
    const start = async () => {
      const t = spawn(process.execPath, [join(ROOT, 'test/fixtures/process/ticker.mjs'), title], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      await new Promise((resolve) => t.stdout!.once('data', resolve));
      return t;
    };
    const [older, newer] = [await start(), await start()];
    const state = (pid?: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    try {
      const refused = await runCli(['inject', 'process.pause', `name=${title}`, '--duration', '1s'], {
        env: e2e.env,
      });
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(
        refused.stderr,
        new RegExp(`mode: name=${title} matches 2 processes and the fault acts on one`),
      );
      assert.match(refused.stderr, /say which with mode=oldest, mode=newest, mode=random or mode=all/);
      for (const t of [older, newer])
        assert.match(refused.stderr, new RegExp(`pid ${t.pid} {2}started .* ${title}`));
      assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
      assert.notEqual(state(older.pid), 'T');
      assert.notEqual(state(newer.pid), 'T');

      const dry = await runCli(['inject', 'process.pause', `name=${title}`, 'mode=newest', '--dry-run'], {
        env: e2e.env,
      });
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /^process\.pause \(dry run: nothing injected\)/);
      assert.match(dry.stdout, new RegExp(`^ {4}pid ${older.pid} `, 'm'), 'the older one listed, not chosen');
      assert.match(dry.stdout, new RegExp(`^ {2}\\* pid ${newer.pid} `, 'm'), 'the newer one chosen');
      assert.match(
        dry.stdout,
        new RegExp(`chosen: the newest of 2 processes matching name=${title} \\(mode newest`),
      );
      assert.notEqual(state(newer.pid), 'T', 'a dry run pauses nothing');
      const json = await runCli(['inject', 'process.pause', `name=${title}`, '--dry-run', '--json'], {
        env: e2e.env,
      });
      assert.equal(json.code, 2, 'the dry run refuses the ambiguity too');
      const asJson = await runCli(
        ['inject', 'process.pause', `name=${title}`, 'mode=oldest', '--dry-run', '--json'],
        { env: e2e.env },
      );
      const report = JSON.parse(asJson.stdout);
      assert.equal(report.dry_run, true);
      assert.match(report.selection, /^the oldest of 2 processes matching/);
      assert.deepEqual(
        report.candidates.map((c: { pid: number; chosen: boolean }) => [c.pid, c.chosen]),
        [
          [older.pid, true],
          [newer.pid, false],
        ],
      );

      const cli = startCli(['inject', 'process.pause', `name=${title}`, 'mode=newest', '--duration', '1s'], {
        env: e2e.env,
      });
      await cli.waitFor(
        new RegExp(`injected process name=${title} \\(mode newest\\) on process '.*' \\(pid ${newer.pid}\\)`),
      );
      assert.equal(state(newer.pid), 'T', 'the newer one paused');
      assert.notEqual(state(older.pid), 'T', 'the older one left alone');
      const r = await cli.done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`chosen: the newest of 2 processes matching name=${title}`));
      assert.notEqual(state(newer.pid), 'T', 'resumed');
    } finally {
      older.kill('SIGKILL');
      newer.kill('SIGKILL');
    }
  });

  test('a host fault names what it does and the host it runs on, not "host \'cpu\'"', async () => {
    // Long enough for the worker to start on a loaded machine (the duration also bounds the injection).
    const r = await runCli(['inject', 'stress.cpu', 'workers=1', 'load=5', '--duration', '3s'], {
      env: e2e.env,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /stress\.cpu: injected cpu 1 x 5% on localhost \(fault [0-9a-z]{8}\)/);
    assert.doesNotMatch(r.stderr, /host 'cpu'/);
    const dry = await runCli(['inject', 'network.loss', 'percent=50', 'namespace=nowhere', '--dry-run'], {
      env: e2e.env,
    });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      /network\.loss \(dry run: nothing injected\): loss 50% ns=nowhere both\nwould act on network 'nowhere:all' in namespace nowhere/,
    );
  });

  test('process.pause stops a real process for --duration, then resumes it', async () => {
    const ticker = spawn(
      process.execPath,
      [join(ROOT, 'test/fixtures/process/ticker.mjs'), `fl-cli-${process.pid}`],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    try {
      await new Promise((resolve) => ticker.stdout!.once('data', resolve));
      const state = () => readFileSync(`/proc/${ticker.pid}/stat`, 'utf8').split(') ')[1]?.[0];
      const cli = startCli(['inject', 'process.pause', `pid=${ticker.pid}`, '--duration', '1s'], {
        env: e2e.env,
      });
      await cli.waitFor(/process\.pause: injected process pid \d+ on process '.*' \(pid \d+\)/);
      assert.equal(state(), 'T', 'stopped while the fault lasts');
      const r = await cli.done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /reverted and verified after .* \(its duration elapsed\)/);
      assert.notEqual(state(), 'T', 'resumed');
    } finally {
      ticker.kill('SIGKILL');
    }
  });
});

describe('blast radius', () => {
  test("the settings file's blast radius refuses an ad-hoc fault before it acts", async () => {
    const settings = join(e2e.work, 'block.yaml');
    await writeFile(settings, `blast_radius:\n  block:\n    - {type: file, name: '*/forbidden-*'}\n`);
    const flag = fresh('forbidden');
    const r = await runCli(
      ['inject', 'marker.create', `path=${flag}`, '--duration', '1s', '--settings', settings],
      {
        env: e2e.env,
      },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /blast radius: block \(the settings file's blast_radius\): marker-file .* would touch file '.*forbidden-\d+'/,
    );
    assert.equal(existsSync(flag), false);
  });

  const experiment = (paths: string[], extra: Record<string, unknown> = {}) => ({
    title: 'markers',
    description: 'creates markers',
    method: paths.map((path, i) => ({
      type: 'action',
      name: `marker-${i}`,
      provider: {
        type: 'faultline',
        module: 'faultline.marker',
        func: 'create',
        arguments: { path, duration: 60 },
      },
    })),
    ...extra,
  });

  test("the experiment's blast radius refuses the run before anything is injected (exit 2, naming the rule)", async () => {
    const a = fresh('ok');
    const b = fresh('outside');
    const file = join(e2e.work, 'allow.json');
    await writeFile(
      file,
      JSON.stringify(
        experiment([a, b], { blast_radius: { allow: [{ type: 'file', name: `${e2e.work}/ok-*` }] } }),
      ),
    );
    const journal = join(e2e.work, 'allow-journal.json');
    const r = await runCli(['run', file, '--journal-path', journal], { env: e2e.env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /blast radius: allow \(the experiment's blast_radius\): action 'marker-1' would touch file '.*outside-\d+'.*refused before anything was injected/,
    );
    assert.equal(existsSync(a), false, 'nothing was injected');
    assert.equal(existsSync(journal), false);
  });

  test("the seeds' camelCase blastRadius and a run-wide max_targets: the run stops at the fault too many (exit 2)", async () => {
    const paths = [fresh('m'), fresh('m'), fresh('m')];
    const file = join(e2e.work, 'max.json');
    await writeFile(file, JSON.stringify(experiment(paths, { blastRadius: { maxTargets: 2 } })));
    const journalPath = join(e2e.work, 'max-journal.json');
    const r = await runCli(['run', file, '--journal-path', journalPath], { env: e2e.env });
    assert.equal(r.code, 2, r.stderr);
    const journal = await journalOf(journalPath);
    assert.equal(journal.status, 'aborted');
    assert.match(
      journal.faultline.blast_radius.violation,
      /max_targets \(the experiment's blastRadius\): marker-file .* would bring the run to 3 targets \(2 already held/,
    );
    assert.equal(journal.run.length, 3);
    assert.equal(journal.run[2].status, 'failed');
    assert.equal(journal.faultline.faults.length, 2);
    assert.ok(journal.faultline.faults.every((f: { verified: boolean }) => f.verified));
    for (const p of paths) assert.equal(existsSync(p), false);
  });
});

describe('settings-file safeguards', () => {
  test('a safeguard declared in the settings file stops any run that breaches it', async () => {
    const flag = fresh('flag');
    const settings = join(e2e.work, 'guards.yaml');
    await writeFile(
      settings,
      [
        'safeguards:',
        '  - type: probe',
        '    name: no-flag',
        '    frequency: 0.1',
        `    provider: {type: faultline, module: faultline.marker, func: exists, arguments: {path: '${flag}'}}`,
        '    tolerance: false',
      ].join('\n'),
    );
    const file = join(e2e.work, 'guarded.json');
    await writeFile(
      file,
      JSON.stringify({
        title: 'guarded',
        description: 'the safeguard trips when the flag appears',
        method: [
          {
            type: 'action',
            name: 'raise-flag',
            provider: {
              type: 'faultline',
              module: 'faultline.marker',
              func: 'create',
              arguments: { path: flag },
            },
            pauses: { after: 20 },
          },
        ],
      }),
    );
    const journalPath = join(e2e.work, 'guarded-journal.json');
    const started = Date.now();
    const r = await runCli(['run', file, '--settings', settings, '--journal-path', journalPath], {
      env: e2e.env,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(Date.now() - started < 15_000, 'stopped long before the 20 s pause ended');
    const journal = await journalOf(journalPath);
    assert.equal(journal.status, 'interrupted');
    assert.equal(journal.faultline.safeguard.name, 'no-flag');
    assert.equal(existsSync(flag), false);
  });

  test('a malformed settings safeguard is exit 2 naming the field', async () => {
    const settings = join(e2e.work, 'bad-guards.yaml');
    await writeFile(
      settings,
      'safeguards:\n  - type: probe\n    name: x\n    provider: {type: faultline, module: faultline.marker, func: exists, arguments: {path: /x}}\n',
    );
    const file = join(e2e.work, 'plain.json');
    await writeFile(file, JSON.stringify({ title: 't', description: 'd', method: [] }));
    const r = await runCli(
      ['run', file, '--settings', settings, '--journal-path', join(e2e.work, 'j.json')],
      {
        env: e2e.env,
      },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--settings: .*bad-guards\.yaml: safeguards\.0\.tolerance/);
  });
});
