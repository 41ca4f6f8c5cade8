/**
 * Home and ledger trust (issue #13 item 13): a ledger entry another user could have written is
 * never reverted, and reverts act only on what their record proves Faultline created. The
 * attack itself, as root with an entry planted by `nobody`, runs when the tests run as root.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  FaultSession,
  haltAll,
  Ledger,
  type LedgerEntry,
  markerKind,
  recoverOrphans,
  releaseHalt,
} from '../../src/faults/index.js';
import { stressDiskFillKind } from '../../src/faults/stress/disk-fill.js';
import { assertNothingLeftBehind } from '../helpers/faults.js';
import { deadOwnerEntry } from '../helpers/ledger-entries.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let base: string;
let home: string;
/** Where the victim files live: a directory only root (this user) can write. */
let safe: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'faultline-trust-'));
  home = join(base, 'home');
  safe = join(base, 'safe');
  await chmod(base, 0o755); // nobody can reach the home; the victims stay in `safe` (0700)
  await mkdir(home, { mode: 0o700 });
  await mkdir(safe, { mode: 0o700 });
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

/** An expired entry of a dead owner: recovery would revert it. */
function entry(id: string, record: Record<string, unknown>, kind = 'marker-file'): LedgerEntry {
  const past = new Date(Date.now() - 1000).toISOString();
  return deadOwnerEntry(id, kind, String(record.path ?? record.file), record as LedgerEntry['record'], {
    runId: 'planted',
    ttlMs: 1,
    expiresAt: past,
  });
}

/** Writes a file as `nobody` (a real other user: setpriv drops to its uid and gid). */
function writeAsNobody(file: string, text: string): void {
  const r = spawnSync(
    'setpriv',
    [
      '--reuid',
      String(NOBODY),
      '--regid',
      String(NOBODY),
      '--clear-groups',
      'sh',
      '-c',
      'mkdir -p "$(dirname "$1")" && cat > "$1"',
      'sh',
      file,
    ],
    { input: text },
  );
  assert.equal(r.status, 0, `setpriv as nobody: ${r.stderr}`);
}

/** What an attacker can put in a record: the victim's real dev:ino (lstat needs no read access). */
async function forgedIdentity(path: string): Promise<string> {
  const st = await lstat(path, { bigint: true });
  return `${st.dev}:${st.ino}:${st.birthtimeNs}`;
}

describe('the attack: an entry planted by nobody in a world-writable home (root only)', {
  skip: !isRoot && 'needs root',
}, () => {
  test('root never reverts it: recover, halt and status refuse the home, naming it and the fix', async () => {
    const victim = join(safe, 'root-owned');
    await writeFile(victim, 'precious');
    await chmod(home, 0o1777); // a shared, world-writable home, as /tmp is
    const planted = entry('planted-1', {
      path: victim,
      existed: false,
      identity: await forgedIdentity(victim),
    });
    writeAsNobody(join(home, 'ledger', 'planted-1.json'), JSON.stringify(planted));
    assert.equal((await lstat(join(home, 'ledger', 'planted-1.json'))).uid, NOBODY);

    const recovered = await recoverOrphans({ home, includeExpired: true });
    assert.equal(await readFile(victim, 'utf8'), 'precious');
    assert.deepEqual(recovered.reverted, []);
    assert.match(
      recovered.ledgerError ?? '',
      new RegExp(`untrusted Faultline home: ${home} is writable by its group and every user \\(mode 1777\\)`),
    );
    assert.match(recovered.ledgerError ?? '', new RegExp(`fix: chmod go-w ${home}`));

    const halted = await haltAll({ home });
    await releaseHalt({ home });
    assert.equal(await readFile(victim, 'utf8'), 'precious');
    assert.deepEqual(halted.reverted, []);
    assert.match(halted.ledgerError ?? '', /untrusted Faultline home/);

    // A run refuses to ledger (and so to inject) into it.
    const s = new FaultSession({ runId: 'r', ledger: new Ledger({ home }), watchdog: false });
    await assert.rejects(s.inject(markerKind, { path: join(safe, 'm') }), /untrusted Faultline home/);
    assert.equal(existsSync(join(safe, 'm')), false);
  });

  test('with the home fixed (chmod 700), the entry nobody planted earlier is still refused, not salvaged', async () => {
    const victim = join(safe, 'root-owned');
    await writeFile(victim, 'precious');
    await chmod(home, 0o1777);
    writeAsNobody(
      join(home, 'ledger', 'planted-2.json'),
      JSON.stringify(entry('planted-2', { path: victim, existed: false })),
    );
    // Half an entry too: a corrupt one is salvaged and reverted from what parses, so it must be refused first.
    writeAsNobody(
      join(home, 'ledger', 'planted-3.json'),
      `{"id":"planted-3","kind":"marker-file","record":{"path":"${victim}"},`,
    );
    await chmod(home, 0o700);
    await chown(join(home, 'ledger'), 0, 0);
    await chmod(join(home, 'ledger'), 0o700);

    const recovered = await recoverOrphans({ home, includeExpired: true });
    assert.equal(await readFile(victim, 'utf8'), 'precious');
    assert.match(
      recovered.ledgerError ?? '',
      /untrusted ledger file: .*planted-[23]\.json is owned by uid 65534, not by this user \(uid 0\) or root: .*fix: check it, then remove it \(rm /,
    );
    const halted = await haltAll({ home });
    await releaseHalt({ home });
    assert.equal(await readFile(victim, 'utf8'), 'precious');
    assert.deepEqual([...halted.reverted, ...halted.failed.filter((f) => f.kind === 'marker-file')], []);
    assert.equal(halted.corrupt.length, 0, 'nothing salvaged from a file another user wrote');
  });
});

describe('trust of the home and its files', () => {
  test('a group-writable home and a group-writable entry are refused, naming the path and the fix', async () => {
    const victim = join(safe, 'victim');
    await writeFile(victim, 'keep');
    await chmod(home, 0o770);
    const ledger = new Ledger({ home });
    await assert.rejects(ledger.list(), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`${home} is writable by its group \\(mode 0770\\).*fix: chmod go-w ${home}`),
      );
      return true;
    });
    await chmod(home, 0o700);
    await ledger.write(
      entry('grp', { path: victim, existed: false, identity: await forgedIdentity(victim) }),
    );
    await chmod(join(home, 'ledger', 'grp.json'), 0o664);
    await assert.rejects(
      ledger.list(),
      /untrusted ledger file: .*grp\.json is writable by its group \(mode 0664\)/,
    );
    const r = await recoverOrphans({ home, includeExpired: true });
    assert.match(r.ledgerError ?? '', /untrusted ledger file/);
    assert.equal(await readFile(victim, 'utf8'), 'keep');
    await rm(join(home, 'ledger', 'grp.json'));
  });

  test('a symbolic link in the ledger is never followed', async () => {
    const ledger = new Ledger({ home });
    await ledger.write(entry('real', { path: join(safe, 'x'), existed: false }));
    await rm(join(home, 'ledger', 'real.json'));
    const elsewhere = join(safe, 'entry.json');
    await writeFile(elsewhere, JSON.stringify(entry('linked', { path: join(safe, 'x'), existed: false })));
    spawnSync('ln', ['-s', elsewhere, join(home, 'ledger', 'linked.json')]);
    await assert.rejects(ledger.list(), /untrusted ledger file: .*linked\.json is a symbolic link/);
    await rm(join(home, 'ledger', 'linked.json'));
  });
});

describe('reverts act only on what the record proves Faultline created', () => {
  test('marker: no recorded identity (a runner stopped mid-inject) leaves the file and says why', async () => {
    const path = join(safe, 'maybe-ours');
    await writeFile(path, 'x');
    const ledger = new Ledger({ home });
    await ledger.write({ ...entry('noident', { path, existed: false }), state: 'pending' });
    const r = await recoverOrphans({ home, includeExpired: true });
    assert.equal(existsSync(path), true);
    assert.match(
      r.failed[0]?.error ?? '',
      new RegExp(`cannot prove ${path} is the file it created.*ledger forget`),
    );
    await ledger.remove('noident');
  });

  test('marker: a file that took the place of ours is left alone and the fault counts as gone', async () => {
    const path = join(safe, 'replaced');
    const s = new FaultSession({ runId: 'r', ledger: new Ledger({ home }), watchdog: false });
    await s.inject(markerKind, { path });
    await rm(path);
    await writeFile(path, 'someone else'); // often on the very inode number ours had
    const [r] = await s.revertAll();
    assert.equal(r?.verified, true);
    assert.equal(await readFile(path, 'utf8'), 'someone else');
    await assertNothingLeftBehind(home);
  });

  test('marker: an injection that fails after creating its file removes it itself', async () => {
    const path = join(safe, 'half');
    const record = await markerKind.plan({ path }, { targets: [] });
    // Content that cannot be written: the file exists for a moment, then inject() fails.
    await assert.rejects(
      markerKind.inject(
        { path, content: Symbol('x') as unknown as string },
        record,
        new AbortController().signal,
      ),
    );
    assert.equal(existsSync(path), false);
  });

  test('disk_fill: a record whose file is not exactly .faultline-fill-<tag> deletes nothing', async () => {
    const victim = join(safe, 'victim');
    await writeFile(victim, 'keep');
    await mkdir(join(safe, '.faultline-fill-x'));
    for (const file of [
      join(safe, '.faultline-fill-x', '..', 'victim'),
      victim,
      join(safe, '.faultline-fill-abc'),
    ]) {
      const record = { tag: 'abcd', file };
      await assert.rejects(stressDiskFillKind.revert(record), /has no fill file/);
      assert.equal(await readFile(victim, 'utf8'), 'keep');
    }
  });

  test('disk_fill: a fill file that is not the one its worker wrote is left alone', async () => {
    const dir = join(safe, 'fill');
    await mkdir(dir);
    const record = await stressDiskFillKind.plan({ path: dir, bytes: 1000 }, { targets: [] });
    const injected =
      (await stressDiskFillKind.inject({ path: dir, bytes: 1000 }, record, new AbortController().signal, {
        ttlMs: 30_000,
      })) ?? record;
    assert.equal(typeof injected.identity, 'string');
    const file = String(injected.file);
    await rm(file);
    await writeFile(file, "not the worker's");
    await stressDiskFillKind.revert(injected);
    assert.equal(await readFile(file, 'utf8'), "not the worker's");
    assert.equal(await stressDiskFillKind.verify(injected), true);
  });
});
