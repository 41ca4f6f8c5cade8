/**
 * The one output writer (src/core/safe-write.ts) against the attacks that
 * found issue #13 item 12: a symbolic link planted where Faultline writes
 * (pointing at a root-owned file, or dangling), a hard link, a directory any
 * user can write; and the terminal escaping of src/core/control-chars.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmod,
  lchown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { escapeControlChars, escapeJsonControls } from '../../src/core/control-chars.js';
import { FaultlineError } from '../../src/core/errors.js';
import { checkOutputPath, writeFileSafely } from '../../src/core/safe-write.js';

let dir: string;
let precious: string;
const isRoot = process.getuid?.() === 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faultline-safe-write-'));
  // A root-owned file outside the output directory, as in the report.
  await mkdir(join(dir, 'etc'));
  precious = join(dir, 'etc', 'precious');
  await writeFile(precious, 'root only\n', { mode: 0o644 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The directory's entries apart from `keep`: a refused write leaves no temporary file behind. */
async function leftovers(d: string, keep: string[]): Promise<string[]> {
  return (await readdir(d)).filter((n) => !keep.includes(n));
}

function assertRefused(err: unknown, field: string, path: string, why: RegExp): true {
  assert.ok(err instanceof FaultlineError, String(err));
  assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
  assert.equal(err.exitCode, 2);
  assert.ok(err.message.startsWith(`${field}: refusing to write ${path}: `), err.message);
  assert.match(err.message, why);
  return true;
}

test('writes a new file whole, mode 0644 under umask 022, no temporary file left', async () => {
  const d = await mkdtemp(join(dir, 'new-'));
  const target = join(d, 'journal.json');
  const abs = await writeFileSafely(target, '{"ok":true}\n', { field: '--journal-path' });
  assert.equal(abs, target);
  assert.equal(await readFile(target, 'utf8'), '{"ok":true}\n');
  const mode = (await stat(target)).mode & 0o777;
  assert.equal(mode & 0o600, 0o600);
  assert.equal(mode & 0o022, 0, 'never group/other-writable');
  assert.deepEqual(await leftovers(d, ['journal.json']), []);
  await writeFileSafely(join(d, 'secret'), 'x', { field: 'f', mode: 0o600 });
  assert.equal((await stat(join(d, 'secret'))).mode & 0o077, 0);
});

test('replaces an existing file by rename: a hard link to it elsewhere keeps the old content', async () => {
  const d = await mkdtemp(join(dir, 'hard-'));
  const target = join(d, 'report.html');
  await writeFile(target, 'old');
  // Another name for the same inode, planted as another user would: it must not change.
  await link(target, join(d, 'other-name'));
  await writeFileSafely(target, 'new', { field: '-o' });
  assert.equal(await readFile(target, 'utf8'), 'new');
  assert.equal(await readFile(join(d, 'other-name'), 'utf8'), 'old');
});

test('a symbolic link to a root-owned file is refused, naming the argument and path; the file is untouched', async () => {
  const d = await mkdtemp(join(dir, 'link-'));
  await chmod(d, 0o1777); // shared like /tmp: world-writable with the sticky bit
  const target = join(d, 'journal.json');
  await symlink(precious, target);
  if (isRoot) await lchown(target, 65534, 65534); // planted by `nobody`
  const before = await stat(precious);
  await assert.rejects(writeFileSafely(target, 'PWNED', { field: '--journal-path' }), (err) =>
    assertRefused(err, '--journal-path', target, /it is a symbolic link/),
  );
  assert.equal(await readFile(precious, 'utf8'), 'root only\n');
  assert.equal((await stat(precious)).mtimeMs, before.mtimeMs);
  assert.ok((await lstat(target)).isSymbolicLink(), 'the link itself is left alone');
  assert.deepEqual(await leftovers(d, ['journal.json']), []);
  await assert.rejects(checkOutputPath(target, '--journal-path'), (err) =>
    assertRefused(err, '--journal-path', target, /symbolic link/),
  );
});

test('a dangling symbolic link is refused and nothing is created where it points', async () => {
  const d = await mkdtemp(join(dir, 'dangling-'));
  const pointsAt = join(dir, 'etc', 'created-by-root');
  const target = join(d, 'report.md');
  await symlink(pointsAt, target);
  await assert.rejects(writeFileSafely(target, 'PWNED', { field: '-o' }), (err) =>
    assertRefused(err, '-o', target, /symbolic link/),
  );
  await assert.rejects(stat(pointsAt), { code: 'ENOENT' });
  assert.deepEqual(await leftovers(d, ['report.md']), []);
});

test('a directory any user can write without the sticky bit is refused; with it, writing works', async () => {
  const d = await mkdtemp(join(dir, 'open-'));
  await chmod(d, 0o777);
  const target = join(d, 'out.json');
  await assert.rejects(writeFileSafely(target, 'x', { field: '--out' }), (err) =>
    assertRefused(err, '--out', target, /writable by every user and has no sticky bit/),
  );
  assert.deepEqual(await readdir(d), []);
  await chmod(d, 0o1777);
  await writeFileSafely(target, 'x', { field: '--out' });
  assert.equal(await readFile(target, 'utf8'), 'x');
});

test('a target that is not a regular file (directory, FIFO) or a missing directory is refused', async () => {
  const d = await mkdtemp(join(dir, 'kinds-'));
  await mkdir(join(d, 'sub'));
  await assert.rejects(writeFileSafely(join(d, 'sub'), 'x', { field: '-o' }), (err) =>
    assertRefused(err, '-o', join(d, 'sub'), /not a regular file/),
  );
  execFileSync('mkfifo', [join(d, 'fifo')]);
  await assert.rejects(writeFileSafely(join(d, 'fifo'), 'x', { field: '-o' }), (err) =>
    assertRefused(err, '-o', join(d, 'fifo'), /not a regular file/),
  );
  const missing = join(d, 'nope', 'file');
  await assert.rejects(writeFileSafely(missing, 'x', { field: '-o' }), (err) =>
    assertRefused(err, '-o', missing, /no such directory/),
  );
  assert.equal(await checkOutputPath(missing, '-o', { missingDirOk: true }), missing);
});

test('escapeControlChars: the title attack, C1, DEL and bidi controls become visible escapes', () => {
  const title = '\x1b]0;pwned\x07\x1b[2J';
  assert.equal(escapeControlChars(title), '\\x1b]0;pwned\\x07\\x1b[2J');
  assert.equal(escapeControlChars('a\r\nb\tc\x7f\x9b2J\u202e'), 'a\\r\\nb\\tc\\x7f\\x9b2J\\u202e');
  assert.equal(escapeControlChars('line 1\n\tline 2\r', { keepLines: true }), 'line 1\n\tline 2\\r');
  assert.equal(escapeControlChars('plain: é ü 漢字 ✓'), 'plain: é ü 漢字 ✓');
});

test('escapeJsonControls: the same JSON value, with nothing a terminal acts on', () => {
  const value = { title: '\x1b]0;pwned\x07\x9b2J\x7f\u2028' };
  const json = escapeJsonControls(JSON.stringify(value));
  assert.doesNotMatch(json, /[\u0000-\u001f\u007f-\u009f\u2028]/);
  assert.deepEqual(JSON.parse(json), value);
});
