/**
 * The one way Faultline writes an output file (journals, reports, the demo's
 * files, `init`'s scaffold). It often runs as root in directories other users
 * can reach, and a plain `writeFile` opens the path it is given, following a
 * symbolic link planted there: a root-owned file was overwritten that way, and
 * a dangling link made root create a file. Here the target is never opened:
 * the text goes to a new temporary file in the same directory (O_CREAT|O_EXCL
 * |O_NOFOLLOW, so nothing pre-existing is ever opened), is fsynced, and is
 * renamed over the target (rename replaces a directory entry and never follows
 * a link, so a hard link's other names are untouched too). A target that is a
 * symbolic link or not a regular file is refused with a FAULTLINE_ERR_USAGE
 * naming the argument (exit 2), as is a directory that other users can write
 * without the sticky bit (they could swap the file between write and rename).
 * docs/security.md#output-files.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { FaultlineError } from './errors.js';

export interface SafeWriteOptions {
  /** The argument the path came from (`--journal-path`, `-o`), named in every refusal. */
  field: string;
  /** Permissions of a new file before the umask; default 0o644 (0o600 for what only the owner should read). */
  mode?: number;
}

function refuse(field: string, path: string, why: string): FaultlineError {
  return new FaultlineError('FAULTLINE_ERR_USAGE', `${field}: refusing to write ${path}: ${why}`);
}

/**
 * Checks that `path` may be written by writeFileSafely, without writing it:
 * lets a command refuse an unsafe output path before it does anything else
 * (a run injects no fault whose journal it could not write). `missingDirOk`: a
 * directory the command will create later passes. Returns the absolute path.
 */
export async function checkOutputPath(
  path: string,
  field: string,
  options: { missingDirOk?: boolean } = {},
): Promise<string> {
  const abs = resolve(path);
  let target: Awaited<ReturnType<typeof lstat>> | undefined;
  try {
    target = await lstat(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (target?.isSymbolicLink())
    throw refuse(
      field,
      abs,
      'it is a symbolic link (Faultline never writes through a link; remove it or choose another path)',
    );
  if (target && !target.isFile()) throw refuse(field, abs, 'it exists and is not a regular file');
  const dir = dirname(abs);
  let d: Awaited<ReturnType<typeof stat>>;
  try {
    d = await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (options.missingDirOk) return abs;
    throw refuse(field, abs, `no such directory ${dir}`);
  }
  if (!d.isDirectory()) throw refuse(field, abs, `${dir} is not a directory`);
  if (d.mode & 0o002 && !(d.mode & 0o1000))
    throw refuse(
      field,
      abs,
      `its directory ${dir} is writable by every user and has no sticky bit (another user could replace the file)`,
    );
  return abs;
}

/**
 * Writes `data` to `path` atomically without following links: readers see the
 * old file or the whole new one, never a part. Throws a FaultlineError (exit 2)
 * naming `field` for an unsafe target, the system error otherwise.
 *
 * @example await writeFileSafely('journal.json', text, { field: '--journal-path' });
 */
export async function writeFileSafely(
  path: string,
  data: string | Uint8Array,
  options: SafeWriteOptions,
): Promise<string> {
  const abs = await checkOutputPath(path, options.field);
  const temp = resolve(
    dirname(abs),
    `.${basename(abs)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(temp, flags, options.mode ?? 0o644);
  let renamed = false;
  try {
    await handle.writeFile(data, typeof data === 'string' ? 'utf8' : undefined);
    await handle.sync();
    await handle.close();
    // Checked again just before the rename: a link planted meanwhile is refused rather than replaced silently.
    await checkOutputPath(abs, options.field);
    await rename(temp, abs);
    renamed = true;
  } finally {
    if (!renamed) {
      await handle.close().catch(() => {});
      await unlink(temp).catch(() => {});
    }
  }
  await syncDirectory(dirname(abs));
  return abs;
}

/** The rename itself is durable once the directory is synced; best effort (not every filesystem allows it). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const h = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // A directory that cannot be opened or synced still holds the renamed file.
  }
}
