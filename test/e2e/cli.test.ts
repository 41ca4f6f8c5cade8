/**
 * End to end: the built CLI on the files in examples/, asserting the journal
 * and the exit code, including Ctrl-C mid-method and SIGKILL + recover.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { BIN, cliSuite, journalOf, ROOT, runCli, startCli } from '../helpers/cli.js';
import { startServer, type TestServer } from '../helpers/server.js';

const e2e = cliSuite('faultline-e2e-');

describe('faultline run', () => {
  test('the quickstart runs end to end and exits 0', async () => {
    const journal = join(e2e.work, 'quickstart.json');
    const r = await runCli(['run', 'examples/quickstart/experiment.yaml', '--journal-path', journal], {
      env: e2e.env,
    });
    assert.equal(r.code, 0, r.stderr);
    const j = await journalOf(journal);
    assert.equal(j.status, 'completed');
    assert.equal(j.deviated, false);
    assert.equal(j.run[1].output.status, 503, 'the fault was observed');
    assert.equal(j.faultline.faults.length, 1);
    assert.equal(j.faultline.faults[0].verified, true);
    assert.match(r.stderr, /Experiment ended with status: completed/);
  });

  test('a Chaos Toolkit process experiment runs unchanged', async () => {
    const journal = join(e2e.work, 'ctk.json');
    const r = await runCli(
      ['run', 'examples/chaostoolkit/check-file-exists.json', '--journal-path', journal],
      {
        env: { ...e2e.env, TARGET_DIR: e2e.work },
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const j = await journalOf(journal);
    assert.equal(j.status, 'completed');
    assert.equal(j.rollbacks.length, 1);
    assert.equal(existsSync(join(e2e.work, 'faultline-ctk-example')), false, 'the rollback ran');
  });

  describe('http experiment', () => {
    let server: TestServer;
    before(async () => {
      server = await startServer((req, res) => {
        res.writeHead(req.url === '/orders' ? 201 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true }));
      });
    });
    after(() => server.close());

    test('http probes, a jsonpath tolerance and a JSON POST', async () => {
      const journal = join(e2e.work, 'http.json');
      const r = await runCli(['run', 'examples/chaostoolkit/http-service.json', '--journal-path', journal], {
        env: { ...e2e.env, SERVICE_URL: server.url },
      });
      assert.equal(r.code, 0, r.stderr);
      const j = await journalOf(journal);
      assert.equal(j.run[0].output.status, 201);
      const post = server.requests.find((q) => q.url === '/orders');
      assert.deepEqual(JSON.parse(post!.body), { item: 'book', quantity: 2 });
    });

    test('--var overrides a configuration value', async () => {
      const journal = join(e2e.work, 'http-var.json');
      const r = await runCli(
        [
          'run',
          'examples/chaostoolkit/http-service.json',
          '--journal-path',
          journal,
          '--var',
          `base_url=${server.url}`,
        ],
        { env: e2e.env },
      );
      assert.equal(r.code, 0, r.stderr);
    });
  });

  test('invalid input exits 2 with the path and position, no stack trace', async () => {
    const bad = join(e2e.work, 'bad.yaml');
    await writeFile(
      bad,
      'title: x\ndescription: y\nmethod:\n  - type: action\n    name: a\n    provider:\n      type: http\n',
    );
    const r = await runCli(['run', bad, '--journal-path', join(e2e.work, 'bad.json')], { env: e2e.env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /method\[0\]\.provider\.url/);
    assert.match(r.stderr, /line 7:\d+/);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
    assert.equal(existsSync(join(e2e.work, 'bad.json')), false);
  });

  test('a missing file and a bad option exit 2', async () => {
    assert.equal((await runCli(['run', join(e2e.work, 'nope.json')], { env: e2e.env })).code, 2);
    assert.equal(
      (await runCli(['run', 'examples/long-fault.yaml', '--dry', 'everything'], { env: e2e.env })).code,
      2,
    );
    assert.equal(
      (await runCli(['run', 'examples/long-fault.yaml', '--var', 'novalue'], { env: e2e.env })).code,
      2,
    );
    assert.equal((await runCli(['frobnicate'], { env: e2e.env })).code, 2);
    const bad = await runCli(['run', 'examples/long-fault.yaml', '--max-duration', 'soon'], { env: e2e.env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--max-duration: expected a duration/);
    for (const [flag, value, message] of [
      ['--max-misses', '1.5', /--max-misses: expected a whole number of checks \(0 or more\), got '1\.5'/],
      ['--max-misses', '-1', /--max-misses: expected a whole number/],
      [
        '--max-miss-ratio',
        '2',
        /--max-miss-ratio: expected a ratio between 0 and 1 \(e\.g\. 0\.2\), got '2'/,
      ],
    ] as const) {
      const r = await runCli(['run', 'examples/long-fault.yaml', flag, value], { env: e2e.env });
      assert.equal(r.code, 2, `${flag} ${value}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
    }
  });

  test('misses during the method exit 1 (Chaos Toolkit status completed); --max-misses tolerates them', async () => {
    const marker = join(e2e.work, 'during.marker');
    const seen = join(e2e.work, 'during.seen');
    const file = join(e2e.work, 'during.yaml');
    // The probe misses while the marker fault is in place and leaves `seen` behind; the method holds the
    // fault until a check has missed, then reverts it, so the check after the method holds.
    await writeFile(
      file,
      `title: misses during the method
description: the steady state breaks while the fault is in place and holds again after it
runtime: { hypothesis: { strategy: continuously, frequency: 0.1 } }
steady-state-hypothesis:
  title: no marker
  probes:
    - type: probe
      name: no-marker
      tolerance: 0
      provider: { type: process, path: sh, arguments: ['-c', 'if [ -e "${marker}" ]; then touch "${seen}"; exit 1; fi'] }
method:
  - type: action
    name: inject
    provider: { type: faultline, module: faultline.marker, func: create, arguments: { path: "${marker}", duration: 60 } }
  - type: action
    name: hold-until-a-check-missed
    provider: { type: process, path: sh, arguments: ['-c', 'while [ ! -e "${seen}" ]; do sleep 0.05; done'] }
  - type: action
    name: end-the-fault
    provider: { type: faultline, module: faultline.faults, func: revert }
`,
    );
    const journal = join(e2e.work, 'during.json');
    const r = await runCli(['run', file, '--journal-path', journal], { env: e2e.env });
    assert.equal(r.code, 1, r.stderr);
    const j = await journalOf(journal);
    assert.equal(j.status, 'completed');
    assert.equal(j.deviated, false);
    assert.equal(j.faultline.verdict.kind, 'deviated');
    assert.match(j.faultline.verdict.reasons[0], /checks during the method \(tolerated: at most 0\)/);

    await rm(seen);
    const ok = await runCli(['run', file, '--journal-path', journal, '--max-misses', '1000'], {
      env: e2e.env,
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await journalOf(journal)).faultline.verdict.kind, 'passed');
    assert.equal(existsSync(marker), false);
  });

  test('Ctrl-C mid-method: interrupted, journal written, fault reverted, exit 1', async () => {
    const marker = join(e2e.work, 'ctrl-c.marker');
    const journal = join(e2e.work, 'ctrl-c.json');
    const cli = startCli(['run', 'examples/long-fault.yaml', '--journal-path', journal], {
      env: { ...e2e.env, MARKER_PATH: marker },
    });
    await cli.waitFor(/create-marker' succeeded/);
    assert.ok(existsSync(marker));
    cli.child.kill('SIGINT');
    const r = await cli.done;
    assert.equal(r.code, 1, r.stderr);
    const j = await journalOf(journal);
    assert.equal(j.status, 'interrupted');
    assert.equal(j.run.length, 1);
    assert.equal(existsSync(marker), false, 'the fault was reverted');
    assert.equal(j.faultline.faults[0].verified, true);
  });

  test('SIGTERM mid-method is an interrupt too', async () => {
    const marker = join(e2e.work, 'term.marker');
    const journal = join(e2e.work, 'term.json');
    const cli = startCli(['run', 'examples/long-fault.yaml', '--journal-path', journal], {
      env: { ...e2e.env, MARKER_PATH: marker },
    });
    await cli.waitFor(/create-marker' succeeded/);
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    assert.equal(r.code, 1, r.stderr);
    assert.equal((await journalOf(journal)).status, 'interrupted');
    assert.equal(existsSync(marker), false);
  });

  test('global controls from a --settings file wrap the run', async () => {
    const settings = join(e2e.work, 'settings.yaml');
    const seen = join(e2e.work, 'seen.txt');
    const control = join(e2e.work, 'global-control.mjs');
    await writeFile(
      control,
      `import { appendFileSync } from 'node:fs';\nexport function beforeLoadingExperiment(c) { appendFileSync(${JSON.stringify(seen)}, 'loading ' + c.source + '\\n'); }\nexport function afterExperiment(c) { appendFileSync(${JSON.stringify(seen)}, 'status ' + c.state.status + '\\n'); }\n`,
    );
    await writeFile(
      settings,
      `controls:\n  audit:\n    provider:\n      type: node\n      module: ${control}\n`,
    );
    const r = await runCli(
      [
        'run',
        'examples/quickstart/experiment.yaml',
        '--settings',
        settings,
        '--journal-path',
        join(e2e.work, 's.json'),
      ],
      { env: e2e.env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await readFile(seen, 'utf8'),
      'loading examples/quickstart/experiment.yaml\nstatus completed\n',
    );
  });

  test('policies: a production-tagged run needs --yes; time windows refuse runs outside them', async () => {
    const exp = join(e2e.work, 'prod.yaml');
    await writeFile(exp, 'title: t\ndescription: d\ntags: [production]\nmethod: []\n');
    const journal = join(e2e.work, 'prod.json');
    const refused = await runCli(['run', exp, '--journal-path', journal], { env: e2e.env });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /production_tags: the experiment is tagged 'production' and needs approval/);
    const approved = await runCli(['run', exp, '--yes', '--journal-path', journal], { env: e2e.env });
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal((await journalOf(journal)).faultline.policy.approval.by, '--yes');

    const settings = join(e2e.work, 'windows.yaml');
    const hour = new Date().getUTCHours();
    const closed = `${String((hour + 2) % 24).padStart(2, '0')}:00`;
    const reopen = `${String((hour + 3) % 24).padStart(2, '0')}:00`;
    await writeFile(settings, `time_windows:\n  - start: "${closed}"\n    end: "${reopen}"\n`);
    const outside = await runCli(['run', exp, '--yes', '--settings', settings, '--journal-path', journal], {
      env: e2e.env,
    });
    assert.equal(outside.code, 2);
    assert.match(outside.stderr, /time_windows: runs are allowed only in/);
  });

  test('SIGKILL mid-fault: status shows it, recover reverts it', async () => {
    const marker = join(e2e.work, 'kill.marker');
    const cli = startCli(['run', 'examples/long-fault.yaml', '--journal-path', join(e2e.work, 'kill.json')], {
      env: { ...e2e.env, MARKER_PATH: marker },
    });
    await cli.waitFor(/create-marker' succeeded/);
    cli.child.kill('SIGKILL');
    await cli.done;
    assert.ok(existsSync(marker), 'a killed runner cannot revert');

    const status = await runCli(['status', '--json'], { env: { ...e2e.env } });
    // `status` itself recovers leftovers first (the next command reverts them), so
    // read the ledger state via `recover` instead when status already cleaned it.
    assert.equal(status.code, 0, status.stderr);
    const r = await runCli(['recover'], { env: e2e.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(marker), false, 'recover (or the command before it) reverted the fault');
    assert.match(status.stderr + r.stdout + r.stderr, /marker-file/);
  });

  test("halt reverts a running experiment's fault, interrupts it, and blocks new runs until released", async () => {
    const marker = join(e2e.work, 'halt.marker');
    const journal = join(e2e.work, 'halt.json');
    const cli = startCli(['run', 'examples/long-fault.yaml', '--journal-path', journal], {
      env: { ...e2e.env, MARKER_PATH: marker },
    });
    await cli.waitFor(/create-marker' succeeded/);
    const h = await runCli(['halt', '--reason', 'e2e'], { env: e2e.env });
    assert.equal(h.code, 0, h.stderr);
    assert.equal(existsSync(marker), false);
    const r = await cli.done;
    assert.equal(r.code, 1);
    assert.equal((await journalOf(journal)).status, 'interrupted');

    const refused = await runCli(
      ['run', 'examples/quickstart/experiment.yaml', '--journal-path', join(e2e.work, 'x.json')],
      { env: e2e.env },
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /halt is in force/);
    assert.equal((await runCli(['halt', '--release'], { env: e2e.env })).code, 0);
  });
});

describe('TypeScript experiments and the live view', () => {
  test('faultline run experiment.ts runs a typed experiment', async () => {
    const marker = join(e2e.work, 'ts.marker');
    const journal = join(e2e.work, 'ts.json');
    const r = await runCli(['run', 'examples/typescript/experiment.ts', '--journal-path', journal], {
      env: { ...e2e.env, MARKER_PATH: marker },
    });
    assert.equal(r.code, 0, r.stderr);
    const j = await journalOf(journal);
    assert.equal(j.run[1].output, true, 'the marker existed during the method');
    assert.equal(existsSync(marker), false, 'and was reverted at the end');
  });

  test('on a terminal the live view redraws a status line; without one, plain lines only', async (t) => {
    const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
    if (script.status !== 0) {
      t.skip('`script` (util-linux) is not installed: cannot give the CLI a terminal');
      return;
    }
    const journal = join(e2e.work, 'tty.json');
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} run examples/quickstart/experiment.yaml --journal-path ${JSON.stringify(journal)}`;
    const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ...e2e.env, TERM: 'xterm' },
      timeout: 30_000,
    });
    assert.equal(tty.status, 0, tty.stdout);
    assert.match(tty.stdout, /\r\x1b\[K\x1b\[36m. method/, 'a redrawn status line with the phase');
    assert.match(tty.stdout, /action 'degrade-the-service'/);
    const plain = await runCli(['run', 'examples/quickstart/experiment.yaml', '--journal-path', journal], {
      env: e2e.env,
    });
    assert.doesNotMatch(plain.stderr, /\x1b\[/, 'no escape codes when not a terminal');
    const quiet = await runCli(
      ['--quiet', 'run', 'examples/quickstart/experiment.yaml', '--journal-path', journal],
      { env: e2e.env },
    );
    assert.doesNotMatch(quiet.stderr, /steady state \(before\)/);
    assert.match(quiet.stderr, /Experiment ended with status: completed/);
  });
});

describe('other commands', () => {
  test('validate reports every problem of every file; exit 2', async () => {
    const bad = join(e2e.work, 'two-problems.json');
    await writeFile(
      bad,
      JSON.stringify({ title: '', description: 'd', method: [{ type: 'nope', name: 'x' }] }, null, 2),
    );
    const r = await runCli(['validate', bad, 'examples/quickstart/experiment.yaml'], { env: e2e.env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /title/);
    assert.match(r.stderr, /method\[0\]/);
    const ok = await runCli(
      ['validate', 'examples/quickstart/experiment.yaml', 'examples/chaostoolkit/check-file-exists.json'],
      { env: e2e.env },
    );
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('validate and run print each problem once (parse errors, the top level, schema issues)', async () => {
    const files: [string, string, string][] = [
      ['broken.yaml', 'title: t\n  bad: [\n', 'Nested mappings are not allowed in compact mappings'],
      ['broken.json', '{"title": "t",,}', 'expected a property name in double quotes'],
      ['empty.yaml', '', 'an empty experiment is not an experiment'],
      ['list.yaml', '- 1\n', 'expected an object (the experiment) at the top level, got a list'],
      ['no-title.yaml', 'description: d\nmethod: []\n', 'title: required'],
    ];
    for (const [name, text, problem] of files) {
      const path = join(e2e.work, name);
      await writeFile(path, text);
      for (const args of [
        ['validate', path],
        ['run', path, '--journal-path', join(e2e.work, `${name}.json`)],
      ]) {
        const r = await runCli(args, { env: e2e.env });
        assert.equal(r.code, 2, `${args[0]} ${name}: ${r.stderr}`);
        const times = r.stderr.split(problem).length - 1;
        assert.equal(times, 1, `${args[0]} ${name} prints '${problem}' ${times} times:\n${r.stderr}`);
      }
    }
  });

  test("an unknown key ('titel') is a warning with a suggestion: validate exits 0, run prints it and runs", async () => {
    const path = join(e2e.work, 'titel.yaml');
    await writeFile(path, 'title: t\ntitel: typo\ndescription: d\nmethod: []\n');
    const v = await runCli(['validate', path], { env: e2e.env });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stderr, /warning: titel: unknown key 'titel' in the experiment .*did you mean 'title'\?/);
    assert.match(v.stderr, /look valid/);
    const journal = join(e2e.work, 'titel-journal.json');
    const r = await runCli(['run', path, '--journal-path', journal], { env: e2e.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.split("unknown key 'titel'").length - 1, 1, r.stderr);
  });

  test('schema prints a JSON Schema', async () => {
    const r = await runCli(['schema']);
    assert.equal(r.code, 0);
    const s = JSON.parse(r.stdout);
    assert.ok(s.properties.method);
    assert.ok(String(s.$schema).includes('json-schema.org'));
    // The arguments of the built-in activities are there for editors to complete.
    const loss = s.$defs.BuiltinArguments.allOf.find(
      (r: { if: { properties: { func: { const: string } } } }) => r.if.properties.func.const === 'loss',
    );
    assert.ok(loss.then.properties.arguments.properties.percent, 'faultline.network loss: percent');
  });

  test('discover lists built-in activities with argument types', async () => {
    const r = await runCli(['discover', '--json'], { env: e2e.env });
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout);
    const create = d.activities.find(
      (a: { module: string; func: string }) => a.module === 'faultline.marker' && a.func === 'create',
    );
    assert.ok(create);
    assert.deepEqual(
      create.arguments.find((a: { name: string }) => a.name === 'path'),
      {
        name: 'path',
        type: 'string',
        required: true,
        description: 'the file to create (refused if it exists)',
      },
    );
    const table = await runCli(['discover'], { env: e2e.env });
    assert.match(table.stdout, /faultline\.marker create/);
  });

  test('discover FILTER lists only the activities whose module.func contains it; no match exits 2', async () => {
    const r = await runCli(['discover', 'faultline.network', '--json'], { env: e2e.env });
    assert.equal(r.code, 0, r.stderr);
    const names = JSON.parse(r.stdout).activities.map(
      (a: { module: string; func: string }) => `${a.module}.${a.func}`,
    );
    assert.ok(names.includes('faultline.network.loss'), names.join(', '));
    assert.ok(
      names.every((n: string) => n.startsWith('faultline.network.')),
      names.join(', '),
    );
    const one = await runCli(['discover', 'Stress.CPU'], { env: e2e.env });
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /faultline\.stress cpu/);
    assert.doesNotMatch(one.stdout, /faultline\.stress memory|faultline\.marker/);
    const none = await runCli(['discover', 'no-such-thing'], { env: e2e.env });
    assert.equal(none.code, 2);
    assert.match(
      none.stderr,
      /filter: expected part of a built-in module or activity name, got 'no-such-thing'/,
    );
    assert.doesNotMatch(none.stderr, /\n\s+at /, 'no stack trace');
  });

  test('init prompts on a terminal, asks again on an empty or wrong answer, and writes an experiment that validates', async (t) => {
    if (spawnSync('script', ['--version']).status !== 0) {
      t.skip('`script` (util-linux) is not installed: cannot give the CLI a terminal');
      return;
    }
    const path = join(e2e.work, 'prompted.yaml');
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} init --experiment-path ${JSON.stringify(path)}`;
    const child = spawn('script', ['-qec', cmd, '/dev/null'], {
      cwd: ROOT,
      env: { ...process.env, ...e2e.env },
    });
    let screen = '';
    const answers: [RegExp, string][] = [
      [/Experiment title: /, ''],
      [/an answer is needed[\s\S]*Experiment title: /, 'Prompted title'],
      [/What does it test\? /, 'Checks the prompts'],
      [/URL of the service to check: \[http:\/\/127\.0\.0\.1:8080\/health\] /, 'not a url'],
      [/expected an http\(s\) URL, got 'not a url'[\s\S]*URL of the service to check: /, ''],
    ];
    child.stdout.on('data', (d: Buffer) => {
      screen += d.toString();
      const next = answers[0];
      if (next?.[0].test(screen)) {
        answers.shift();
        screen = '';
        child.stdin.write(`${next[1]}\r`);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(answers.length, 0, `every question was asked; left: ${answers[0]?.[0]}; screen: ${screen}`);
    assert.equal(code, 0, screen);
    const text = await readFile(path, 'utf8');
    const doc = parseYaml(text);
    assert.equal(doc.title, 'Prompted title');
    assert.equal(doc.description, 'Checks the prompts');
    assert.equal(doc.configuration.service_url, 'http://127.0.0.1:8080/health', 'the default URL');
    const v = await runCli(['validate', path], { env: e2e.env });
    assert.equal(v.code, 0, v.stderr);
    assert.doesNotMatch(v.stderr, /warning/);
  });

  test('init cancelled with Ctrl-D at a prompt exits 2 and writes nothing', async (t) => {
    if (spawnSync('script', ['--version']).status !== 0) {
      t.skip('`script` (util-linux) is not installed: cannot give the CLI a terminal');
      return;
    }
    const path = join(e2e.work, 'cancelled.yaml');
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} init --experiment-path ${JSON.stringify(path)}`;
    const child = spawn('script', ['-qec', cmd, '/dev/null'], {
      cwd: ROOT,
      env: { ...process.env, ...e2e.env },
    });
    let screen = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      screen += d.toString();
      if (!sent && /Experiment title: /.test(screen)) {
        sent = true;
        child.stdin.write('\x04');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 2, screen);
    assert.match(screen, /init: cancelled before every question was answered; nothing was written/);
    assert.equal(existsSync(path), false);
  });

  test('init --no-input without --title exits 2 naming the flag; nothing is written', async () => {
    const path = join(e2e.work, 'untitled.yaml');
    const r = await runCli(['init', '--experiment-path', path, '--no-input'], { env: e2e.env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--title: required when init cannot ask \(no terminal, or --no-input\)/);
    assert.equal(existsSync(path), false);
    const bad = await runCli(['init', '--experiment-path', path, '--title', 'T', '--url', 'localhost:8080'], {
      env: e2e.env,
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--url: expected an http\(s\) URL, got 'localhost:8080'/);
  });

  test('a production-tagged run asks for approval on a terminal', async (t) => {
    if (spawnSync('script', ['--version']).status !== 0) {
      t.skip('`script` (util-linux) is not installed: cannot give the CLI a terminal');
      return;
    }
    const exp = join(e2e.work, 'prod-tty.yaml');
    await writeFile(exp, 'title: t\ndescription: d\ntags: [prod]\nmethod: []\n');
    const ask = async (answer: string) => {
      const journal = join(e2e.work, `prod-tty-${answer}.json`);
      const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} run ${JSON.stringify(exp)} --journal-path ${JSON.stringify(journal)}`;
      const child = spawn('script', ['-qec', cmd, '/dev/null'], {
        cwd: ROOT,
        env: { ...process.env, ...e2e.env },
      });
      let screen = '';
      let answered = false;
      child.stdout.on('data', (d: Buffer) => {
        screen += d.toString();
        if (!answered && /Type yes to continue/.test(screen)) {
          answered = true;
          child.stdin.write(`${answer}\r`);
        }
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      return { code, screen, journal };
    };
    const yes = await ask('yes');
    assert.equal(yes.code, 0, yes.screen);
    assert.equal((await journalOf(yes.journal)).faultline.policy.approval.by, 'terminal');
    const no = await ask('no');
    assert.equal(no.code, 2, no.screen);
    assert.match(no.screen, /needs approval/);
  });

  test('init writes a complete experiment from flags: probe, traffic, safeguard, a fault with a duration, comments; it validates', async () => {
    const path = join(e2e.work, 'init.yaml');
    const r = await runCli(
      [
        'init',
        '--experiment-path',
        path,
        '--title',
        'T',
        '--url',
        'http://127.0.0.1:1/health',
        '--status',
        '204',
      ],
      { env: e2e.env },
    );
    assert.equal(r.code, 0, r.stderr);
    const v = await runCli(['validate', path], { env: e2e.env });
    assert.equal(v.code, 0, v.stderr);
    assert.doesNotMatch(v.stderr, /warning/);
    const text = await readFile(path, 'utf8');
    const doc = parseYaml(text);
    assert.equal(doc.configuration.service_url, 'http://127.0.0.1:1/health');
    const [probe] = doc['steady-state-hypothesis'].probes;
    assert.equal(probe.tolerance, 204);
    assert.equal(probe.provider.url, '${service_url}');
    assert.equal(doc.safeguards.length, 1);
    assert.equal(doc.load.requests[0].url, '${service_url}');
    assert.equal(doc.method.length, 1, 'a fault, not method: []');
    assert.equal(doc.method[0].provider.module, 'faultline.stress');
    assert.ok(doc.method[0].provider.arguments.duration > 0, 'the fault has a duration');
    assert.deepEqual(doc.rollbacks, []);
    // Each part is explained by a comment above it.
    for (const key of [
      'configuration',
      'load',
      'steady-state-hypothesis',
      'safeguards',
      'method',
      'rollbacks',
    ])
      assert.match(text, new RegExp(`#[^\\n]*\\n${key}:`), `a comment above ${key}`);
    assert.equal(
      (await runCli(['init', '--experiment-path', path, '--title', 'T'], { env: e2e.env })).code,
      2,
      'no overwrite',
    );
    const json = join(e2e.work, 'init.json');
    const j = await runCli(['init', '--experiment-path', json, '--title', 'T', '--no-input'], {
      env: e2e.env,
    });
    assert.equal(j.code, 0, j.stderr);
    assert.equal(JSON.parse(await readFile(json, 'utf8')).method.length, 1);
    assert.equal((await runCli(['validate', json], { env: e2e.env })).code, 0);
  });

  test('--version, --help and --log-format json', async () => {
    const v = await runCli(['--version']);
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    const h = await runCli(['run', '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /--journal-path/);
    const j = await runCli(
      [
        '--log-format',
        'json',
        'run',
        'examples/quickstart/experiment.yaml',
        '--journal-path',
        join(e2e.work, 'j.json'),
      ],
      { env: e2e.env },
    );
    assert.equal(j.code, 0, j.stderr);
    const lines = j.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(lines.every((l) => typeof l.message === 'string' && typeof l.level === 'string'));
  });
});
