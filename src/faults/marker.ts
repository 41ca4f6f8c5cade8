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
import type { FaultKind, UndoRecord } from './types.js';

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

/** `dev:ino` of the file at `path`, or null when there is none. */
async function identity(path: string): Promise<string | null> {
  try {
    const st = await lstat(path, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * True when the file at the record's path is ours to remove. The identity is
 * known once inject() returned; before that (a crash mid-inject) the path is
 * all there is, and plan() saw no file there.
 */
function isOurs(record: UndoRecord, found: string): boolean {
  return typeof record.identity !== 'string' || record.identity === found;
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
    const fh = await open(recordPath(record), 'wx', 0o644);
    try {
      const st = await fh.stat({ bigint: true });
      await fh.writeFile(args.content ?? '');
      return { ...record, identity: `${st.dev}:${st.ino}` };
    } finally {
      await fh.close();
    }
  },
  async revert(record) {
    if (record.existed === true) return;
    const path = recordPath(record);
    const found = await identity(path);
    if (found === null || !isOurs(record, found)) return;
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  },
  async verify(record) {
    if (record.existed === true) return true;
    const found = await identity(recordPath(record));
    return found === null || !isOurs(record, found);
  },
};
