/**
 * Where Faultline keeps state shared by every process on the host: the fault
 * ledger, runs, the halt flag. Depends on nothing but node: so that
 * `faultline halt` can raise the halt flag before it loads anything else.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * `$FAULTLINE_HOME`, or `~/.faultline`.
 *
 * @example faultlineHome({ FAULTLINE_HOME: '/tmp/fl' }) // '/tmp/fl'
 */
export function faultlineHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.FAULTLINE_HOME;
  return fromEnv ? resolve(fromEnv) : join(homedir(), '.faultline');
}

/** Creates `dir` (and parents) readable only by the owner: undo records can name hosts and paths. */
export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

export async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; some filesystems refuse fsync on a directory, which is harmless.
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => undefined);
  await fh.close().catch(() => undefined);
}

/** Writes a file so that readers see the old content or the new, never a part (temp file, fsync, rename). */
export async function writeAtomic(file: string, data: string): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}-${basename(file)}`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
}

/** The halt flag's file name under `$FAULTLINE_HOME`; running experiments watch for it. */
export const HALT_FILE = 'halt';

/** The halt flag's content (the ledger's HaltState). */
export interface HaltFlag {
  since: string;
  pid: number;
  host: string;
  reason?: string;
}

/** A halt flag is a few hundred bytes: a larger file is not read. */
const MAX_HALT_BYTES = 64 * 1024;

/** What readTrustedFile found: the text, why the file was not read, or null when there is none. */
export type TrustedRead = { text: string } | { refused: string } | null;

/**
 * Reads `file` only if it is a regular file of at most `maxBytes` that this user
 * (or root) owns and no one else can write (distrust()), checked on the open
 * descriptor: no symbolic link is followed (O_NOFOLLOW), a FIFO or device never
 * blocks the reader (O_NONBLOCK), and nothing can be swapped in between the
 * check and the read. Null when it does not exist.
 */
export async function readTrustedFile(file: string, maxBytes: number): Promise<TrustedRead> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') return { refused: `${file} is a symbolic link` };
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { refused: `${file} is not a regular file` };
    const why = distrust(file, st);
    if (why) return { refused: why };
    if (st.size > maxBytes) return { refused: `${file} is larger than ${maxBytes} bytes` };
    const buf = Buffer.alloc(maxBytes + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > maxBytes) return { refused: `${file} is larger than ${maxBytes} bytes` };
    return { text: buf.toString('utf8', 0, bytesRead) };
  } finally {
    await fh.close();
  }
}

const unreadableHalt = (reason: string): HaltFlag => ({
  since: new Date(0).toISOString(),
  pid: 0,
  host: '',
  reason,
});

/**
 * The halt in force under `home`, or null. A halt file that is there but cannot
 * be read, or that another user could have written (readTrustedFile), still
 * counts as a halt (stopping is the safe side), but nothing in it is believed:
 * its reason says why it was not read.
 */
export async function readHaltFile(home: string): Promise<HaltFlag | null> {
  const file = join(home, HALT_FILE);
  let read: TrustedRead;
  try {
    read = await readTrustedFile(file, MAX_HALT_BYTES);
  } catch (err) {
    return unreadableHalt(`unreadable halt file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (read === null) return null;
  if ('refused' in read) return unreadableHalt(`untrusted halt file, not read: ${read.refused}`);
  try {
    const f = JSON.parse(read.text) as Partial<Record<keyof HaltFlag, unknown>>;
    if (
      typeof f.since === 'string' &&
      Number.isInteger(f.pid) &&
      typeof f.host === 'string' &&
      (f.reason === undefined || typeof f.reason === 'string')
    ) {
      return {
        since: f.since,
        pid: f.pid as number,
        host: f.host,
        ...(f.reason ? { reason: f.reason } : {}),
      };
    }
  } catch {
    // Not JSON: still a halt.
  }
  return unreadableHalt('unreadable halt file');
}

/**
 * Raises the halt flag (the ledger's HaltState shape). Written even in a home
 * another user could write: the emergency stop is never held back, and the
 * temp file (O_EXCL) and rename never follow a link; readers check it anyway.
 */
export async function writeHaltFile(home: string, state: HaltFlag): Promise<void> {
  await ensureDir(home);
  await writeAtomic(join(home, HALT_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * Why this process must not trust what is at `path` (stat of it): owned by a user other than
 * this one or root, or writable by group or others. Such a file or directory may hold a ledger
 * entry planted by another user, which a revert would act on with this process's rights
 * (a marker's revert deletes a file). Null when it is trusted, or where there are no uids.
 */
export function distrust(path: string, st: { uid: number; mode: number }): string | null {
  const me = process.getuid?.();
  if (me === undefined) return null;
  if (st.uid !== me && st.uid !== 0) {
    return `${path} is owned by uid ${st.uid}, not by this user (uid ${me}) or root`;
  }
  const writers = [st.mode & 0o020 ? 'its group' : '', st.mode & 0o002 ? 'every user' : ''].filter(Boolean);
  if (writers.length > 0) {
    return `${path} is writable by ${writers.join(' and ')} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
  }
  return null;
}

/**
 * Refuses a Faultline home another user could write into, and its `subdirs` (those that exist):
 * throws an Error naming the path and the fix. A missing home is fine (it is created 0700).
 * Resolves true when the home and every subdir exist (and are trusted).
 */
export async function checkHomeTrusted(home: string, subdirs: readonly string[] = []): Promise<boolean> {
  const checks: [string, typeof stat][] = [
    [home, stat],
    ...subdirs.map((d): [string, typeof stat] => [d, lstat]),
  ];
  let all = true;
  for (const [path, how] of checks) {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await how(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        all = false;
        continue;
      }
      throw err;
    }
    if (path !== home && !st.isDirectory()) {
      throw new Error(
        `untrusted Faultline home: ${path} is not a directory; fix: remove it, or set FAULTLINE_HOME to a directory of your own`,
      );
    }
    const why = distrust(path, st);
    if (why) {
      throw new Error(
        `untrusted Faultline home: ${why}: another user could plant ledger entries that Faultline would revert with your rights; fix: ${fixFor(path, st)}, or set FAULTLINE_HOME to a directory of your own`,
      );
    }
  }
  return all;
}

function fixFor(path: string, st: { uid: number }): string {
  const me = process.getuid?.();
  return st.uid !== me && st.uid !== 0
    ? `check its contents, then chown -R ${me} ${path}`
    : `chmod go-w ${path}`;
}
