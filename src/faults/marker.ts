/**
 * `marker-file`: creates a file and removes it on revert. The simplest fault,
 * used to exercise the ledger, TTLs, halt and recovery end to end, and by
 * experiments as a visible "a fault is active" flag.
 */
import { existsSync } from 'node:fs';
import { lstat, open, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { FaultlineError } from '../core/errors.js';
import type { FaultKind, UndoRecord } from '../core/fault.js';

export const MarkerArgsSchema = z.strictObject({
  path: z
    .string({ error: 'expected a file path (absolute, or relative to the working directory)' })
    .min(1, 'expected a non-empty file path')
    .describe('the file to create (refused if it exists)'),
  content: z.string({ error: 'expected a string' }).optional().describe('what to write in it'),
});

function recordPath(record: UndoRecord): string {
  if (typeof record.path !== 'string') throw new Error('marker-file undo record has no path');
  return record.path;
}

/**
 * `dev:ino:birth` of a file (birth time in ns where the filesystem keeps one): what proves a
 * file is the one Faultline created. The birth time tells a new file apart from ours when its
 * inode number was reused (deleting a file and creating another often reuses it at once).
 */
export function identityFromStat(st: { dev: bigint; ino: bigint; birthtimeNs: bigint }): string {
  return `${st.dev}:${st.ino}:${st.birthtimeNs}`;
}

/** The identity (identityFromStat) of the file at `path`, not following a link; null when there is none. */
export async function identityOf(path: string): Promise<string | null> {
  try {
    return identityFromStat(await lstat(path, { bigint: true }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Whether `found` is the file `recorded` names (a record written before birth times were kept has `dev:ino`). */
export function sameIdentity(recorded: string, found: string): boolean {
  return recorded.split(':').length === 2 ? found.startsWith(`${recorded}:`) : recorded === found;
}

/**
 * Whether the file now at the record's path is the one inject() created: only the identity
 * (`dev:ino`) it recorded proves that. Without one (the runner stopped between creating the
 * file and recording it, or an entry someone else wrote) the path alone proves nothing, and
 * the file is never removed: revert says so, and a human decides.
 */
function unproven(path: string): Error {
  return new Error(
    `cannot prove ${path} is the file it created (no identity recorded); left in place: remove it by hand if it is a leftover marker, then \`faultline ledger forget\` the entry`,
  );
}

export const markerKind: FaultKind<typeof MarkerArgsSchema> = {
  kind: 'marker-file',
  args: MarkerArgsSchema,
  expose: {
    group: 'marker',
    name: 'create',
    doc: 'Creates a marker file (refusing to replace one), removed when its duration elapses or the run ends: a visible "a fault is active" flag.',
  },
  target: (args) => resolve(args.path),
  resolveTargets: async (args) => ({ targets: [{ type: 'file', name: resolve(args.path) }] }),
  plan(args) {
    const path = resolve(args.path);
    if (existsSync(path)) {
      const message = `${path} already exists: a marker fault never replaces a file`;
      throw new FaultlineError('FAULTLINE_ERR_FAULT', `marker-file: path: ${message}`, {
        issues: [{ path: 'path', message }],
      });
    }
    return { path, existed: false };
  },
  async inject(args, record) {
    // 'wx': a file that appeared since plan() is never overwritten.
    const path = recordPath(record);
    const fh = await open(path, 'wx', 0o644);
    const st = await fh.stat({ bigint: true });
    const identity = identityFromStat(st);
    try {
      await fh.writeFile(args.content ?? '');
      return { ...record, identity };
    } catch (err) {
      // The record returned carries the identity only on success: remove what we created now.
      if ((await identityOf(path).catch(() => null)) === identity) await unlink(path).catch(() => undefined);
      throw err;
    } finally {
      await fh.close();
    }
  },
  async revert(record) {
    if (record.existed === true) return;
    const path = recordPath(record);
    const found = await identityOf(path);
    if (found === null) return;
    if (typeof record.identity !== 'string') throw unproven(path);
    if (!sameIdentity(record.identity, found)) return; // another file took its place: not ours
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  },
  async verify(record) {
    if (record.existed === true) return true;
    const found = await identityOf(recordPath(record));
    // A file without a recorded identity may be ours: not verified gone (revert said why).
    return found === null || (typeof record.identity === 'string' && !sameIdentity(record.identity, found));
  },
};
