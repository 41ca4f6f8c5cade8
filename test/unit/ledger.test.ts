import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { FaultlineError } from '../../src/core/errors.js';
import { faultlineHome } from '../../src/faults/home.js';
import {
  isProcessAlive,
  Ledger,
  type LedgerEntry,
  newFaultId,
  processStartTime,
  redactSecrets,
  salvageEntry,
} from '../../src/faults/ledger.js';
import { assertNothingLeftBehind, ledgerFiles } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';
import { until } from '../helpers/until.js';

const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;
const hasProc = existsSync('/proc/self/stat');

async function entry(id: string, over: Partial<LedgerEntry> = {}): Promise<LedgerEntry> {
  const now = Date.now();
  return {
    id,
    kind: 'marker-file',
    runId: 'run-1',
    target: `/tmp/${id}`,
    args: { path: `/tmp/${id}` },
    record: { path: `/tmp/${id}` },
    state: 'pending',
    createdAt: new Date(now).toISOString(),
    ttlMs: 60_000,
    expiresAt: new Date(now + 60_000).toISOString(),
    ownerPid: process.pid,
    ownerStart: await processStartTime(process.pid),
    host: hostname(),
    ...over,
  };
}

let home: string;
let cleanup: () => Promise<void>;
let ledger: Ledger;

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  ledger = new Ledger({ home });
});
afterEach(async () => {
  await cleanup();
});

describe('home', () => {
  test('FAULTLINE_HOME wins, ~/.faultline otherwise', () => {
    assert.equal(faultlineHome({ FAULTLINE_HOME: '/tmp/fl-x' }), '/tmp/fl-x');
    assert.match(faultlineHome({}), /\.faultline$/);
  });
});

describe('atomic writes', () => {
  test('an entry round-trips; directories are 0700, files 0600, no temp file remains', async () => {
    const e = await entry(newFaultId());
    await ledger.write(e);
    assert.deepEqual(await ledger.get(e.id), e);
    assert.deepEqual((await ledger.list()).entries, [e]);
    assert.equal((await stat(ledger.dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(ledger.dir, `${e.id}.json`))).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(ledger.dir), [`${e.id}.json`]);
    await ledger.remove(e.id);
    await assertNothingLeftBehind(home);
  });

  test('concurrent rewrites of one entry never show a reader half a record', async () => {
    const e = await entry(newFaultId());
    await ledger.write(e);
    let reading = true;
    const reads = (async () => {
      let n = 0;
      while (reading) {
        const got = await ledger.get(e.id);
        assert.ok(got && got.id === e.id);
        assert.deepEqual((await ledger.list()).corrupt, []);
        n++;
      }
      return n;
    })();
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        ledger.write({ ...e, target: `t${i}`, args: { blob: 'x'.repeat(i * 50) } }),
      ),
    );
    reading = false;
    assert.ok((await reads) > 0);
    assert.match((await ledger.get(e.id))!.target, /^t\d+$/);
    assert.deepEqual(await ledgerFiles(home), [`${e.id}.json`]);
    await ledger.remove(e.id);
    await assertNothingLeftBehind(home);
  });

  test('a temp file left by a crashed writer is ignored, then swept once its writer is dead', async () => {
    const e = await entry(newFaultId());
    await ledger.write(e);
    const stray = join(ledger.dir, `.tmp-${deadPid()}-abc-${newFaultId()}.json`);
    await writeFile(stray, '{"id": "half');
    const { entries, corrupt } = await ledger.list();
    assert.equal(entries.length, 1);
    assert.deepEqual(corrupt, []);
    assert.equal(await ledger.sweepTemp(), 1);
    assert.equal(existsSync(stray), false);
    await ledger.remove(e.id);
    await assertNothingLeftBehind(home);
  });

  test('ids that are not file-name safe are refused', async () => {
    await assert.rejects(
      ledger.get('../etc/passwd'),
      (err: FaultlineError) => err.code === 'FAULTLINE_ERR_LEDGER',
    );
    await assert.rejects(
      ledger.write(await entry('a/b')),
      (err: FaultlineError) => err.code === 'FAULTLINE_ERR_LEDGER',
    );
  });
});

describe('trust of the home', () => {
  test('a home made group-writable after a trusted check is refused again once the check is due', async () => {
    const e = await entry(newFaultId());
    await ledger.write(e); // creates the ledger directory
    await ledger.registerRun('run-1'); // and the runs one: everything in place, trusted
    await ledger.list();
    await chmod(home, 0o770);
    try {
      // Re-checked within TRUST_RECHECK_MS (a hang guard allows far more): never trusted for good.
      const err = await until('the ledger refuses the group-writable home', async () =>
        ledger.list().then(
          () => undefined,
          (x: Error) => x,
        ),
      );
      assert.match(err.message, /untrusted Faultline home: .* writable by its group/);
    } finally {
      await chmod(home, 0o700);
    }
    await ledger.remove(e.id);
    await ledger.unregisterRun('run-1');
  });

  test('a ledger directory removed under a long-lived ledger is created again at the next write', async () => {
    const a = await entry(newFaultId());
    await ledger.write(a);
    await ledger.remove(a.id);
    await rm(ledger.dir, { recursive: true });
    const b = await entry(newFaultId());
    await ledger.write(b);
    assert.deepEqual(await ledger.get(b.id), b);
    assert.equal((await stat(ledger.dir)).mode & 0o777, 0o700);
    await ledger.remove(b.id);
  });
});

describe('corrupt entries', () => {
  test('are returned separately by list, never thrown, never deleted', async () => {
    const good = await entry(newFaultId());
    await ledger.write(good);
    await writeFile(join(ledger.dir, 'garbage.json'), '{ not json');
    await writeFile(join(ledger.dir, 'wrongshape.json'), JSON.stringify({ id: 'wrongshape', kind: 1 }));
    const other = await entry('someone-else');
    await writeFile(join(ledger.dir, 'renamed.json'), JSON.stringify(other));
    const { entries, corrupt } = await ledger.list();
    assert.deepEqual(entries, [good]);
    assert.deepEqual(corrupt.map((c) => c.file.split('/').pop()).sort(), [
      'garbage.json',
      'renamed.json',
      'wrongshape.json',
    ]);
    assert.ok(corrupt.every((c) => c.error.length > 0));
    await assert.rejects(ledger.get('garbage'), (err: FaultlineError) => err.code === 'FAULTLINE_ERR_LEDGER');
    assert.equal((await ledgerFiles(home)).length, 4);
    for (const id of [good.id, 'garbage', 'wrongshape', 'renamed']) await ledger.remove(id);
    await assertNothingLeftBehind(home);
  });
});

describe('what a corrupt entry still tells', () => {
  test('a truncated entry yields its id, kind, target and undo record; garbage yields nothing', async () => {
    const e = await entry(newFaultId(), { record: { path: '/tmp/x', nested: { host: 'inner' } } });
    const text = `${JSON.stringify(e, null, 2)}\n`;
    // Cut just after the record: kind, runId, target and record are complete, the owner is not.
    const cut = text.slice(0, text.indexOf('"state"') + 4);
    await ledger.write(e);
    await writeFile(join(ledger.dir, `${e.id}.json`), cut);
    const { entries, corrupt } = await ledger.list();
    assert.deepEqual(entries, []);
    assert.equal(corrupt.length, 1);
    assert.equal(corrupt[0]?.id, e.id);
    assert.deepEqual(corrupt[0]?.salvaged, {
      kind: 'marker-file',
      runId: 'run-1',
      target: e.target,
      record: { path: '/tmp/x', nested: { host: 'inner' } },
    });
    // A field nested in the record never passes for the entry's own.
    assert.equal('host' in (corrupt[0]?.salvaged ?? {}), false);
    assert.deepEqual(salvageEntry('{ not json'), {});
    assert.deepEqual(salvageEntry('{"kind": "marker-file", "target": "/tmp/a", "record": {"pa'), {
      kind: 'marker-file',
      target: '/tmp/a',
    });
    assert.deepEqual(salvageEntry('{"kind": 7, "ownerPid": 12, "ownerStart": null, "host": "h"}'), {
      ownerPid: 12,
      ownerStart: null,
      host: 'h',
    });
    await ledger.remove(e.id);
    await assertNothingLeftBehind(home);
  });

  test('inspect shows a corrupt entry with what could be read; matchIds finds it by prefix', async () => {
    const id = newFaultId();
    await ledger.write(await entry(id));
    await writeFile(join(ledger.dir, `${id}.json`), '{"id": "x", "kind": "marker-file", "targ');
    const found = await ledger.inspect(id);
    assert.ok(found && 'corrupt' in found);
    assert.equal(found.corrupt.salvaged.kind, 'marker-file');
    assert.deepEqual(await ledger.matchIds(id.slice(0, 6)), [id]);
    assert.deepEqual(await ledger.matchIds('zzz'), []);
    assert.equal(await ledger.inspect('no-such-id'), null);
    await ledger.remove(id);
  });
});

describe('forgetting an entry by hand', () => {
  test('appends what it held to forgotten.log (fsynced) before removing it', async () => {
    const e = await entry(newFaultId(), { state: 'failed', lastError: 'injection failed: ECONNREFUSED' });
    await ledger.write(e);
    const rec = await ledger.forget(e.id);
    assert.equal(rec?.id, e.id);
    assert.deepEqual(await ledgerFiles(home), []);
    const log = await ledger.listForgotten();
    assert.equal(log.length, 1);
    assert.equal(log[0]?.kind, 'marker-file');
    assert.equal(log[0]?.state, 'failed');
    assert.equal(log[0]?.lastError, 'injection failed: ECONNREFUSED');
    assert.equal(log[0]?.by.pid, process.pid);
    assert.equal((log[0]?.entry as { target?: string } | undefined)?.target, e.target);
    assert.equal(await ledger.forget('no-such-id'), null);

    // A corrupt entry is forgotten with its raw text; the log is append-only.
    const bad = newFaultId();
    await writeFile(join(ledger.dir, `${bad}.json`), '{"kind": "marker-file", "tar');
    await ledger.forget(bad);
    const after = await ledger.listForgotten();
    assert.deepEqual(
      after.map((r) => r.id),
      [e.id, bad],
    );
    assert.match(String(after[1]?.corrupt), /JSON/);
    assert.equal(after[1]?.entry, '{"kind": "marker-file", "tar');
    await assertNothingLeftBehind(home);
  });

  test('is refused while a live process reverts the entry', async () => {
    const e = await entry(newFaultId());
    await ledger.write(e);
    await rename(join(ledger.dir, `${e.id}.json`), join(ledger.dir, `${e.id}.json.claim-${process.ppid}`));
    await assert.rejects(ledger.forget(e.id), /being reverted by process/);
    assert.deepEqual(await ledger.listForgotten(), []);
    await ledger.remove(e.id);
  });
});

describe('claims', () => {
  test('a claim of this process that no task holds is taken over at once, never waited on', async () => {
    // What a write that failed half-way used to leave: our own claim file, and no one reverting.
    const e = await entry(newFaultId(), { state: 'active' });
    await ledger.write(e);
    await rename(join(ledger.dir, `${e.id}.json`), join(ledger.dir, `${e.id}.json.claim-${process.pid}`));
    const r = await ledger.claimOrWait(e.id, { timeoutMs: 60_000 });
    assert.equal(r.claimed?.id, e.id);
    assert.equal(r.busyBy, undefined);
    // Held now by this task: a second claimer in this process waits (and times out) instead.
    assert.deepEqual(await ledger.claimOrWait(e.id, { timeoutMs: 30, pollMs: 10 }), {
      claimed: null,
      busyBy: process.pid,
    });
    await ledger.remove(e.id);
    await assertNothingLeftBehind(home);
  });

  test('one claimer at a time; claimed entries list as reverting; release gives it back', async () => {
    const e = await entry(newFaultId(), { state: 'active' });
    await ledger.write(e);
    const claimed = await ledger.claim(e.id);
    assert.equal(claimed?.state, 'active');
    assert.equal(claimed?.claimedBy, process.pid);
    assert.deepEqual(await ledgerFiles(home), [`${e.id}.json.claim-${process.pid}`]);
    assert.equal(await ledger.claim(e.id), null, 'a second claim (same process) must fail');
    const listed = (await ledger.list()).entries[0];
    assert.equal(listed?.state, 'reverting');
    assert.equal(listed?.claimedBy, process.pid);
    assert.equal(await ledger.update(e.id, { state: 'active' }), null, 'no update under a live claim');

    await ledger.release(e.id, { lastError: 'boom' });
    assert.deepEqual(await ledgerFiles(home), [`${e.id}.json`]);
    assert.equal((await ledger.get(e.id))?.lastError, 'boom');
    assert.equal((await ledger.get(e.id))?.state, 'active');
    await ledger.remove(e.id);
    assert.equal(await ledger.claim(e.id), null, 'a removed entry cannot be claimed');
    await assertNothingLeftBehind(home);
  });

  test("a dead process's claim is taken over; a live one's is not", async () => {
    const e = await entry(newFaultId());
    await ledger.write(e);
    const dead = deadPid();
    await rename(join(ledger.dir, `${e.id}.json`), join(ledger.dir, `${e.id}.json.claim-${dead}`));
    const reclaimed = await ledger.claim(e.id);
    assert.equal(reclaimed?.id, e.id);
    assert.deepEqual(await ledgerFiles(home), [`${e.id}.json.claim-${process.pid}`]);

    await rename(
      join(ledger.dir, `${e.id}.json.claim-${process.pid}`),
      join(ledger.dir, `${e.id}.json.claim-${process.ppid}`),
    );
    assert.equal(await ledger.claim(e.id), null);
    const waited = await ledger.claimOrWait(e.id, { timeoutMs: 50, pollMs: 10 });
    assert.deepEqual(waited, { claimed: null, busyBy: process.ppid });
    await ledger.remove(e.id);
    await assertNothingLeftBehind(home);
  });

  test('update rewrites under a claim and leaves no claim file', async () => {
    const e = await entry(newFaultId());
    await ledger.write(e);
    const next = await ledger.update(e.id, { state: 'active', record: { path: '/x', identity: '1:2' } });
    assert.equal(next?.state, 'active');
    assert.deepEqual((await ledger.get(e.id))?.record, { path: '/x', identity: '1:2' });
    assert.deepEqual(await ledgerFiles(home), [`${e.id}.json`]);
    assert.equal(await ledger.update('missing', { state: 'active' }), null);
    await ledger.remove(e.id);
    await assertNothingLeftBehind(home);
  });
});

describe('runs and liveness', () => {
  test('a registered run is alive; a dead or reused pid is not', async () => {
    await ledger.registerRun('run-a');
    assert.equal(await ledger.isRunAlive('run-a'), true);
    assert.equal(await ledger.isRunAlive('never-registered'), false);
    const file = join(ledger.runsDir, 'run-a.json');
    const info = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...info, pid: deadPid() }));
    assert.equal(await ledger.isRunAlive('run-a'), false);
    if (hasProc) {
      // Same pid, different start time: the pid was reused by another process.
      await writeFile(file, JSON.stringify({ ...info, start: '1' }));
      assert.equal(await ledger.isRunAlive('run-a'), false);
      assert.equal(await isProcessAlive(process.pid, '1'), false);
    }
    assert.equal(await isProcessAlive(process.pid, await processStartTime(process.pid)), true);
    await ledger.unregisterRun('run-a');
    await ledger.unregisterRun('run-a');
    assert.deepEqual(await ledger.listRuns(), []);
    await assertNothingLeftBehind(home);
  });

  test('run ids are stored under a file-name-safe name', async () => {
    await ledger.registerRun('../2024-01-01T00:00:00Z/x');
    assert.equal((await ledger.listRuns())[0]?.runId, '../2024-01-01T00:00:00Z/x');
    await ledger.unregisterRun('../2024-01-01T00:00:00Z/x');
    await assertNothingLeftBehind(home);
  });
});

describe('halt file', () => {
  test('written, read and removed; an unreadable one still halts', async () => {
    assert.equal(await ledger.readHalt(), null);
    await ledger.writeHalt({ since: '2024-01-01T00:00:00.000Z', pid: 1, host: 'h', reason: 'drill' });
    assert.equal((await ledger.readHalt())?.reason, 'drill');
    await writeFile(ledger.haltFile, 'nope');
    assert.match((await ledger.readHalt())?.reason ?? '', /unreadable/);
    assert.equal(await ledger.removeHalt(), true);
    assert.equal(await ledger.removeHalt(), false);
    await assertNothingLeftBehind(home);
  });

  test('a FIFO or a symbolic link named halt is a halt whose content is not read (never waited on)', async () => {
    const mkfifo = spawnSync('mkfifo', [ledger.haltFile]);
    assert.equal(mkfifo.status, 0, String(mkfifo.stderr));
    assert.match(
      (await ledger.readHalt())?.reason ?? '',
      /untrusted halt file, not read: .* not a regular file/,
    );
    await ledger.removeHalt();
    const target = join(home, 'elsewhere.json');
    await writeFile(target, JSON.stringify({ since: 'x', pid: 1, host: 'h', reason: 'planted' }));
    await symlink(target, ledger.haltFile);
    assert.match((await ledger.readHalt())?.reason ?? '', /untrusted halt file, not read: .*symbolic link/);
    await ledger.removeHalt();
    await unlink(target);
    await assertNothingLeftBehind(home);
  });
});

describe('secrets', () => {
  test('values of secret-looking keys are never persisted', () => {
    const args = {
      url: 'postgres://db',
      password: 'hunter2',
      nested: { apiKey: 'k', list: [{ token: 't', ok: 1 }], client_secret: 's', authHeader: 'Bearer x' },
      fn: () => 1,
      n: Number.NaN,
    };
    assert.deepEqual(redactSecrets(args), {
      url: 'postgres://db',
      password: '[redacted]',
      nested: {
        apiKey: '[redacted]',
        list: [{ token: '[redacted]', ok: 1 }],
        client_secret: '[redacted]',
        authHeader: '[redacted]',
      },
      n: null,
    });
  });
});
