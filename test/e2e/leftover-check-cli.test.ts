/**
 * The leftover check every command makes, from the built CLI (issue #13 item 14):
 * read-only commands never revert anything nor touch the ledger, and a fault on a
 * control URL that is unreachable (ENETUNREACH, in a network namespace with no
 * route) is retried a bounded number of times, reported, then dismissed by hand.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AUTO_RETRY_ATTEMPTS, Ledger } from '../../src/faults/index.js';
import { identityOf } from '../../src/faults/marker.js';
import { BIN, type CliResult, ROOT, runCli } from '../helpers/cli.js';
import { assertNothingLeftBehind } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';
import { deadOwnerEntry as entry } from '../helpers/ledger-entries.js';
import { networkSkipReason, sh } from '../helpers/netns.js';

let home: Awaited<ReturnType<typeof tempHome>>;
before(async () => {
  home = await tempHome();
});
after(async () => {
  await home.cleanup();
});

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await readdir(dir).catch(() => [] as string[]))
    out[name] = await readFile(join(dir, name), 'utf8');
  return out;
}

test('validate, schema, discover, report and status revert nothing and leave the ledger as it was', async () => {
  const env = { FAULTLINE_HOME: home.home };
  const marker = join(home.home, 'dead-runner-marker');
  await writeFile(marker, '');
  const ledger = new Ledger({ home: home.home });
  await ledger.write(
    entry('deadmarker', 'marker-file', marker, {
      path: marker,
      existed: false,
      identity: (await identityOf(marker)) ?? '',
    }),
  );
  const before = await snapshot(ledger.dir);
  const journal = join(ROOT, 'test', 'fixtures', 'report', 'quickstart.json');
  const commands = [
    ['validate', join(ROOT, 'examples', 'quickstart', 'experiment.yaml')],
    ['schema'],
    ['discover', 'marker'],
    ['report', journal],
    ['status'],
  ];
  for (const args of commands) {
    const r = await runCli(args, { env });
    assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /leftovers|reverted/, `${args[0]} reverts nothing`);
    assert.equal(existsSync(marker), true, `${args[0]} left the dead runner's marker in place`);
    assert.deepEqual(await snapshot(ledger.dir), before, `${args[0]} did not touch the ledger`);
  }
  // A command that may change things still cleans up after a dead runner.
  const r = await runCli(
    [
      'init',
      '--experiment-path',
      join(home.home, 'x.yaml'),
      '--no-input',
      '--title',
      't',
      '--url',
      'http://127.0.0.1:1/',
    ],
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /leftovers of runners that died: reverted marker-file/);
  assert.equal(existsSync(marker), false);
  await assertNothingLeftBehind(home.home);
});

/** Runs the built CLI inside a network namespace (where the control URL has no route). */
function cliIn(ns: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

test('an unreachable control URL (ENETUNREACH): retried by a few commands, then reported; recover tries once; forget dismisses it', {
  skip: networkSkipReason(['ip']),
}, async () => {
  const ns = `fl-deadurl-${process.pid}`;
  sh(['ip', 'netns', 'add', ns]);
  try {
    sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']); // lo only: no route to 10.0.0.0/8
    const env = { FAULTLINE_HOME: home.home };
    const url = 'http://10.254.254.254:8474';
    const ledger = new Ledger({ home: home.home });
    await ledger.write(
      entry('deadurl1', 'proxy-toxic', `api/latency_downstream @ ${url}`, {
        api_url: url,
        proxy: 'api',
        name: 'latency_downstream',
        in_process: false,
        owned: true,
      }),
    );
    const init = (n: number) => [
      'init',
      '--experiment-path',
      join(home.home, `e${n}.yaml`),
      '--no-input',
      '--title',
      't',
      '--url',
      'http://127.0.0.1:1/',
    ];
    for (let n = 1; n <= AUTO_RETRY_ATTEMPTS; n++) {
      const r = await cliIn(ns, init(n), env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /could not revert proxy-toxic .*ENETUNREACH/);
      assert.equal((await ledger.get('deadurl1'))?.revertAttempts, n);
    }
    const quiet = await cliIn(ns, init(9), env);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /could not revert/);
    assert.match(
      quiet.stderr,
      new RegExp(
        `not retried: proxy-toxic .*its revert failed ${AUTO_RETRY_ATTEMPTS} times since .*ENETUNREACH.*\`faultline ledger forget deadurl1\` dismisses it`,
      ),
    );
    assert.equal((await ledger.get('deadurl1'))?.revertAttempts, AUTO_RETRY_ATTEMPTS);

    const validate = await cliIn(
      ns,
      ['validate', join(ROOT, 'examples', 'quickstart', 'experiment.yaml')],
      env,
    );
    assert.equal(validate.code, 0, validate.stderr);
    assert.equal(validate.stderr.includes('proxy-toxic'), false, 'validate does not look at the ledger');

    const recover = await cliIn(ns, ['recover'], env);
    assert.equal(recover.code, 1);
    assert.match(recover.stderr, /could not revert proxy-toxic .*ENETUNREACH/);
    assert.equal((await ledger.get('deadurl1'))?.revertAttempts, AUTO_RETRY_ATTEMPTS + 1);

    const forget = await cliIn(ns, ['ledger', 'forget', 'deadurl1', '--yes'], env);
    assert.equal(forget.code, 0, forget.stderr);
    await assertNothingLeftBehind(home.home);
  } finally {
    sh(['ip', 'netns', 'del', ns]);
  }
});
