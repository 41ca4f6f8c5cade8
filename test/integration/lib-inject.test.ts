/**
 * The library does what `faultline inject`, `status`, `halt` and `recover` do
 * (issue #14 item 1): real faults (a marker file, a paused child process) on a
 * private home, ended by their duration, the caller's signal or a halt, the
 * settings file's blast radius applied, and nothing printed. Every wait is on
 * an event or an outcome, never on a clock.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isFaultlineError } from '../../src/core/errors.js';
import { type InjectEvent, injectFault, listFaults, planFault } from '../../src/lib/inject.js';
import { faultStatus, halt, recover, releaseHalt } from '../../src/lib/status.js';
import { repoRoot } from '../helpers/faults.js';
import { tempHomeSuite } from '../helpers/home.js';

const h = tempHomeSuite();
let work: string;
let n = 0;
const fresh = (name: string) => join(work, `${name}-${++n}`);

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'faultline-lib-inject-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Rejects with a FaultlineError of this code whose message matches. */
async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(isFaultlineError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

const types = (events: InjectEvent[]) => events.filter((e) => e.type !== 'fault').map((e) => e.type);

describe('injectFault', () => {
  test('lists the exposed faults with their arguments, as `faultline inject` does', async () => {
    const marker = (await listFaults()).find((f) => f.name === 'marker.create');
    assert.ok(marker);
    assert.equal(marker.kind, 'marker-file');
    assert.equal(marker.irreversible, false);
    const path = marker.args.find((a) => a.name === 'path');
    assert.equal(path?.required, true);
    assert.match(path?.description ?? '', /^the file to create/);
  });

  test('a fault for a duration: injected (in the ledger), then reverted and verified when it elapses', async () => {
    const path = fresh('flag');
    const events: InjectEvent[] = [];
    let inPlace = false;
    const result = await injectFault(
      'marker.create',
      { path, content: 'on' },
      {
        home: h.home,
        durationMs: 200,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'injected') inPlace = readFileSync(path, 'utf8') === 'on';
        },
      },
    );
    assert.ok(inPlace, 'the file existed when `injected` was emitted');
    assert.deepEqual(types(events), ['injected', 'reverted']);
    const injected = events.find((e) => e.type === 'injected')!;
    assert.deepEqual(injected.type === 'injected' && injected.targets, [{ type: 'file', name: path }]);
    assert.equal(result.endedBy, 'duration');
    assert.equal(result.reason, 'its duration elapsed');
    assert.deepEqual(result.revert, { verified: true });
    assert.equal(result.record.verified, true);
    assert.equal(existsSync(path), false);
    assert.deepEqual((await faultStatus({ home: h.home })).faults, []);
  });

  test('status shows it while it lasts; aborting the signal reverts it at once', async () => {
    const path = fresh('flag');
    const stop = new AbortController();
    let seen: Awaited<ReturnType<typeof faultStatus>> | undefined;
    const result = await injectFault(
      'marker.create',
      { path },
      {
        home: h.home,
        durationMs: 600_000,
        signal: stop.signal,
        onEvent: (e) => {
          if (e.type !== 'injected') return;
          faultStatus({ home: h.home }).then(
            (s) => {
              seen = s;
              stop.abort('the test is done with it');
            },
            (err) => stop.abort(err),
          );
        },
      },
    );
    assert.ok(seen);
    assert.equal(seen.halt, null);
    assert.deepEqual(
      seen.faults.map((f) => [f.id, f.kind, f.target, f.state]),
      [[result.id, 'marker-file', path, 'active']],
    );
    assert.equal(result.endedBy, 'signal');
    assert.equal(result.reason, 'the test is done with it');
    assert.equal(result.revert.verified, true);
    assert.equal(existsSync(path), false);
    assert.deepEqual((await faultStatus({ home: h.home })).faults, []);
  });

  test('halt() ends an injection that lasts until a halt; injections are refused until releaseHalt()', async () => {
    const path = fresh('flag');
    let halted: Promise<Awaited<ReturnType<typeof halt>>> | undefined;
    try {
      const result = await injectFault(
        'marker.create',
        { path },
        {
          home: h.home,
          untilHalt: true,
          onEvent: (e) => {
            if (e.type === 'injected') halted = halt({ home: h.home, reason: 'drill' });
          },
        },
      );
      assert.equal(result.endedBy, 'halt');
      assert.match(result.reason, /^halted by `faultline halt`: drill$/);
      assert.equal(result.revert.verified, true);
      assert.equal(existsSync(path), false);
      const report = await halted!;
      assert.deepEqual(report.flag, { raised: true });
      assert.equal(report.faultsInPlace, false);
      assert.equal((await faultStatus({ home: h.home })).halt?.reason, 'drill');

      const refused = fresh('flag');
      await rejectsWith(
        injectFault('marker.create', { path: refused }, { home: h.home, durationMs: 1000 }),
        'FAULTLINE_ERR_HALTED',
        /a halt is in force/,
      );
      assert.equal(existsSync(refused), false);
    } finally {
      assert.equal(await releaseHalt({ home: h.home }), true);
    }
    assert.equal(await releaseHalt({ home: h.home }), false, 'nothing left to release');
    const again = await injectFault(
      'marker.create',
      { path: fresh('flag') },
      { home: h.home, durationMs: 50 },
    );
    assert.equal(again.revert.verified, true);
  });

  test("the settings file's blast radius refuses a target before it acts, as from the CLI", async () => {
    const settings = join(work, 'block.yaml');
    await writeFile(settings, `blast_radius:\n  block:\n    - {type: file, name: '*/forbidden-*'}\n`);
    const path = fresh('forbidden');
    const refusal =
      /^blast radius: block \(the settings file's blast_radius\): marker-file .* would touch file '.*forbidden-\d+'/;
    await rejectsWith(
      injectFault('marker.create', { path }, { home: h.home, settingsPath: settings, durationMs: 1000 }),
      'FAULTLINE_ERR_POLICY',
      refusal,
    );
    await rejectsWith(
      planFault('marker.create', { path }, { home: h.home, settingsPath: settings }),
      'FAULTLINE_ERR_POLICY',
      refusal,
    );
    assert.equal(existsSync(path), false);

    // Without settingsPath, the home's settings.yaml applies, as it does for the CLI.
    const home = await mkdtemp(join(tmpdir(), 'faultline-lib-settings-'));
    try {
      await writeFile(join(home, 'settings.yaml'), readFileSync(settings, 'utf8'));
      await rejectsWith(
        injectFault('marker.create', { path }, { home, durationMs: 1000 }),
        'FAULTLINE_ERR_POLICY',
        refusal,
      );
      assert.equal(existsSync(path), false);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  test('options are checked by name, as are the fault and its arguments', async () => {
    const path = fresh('x');
    const cases: [Promise<unknown>, string, RegExp][] = [
      [
        injectFault('marker.create', { path }, { home: h.home }),
        'FAULTLINE_ERR_USAGE',
        /^durationMs: required/,
      ],
      [
        injectFault('marker.create', { path }, { home: h.home, durationMs: 1, untilHalt: true }),
        'FAULTLINE_ERR_USAGE',
        /^untilHalt: expected either durationMs or untilHalt/,
      ],
      [
        injectFault('marker.create', { path }, { home: h.home, durationMs: -5 }),
        'FAULTLINE_ERR_USAGE',
        /^durationMs: expected a positive number of milliseconds/,
      ],
      [
        injectFault('nope.nothing', {}, { home: h.home, durationMs: 1 }),
        'FAULTLINE_ERR_USAGE',
        /^fault: unknown fault 'nope\.nothing' \(expected one of: .*marker\.create/,
      ],
      [
        injectFault('marker.create', { content: 'x' }, { home: h.home, durationMs: 1 }),
        'FAULTLINE_ERR_VALIDATION',
        /^marker-file: path: expected a file path/,
      ],
    ];
    for (const [p, code, re] of cases) await rejectsWith(p, code, re);
    assert.equal(existsSync(path), false);
  });

  test('a process fault on a child process: planned, paused while it lasts, resumed when the signal aborts', async () => {
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    const exited = new Promise((done) => child.once('exit', done));
    await new Promise((done, fail) => child.once('spawn', done).once('error', fail));
    const state = () => readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.[0];
    try {
      const plan = await planFault('process.pause', { pid: child.pid }, { home: h.home });
      assert.deepEqual(plan.blastRadius, []);
      assert.ok(
        plan.targets.some((t) => t.type === 'process' && t.pid === child.pid),
        JSON.stringify(plan.targets),
      );
      assert.notEqual(state(), 'T', 'planning pauses nothing');

      const stop = new AbortController();
      let paused: string | undefined;
      const result = await injectFault(
        'process.pause',
        { pid: child.pid },
        {
          home: h.home,
          durationMs: 600_000,
          signal: stop.signal,
          onEvent: (e) => {
            if (e.type !== 'injected') return;
            paused = state();
            stop.abort('enough');
          },
        },
      );
      assert.equal(paused, 'T', 'stopped while the fault lasts');
      assert.equal(result.endedBy, 'signal');
      assert.equal(result.revert.verified, true);
      assert.notEqual(state(), 'T', 'resumed');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });
});

describe('status, halt and recover from code', () => {
  test('recover() with nothing to recover reports nothing in place', async () => {
    const report = await recover({ home: h.home });
    assert.deepEqual(report.reverted, []);
    assert.deepEqual(report.failed, []);
    assert.equal(report.faultsInPlace, false);
  });

  test('the library writes nothing to stdout or stderr: inject, status, halt, release, recover in a process of their own', async () => {
    const home = await mkdtemp(join(tmpdir(), 'faultline-lib-quiet-'));
    const script = join(work, 'quiet.mjs');
    const lib = (f: string) => pathToFileURL(join(repoRoot, 'src/lib', f)).href;
    await writeFile(
      script,
      [
        `import { injectFault } from ${JSON.stringify(lib('inject.ts'))};`,
        `import { faultStatus, halt, recover, releaseHalt } from ${JSON.stringify(lib('status.ts'))};`,
        `import { writeFileSync } from 'node:fs';`,
        `const home = ${JSON.stringify(home)};`,
        `const out = {};`,
        `out.inject = await injectFault('marker.create', { path: ${JSON.stringify(join(home, 'flag'))} }, { home, durationMs: 50 });`,
        `out.status = await faultStatus({ home });`,
        `out.halt = await halt({ home, reason: 'quiet' });`,
        `out.refused = await injectFault('marker.create', { path: ${JSON.stringify(join(home, 'flag2'))} }, { home, durationMs: 50 }).then(() => 'injected', (e) => e.code);`,
        `out.released = await releaseHalt({ home });`,
        `out.recover = await recover({ home });`,
        `writeFileSync(${JSON.stringify(join(home, 'out.json'))}, JSON.stringify(out));`,
      ].join('\n'),
    );
    try {
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const child = execFile(
          process.execPath,
          ['--import', 'tsx', script],
          { cwd: repoRoot, env: { ...process.env, FAULTLINE_HOME: home, FAULTLINE_WATCHDOG: '0' } },
          (err, stdout, stderr) => done({ code: err ? (child.exitCode ?? 1) : 0, stdout, stderr }),
        );
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, '');
      const out = JSON.parse(readFileSync(join(home, 'out.json'), 'utf8'));
      assert.equal(out.inject.revert.verified, true);
      assert.deepEqual(out.status.faults, []);
      assert.deepEqual(out.halt.flag, { raised: true });
      assert.equal(out.refused, 'FAULTLINE_ERR_HALTED');
      assert.equal(out.released, true);
      assert.equal(out.recover.faultsInPlace, false);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
