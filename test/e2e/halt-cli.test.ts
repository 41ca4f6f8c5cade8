/**
 * End to end: `faultline halt`, `recover`, `status` and `ledger` through the built
 * CLI when the ledger holds what it should not (a failed injection, a corrupt
 * entry) or the home cannot be written (issue #12 items 5, 14, 15).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ledger, newFaultId } from '../../src/faults/ledger.js';
import { markerKind } from '../../src/faults/marker.js';
import { BIN, cliSuite, ROOT, runCli, startCli } from '../helpers/cli.js';

const e2e = cliSuite('faultline-halt-');
const isRoot = process.getuid?.() === 0;
const STACK = /\n\s+at .+:\d+:\d+/;

const ledgerIds = async (home: string) =>
  (await readdir(join(home, 'ledger')).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length));

/** The CLI on a pseudo-terminal (`script`), answering its prompt with `answer`. */
function onTerminal(args: string[], answer: string): Promise<{ code: number | null; out: string }> {
  const cmd = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qec', cmd, '/dev/null'], {
    cwd: ROOT,
    env: { ...process.env, ...e2e.env, NO_COLOR: '1' },
  });
  let out = '';
  let answered = false;
  child.stdin.on('error', () => undefined); // the terminal may close before our write lands
  child.stdout.on('data', (d) => {
    out += d;
    if (!answered && /\[y\/N\]/.test(out)) {
      answered = true;
      child.stdin.write(`${answer}\n`);
    }
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

describe('a failed injection never becomes a phantom', () => {
  test('inject with a typo fails, is recorded as failed, and no other command fails for it', async () => {
    const inject = await runCli(['inject', 'postgres.slow_queries', 'port=5499', '--duration', '5s'], {
      env: e2e.env,
    });
    assert.equal(inject.code, 1, inject.stderr);
    assert.match(inject.stderr, /ECONNREFUSED.*recorded as failed in the ledger/);
    const [id] = await ledgerIds(e2e.env.FAULTLINE_HOME!);
    assert.ok(id, 'the failed injection is recorded');

    const status = await runCli(['status'], { env: e2e.env });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /failed\s+postgres-slow-queries/);
    // Unrelated commands: no error, at most a warning.
    const validate = await runCli(['validate', 'examples/long-fault.yaml'], { env: e2e.env });
    assert.equal(validate.code, 0, validate.stderr);
    assert.doesNotMatch(validate.stderr, /ERROR/);
    const recover = await runCli(['recover'], { env: e2e.env });
    assert.equal(recover.code, 0, recover.stderr);
    assert.match(recover.stderr, /injection had failed.*nothing is known to be in place/);
    const halt = await runCli(['halt'], { env: e2e.env });
    assert.equal(halt.code, 0, halt.stderr);
    assert.match((await runCli(['halt', '--release'], { env: e2e.env })).stderr, /halt released/);

    const show = await runCli(['ledger', 'show', id.slice(0, 12)], { env: e2e.env });
    assert.equal(show.code, 0, show.stderr);
    assert.equal(JSON.parse(show.stdout).state, 'failed');

    const unknown = await runCli(['ledger', 'forget', 'nope', '--yes'], { env: e2e.env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no ledger entry 'nope'/);
    const noTerminal = await runCli(['ledger', 'forget', id], { env: e2e.env });
    assert.equal(noTerminal.code, 2);
    assert.match(noTerminal.stderr, /--yes: required/);
    assert.deepEqual(await ledgerIds(e2e.env.FAULTLINE_HOME!), [id], 'nothing forgotten unconfirmed');

    const declined = await onTerminal(['ledger', 'forget', id], 'n');
    assert.equal(declined.code, 1, declined.out);
    assert.deepEqual(await ledgerIds(e2e.env.FAULTLINE_HOME!), [id]);
    const confirmed = await onTerminal(['ledger', 'forget', id], 'y');
    assert.equal(confirmed.code, 0, confirmed.out);
    assert.match(confirmed.out, /forgot .*forgotten\.log/);
    assert.deepEqual(await ledgerIds(e2e.env.FAULTLINE_HOME!), []);

    const after = await runCli(['status', '--json'], { env: e2e.env });
    const json = JSON.parse(after.stdout);
    assert.equal(json.forgotten.length, 1);
    assert.equal(json.forgotten[0].id, id);
    assert.match((await runCli(['status'], { env: e2e.env })).stderr, /1 ledger entry forgotten by hand/);
  });
});

describe('corrupt entries are never invisible', () => {
  test('status, status --json, recover and halt report them; recover reverts what it can read', async () => {
    const marker = join(e2e.work, 'corrupt.marker');
    const cli = startCli(['run', 'examples/long-fault.yaml', '--journal-path', join(e2e.work, 'c.json')], {
      env: { ...e2e.env, MARKER_PATH: marker },
    });
    await cli.waitFor(/create-marker' succeeded/);
    cli.child.kill('SIGKILL');
    await cli.done;
    const [id] = await ledgerIds(e2e.env.FAULTLINE_HOME!);
    const file = join(e2e.env.FAULTLINE_HOME!, 'ledger', `${id}.json`);
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.slice(0, text.indexOf('"state"'))); // torn after the undo record

    const json = JSON.parse((await runCli(['status', '--json'], { env: e2e.env })).stdout);
    assert.equal(json.corrupt.length, 1);
    assert.equal(json.corrupt[0].id, id);
    assert.equal(json.corrupt[0].salvaged.kind, 'marker-file');
    assert.equal(json.corrupt[0].salvaged.target, marker);
    const status = await runCli(['status'], { env: e2e.env });
    assert.match(status.stderr, new RegExp(`corrupt ledger entry ${id}.*kind marker-file, target ${marker}`));
    assert.equal(existsSync(marker), true, 'an entry whose owner cannot be read is left by every command');

    const recover = await runCli(['recover'], { env: e2e.env });
    assert.equal(recover.code, 0, recover.stderr);
    assert.match(recover.stderr, /reverted marker-file .*from a corrupt entry/);
    assert.equal(existsSync(marker), false);
  });
});

describe('a halt always halts', () => {
  test('global options before the command keep the fast path; --release says when there was no halt', async () => {
    const marker = join(e2e.work, 'fast.marker');
    const cli = startCli(['run', 'examples/long-fault.yaml', '--journal-path', join(e2e.work, 'f.json')], {
      env: { ...e2e.env, MARKER_PATH: marker },
    });
    await cli.waitFor(/create-marker' succeeded/);
    const h = await runCli(['--log-format', 'json', 'halt', '--reason', 'drill'], { env: e2e.env });
    assert.equal(h.code, 0, h.stderr);
    const lines = h.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.match(lines.at(-1).message, /^HALT: /);
    assert.equal(existsSync(marker), false);
    assert.equal((await cli.done).code, 1);
    assert.match((await runCli(['halt', '--release'], { env: e2e.env })).stderr, /halt released/);
    const again = await runCli(['halt', '--release'], { env: e2e.env });
    assert.equal(again.code, 0);
    assert.match(again.stderr, /no halt was in force/);
    assert.doesNotMatch(again.stderr, /released/);
  });

  test('on a home it may not write (permission denied) it reverts what it can read and says what it could not do', {
    skip: !isRoot && 'needs root to set up a home another user (nobody) may read but not write',
  }, async () => {
    const home = await mkdtemp(join(tmpdir(), 'faultline-denied-'));
    const shared = await mkdtemp(join(tmpdir(), 'faultline-denied-work-'));
    try {
      await chmod(home, 0o755);
      await chmod(shared, 0o777); // the fault's file may be removed by anyone: only the home is denied
      const path = join(shared, 'denied.marker');
      const record = await markerKind.inject({ path }, await markerKind.plan({ path }, { targets: [] }));
      const ledger = new Ledger({ home });
      const now = Date.now();
      await ledger.write({
        id: newFaultId(),
        kind: 'marker-file',
        runId: 'root-run',
        target: path,
        args: { path },
        record: record ?? { path },
        state: 'active',
        createdAt: new Date(now).toISOString(),
        ttlMs: 600_000,
        expiresAt: new Date(now + 600_000).toISOString(),
        ownerPid: process.pid,
        ownerStart: null,
        host: hostname(),
      });
      await chmod(ledger.dir, 0o755);
      for (const f of await readdir(ledger.dir)) await chmod(join(ledger.dir, f), 0o644);
      const r = spawnSync(process.execPath, [BIN, 'halt'], {
        cwd: ROOT,
        env: { ...process.env, FAULTLINE_HOME: home, NO_COLOR: '1' },
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
      });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(existsSync(path), false, 'reverted from the ledger it could read');
      assert.match(r.stderr, /could not raise the halt flag \(cannot write .*: EACCES: permission denied\)/);
      assert.match(
        r.stderr,
        /reverted marker-file .*but its ledger entry .* could not be removed: .*EACCES/s,
      );
      assert.doesNotMatch(r.stderr, STACK);
      // Its owner (root) can tidy up: the entry is reverted again, idempotently, and removed.
      const tidy = await runCli(['halt'], { env: { FAULTLINE_HOME: home } });
      assert.equal(tidy.code, 0, tidy.stderr);
      assert.deepEqual(await ledgerIds(home), []);
    } finally {
      await rm(home, { recursive: true, force: true });
      await rm(shared, { recursive: true, force: true });
    }
  });

  test("on a read-only home it reverts a running experiment's fault and says in one line what it could not do", {
    skip: !isRoot && 'needs root to mount a read-only tmpfs over the home',
  }, async () => {
    const home = e2e.env.FAULTLINE_HOME!;
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', home]).status, 0);
    const marker = join(e2e.work, 'ro.marker');
    const cli = startCli(['run', 'examples/long-fault.yaml', '--journal-path', join(e2e.work, 'ro.json')], {
      env: { ...e2e.env, MARKER_PATH: marker },
    });
    try {
      await cli.waitFor(/create-marker' succeeded/);
      assert.equal(spawnSync('mount', ['-o', 'remount,ro', home]).status, 0);
      const h = await runCli(['halt'], { env: e2e.env });
      assert.equal(h.code, 1);
      assert.equal(existsSync(marker), false, 'reverted although the flag could not be written');
      assert.match(
        h.stderr,
        /could not raise the halt flag \(cannot write .*halt: EROFS: read-only file system\)/,
      );
      assert.match(h.stderr, /1 fault\(s\) reverted/);
      assert.doesNotMatch(h.stderr, STACK);
      assert.doesNotMatch(h.stderr, /internal error/);
      // The run cannot see a flag that was never written: halt told it with SIGTERM.
      assert.match(h.stderr, /asked run .* to stop \(SIGTERM\)/);
      const run = await cli.done;
      assert.equal(run.code, 1, run.stderr);
      assert.equal(JSON.parse(await readFile(join(e2e.work, 'ro.json'), 'utf8')).status, 'interrupted');
    } finally {
      cli.child.kill('SIGINT');
      await cli.done;
      spawnSync('mount', ['-o', 'remount,rw', home]);
      // What the read-only home kept (the entry halt could not remove) goes now.
      await runCli(['halt'], { env: e2e.env });
      await runCli(['halt', '--release'], { env: e2e.env });
      spawnSync('umount', ['-l', home]);
    }
  });
});
