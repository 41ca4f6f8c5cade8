/**
 * Where Faultline keeps state shared by every process on the host: the fault
 * ledger, runs, the halt flag. Depends on nothing but node: so that
 * `faultline halt` can raise the halt flag before it loads anything else.
 */
import { randomBytes } from 'node:crypto';
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

/** Raises the halt flag (the ledger's HaltState shape). */
export async function writeHaltFile(
  home: string,
  state: { since: string; pid: number; host: string; reason?: string },
): Promise<void> {
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
 */
export async function checkHomeTrusted(home: string, subdirs: readonly string[] = []): Promise<void> {
  const checks: [string, typeof stat][] = [
    [home, stat],
    ...subdirs.map((d): [string, typeof stat] => [d, lstat]),
  ];
  for (const [path, how] of checks) {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await how(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
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
}

function fixFor(path: string, st: { uid: number }): string {
  const me = process.getuid?.();
  return st.uid !== me && st.uid !== 0
    ? `check its contents, then chown -R ${me} ${path}`
    : `chmod go-w ${path}`;
}
