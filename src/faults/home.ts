/**
 * Where Faultline keeps state shared by every process on the host: the fault
 * ledger, runs, the halt flag. Depends on nothing but node: so that
 * `faultline halt` can raise the halt flag before it loads anything else.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
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
