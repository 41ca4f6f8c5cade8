/**
 * `stress-disk-fill` (`faultline.stress` / `disk_fill`): a worker writes one
 * file `.faultline-fill-<tag>` in `path` (real data, in 4 MiB chunks):
 * `bytes`, or enough to bring the filesystem to `percent` used as `df` counts
 * it. Never more than the space available to unprivileged users (statfs
 * bavail): the blocks the filesystem reserves for root stay free, so root
 * daemons, logins and Faultline's own ledger still work while applications see
 * a full disk. Revert kills the writer and removes the file.
 */
import { lstat, stat, statfs, unlink } from 'node:fs/promises';
import { basename, isAbsolute, join, normalize, resolve } from 'node:path';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind, UndoRecord } from '../../core/fault.js';
import { identityFromStat, sameIdentity } from '../marker.js';
import { deadlineFor, newTag, type StressContext, startWorker, stopWorker, workerGone } from './spawn.js';

export const FILL_PREFIX = '.faultline-fill-';

export const DiskFillArgsSchema = z
  .strictObject({
    path: z
      .string({ error: 'expected a directory path' })
      .min(1, 'expected a non-empty directory path')
      .describe('a directory on the filesystem to fill; the file is created in it'),
    bytes: z
      .number({ error: 'expected a number of bytes' })
      .int('expected a whole number of bytes')
      .positive('expected at least 1 byte')
      .optional()
      .describe('how many bytes to write'),
    percent: z
      .number({ error: 'expected a percentage' })
      .gt(0, 'expected a percentage above 0')
      .max(100, 'expected a percentage up to 100')
      .optional()
      .describe("fill until the filesystem is this % used (as df shows it); 100 leaves only root's reserve"),
  })
  .superRefine((a, ctx) => {
    if ((a.bytes === undefined) === (a.percent === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: a.bytes === undefined ? [] : ['percent'],
        message: 'expected bytes or percent (one of them)',
      });
    }
  });

export interface FsSpace {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
}

/** Bytes to write for `bytes` or `percent` on a filesystem; a string says why it cannot be done. */
export function fillBytes(
  want: { bytes?: number | undefined; percent?: number | undefined },
  fs: FsSpace,
): number | string {
  const avail = fs.bavail * fs.bsize;
  const used = (fs.blocks - fs.bfree) * fs.bsize;
  if (want.bytes !== undefined) {
    return want.bytes <= avail
      ? want.bytes
      : `bytes: ${want.bytes} bytes do not fit: ${avail} bytes are available (root's reserve is never used)`;
  }
  const capacity = used + avail;
  const pct = want.percent ?? 100;
  const need = Math.ceil((capacity * pct) / 100) - used;
  if (need <= 0) {
    return `percent: the filesystem is already ${capacity > 0 ? ((used / capacity) * 100).toFixed(1) : '100'}% used`;
  }
  return Math.min(need, avail);
}

/**
 * The fill file the record names: an absolute, normalised path whose name is exactly
 * `.faultline-fill-<tag>` for the record's tag (a name merely containing the prefix, such as
 * `/tmp/.faultline-fill-x/../victim`, is refused: revert deletes this path).
 */
function filePath(record: UndoRecord): string {
  const file = record.file;
  const tag = record.tag;
  if (
    typeof file !== 'string' ||
    typeof tag !== 'string' ||
    !/^[0-9a-f]{1,64}$/.test(tag) ||
    !isAbsolute(file) ||
    normalize(file) !== file ||
    basename(file) !== `${FILL_PREFIX}${tag}`
  ) {
    throw new Error('stress-disk-fill undo record has no fill file');
  }
  return file;
}

/** The fill file's identity (see marker.ts), owner and type; null when there is none. */
async function fileIdentity(file: string): Promise<{ id: string; uid: number; regular: boolean } | null> {
  const st = await lstat(file, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  return st ? { id: identityFromStat(st), uid: Number(st.uid), regular: st.isFile() } : null;
}

/**
 * Whether the file at the fill path is the one the worker wrote: the identity recorded once it
 * was ready, or (a runner that stopped before recording it) a regular file owned by this user.
 */
function isOurFill(record: UndoRecord, found: { id: string; uid: number; regular: boolean }): boolean {
  if (!found.regular) return false;
  if (typeof record.identity === 'string') return sameIdentity(record.identity, found.id);
  const me = process.getuid?.();
  return me === undefined || found.uid === me;
}

export const stressDiskFillKind: FaultKind<typeof DiskFillArgsSchema> = {
  kind: 'stress-disk-fill',
  args: DiskFillArgsSchema,
  expose: {
    group: 'stress',
    name: 'disk_fill',
    doc: "Fills the filesystem of `path` with one file: `bytes`, or up to `percent` used; root's reserved blocks are left free; the file is removed on revert.",
  },
  target: (args) =>
    `${resolve(args.path)} ${args.bytes !== undefined ? `${args.bytes} bytes` : `to ${args.percent}%`}`,
  async resolveTargets(args) {
    return { targets: [{ type: 'file', name: resolve(args.path), host: 'localhost' }] };
  },
  async plan(args) {
    const dir = resolve(args.path);
    const st = await stat(dir).catch(() => null);
    if (!st?.isDirectory()) {
      throw new FaultlineError('FAULTLINE_ERR_FAULT', `stress-disk-fill: path: ${dir} is not a directory`, {
        issues: [{ path: 'path', message: `${dir} is not a directory` }],
      });
    }
    const bytes = fillBytes(args, await statfs(dir));
    if (typeof bytes === 'string') {
      const [field, ...rest] = bytes.split(': ');
      throw new FaultlineError('FAULTLINE_ERR_FAULT', `stress-disk-fill: ${bytes}`, {
        issues: [{ path: field ?? '', message: rest.join(': ') }],
      });
    }
    const tag = newTag();
    return { tag, file: join(dir, `${FILL_PREFIX}${tag}`), bytes };
  },
  async inject(_args, record, signal, ctx?: StressContext) {
    const bytes = Number(record.bytes);
    const config = {
      mode: 'disk' as const,
      file: filePath(record),
      bytes,
      deadline: deadlineFor(ctx?.ttlMs),
      parent: process.pid,
    };
    // Ready once written: allow 30 s plus 20 MiB/s, a slow disk's pace.
    const readyTimeoutMs = 30_000 + Math.ceil(bytes / (20 * 1024 * 1024)) * 1000;
    const w = await startWorker('stress-disk-fill', config, String(record.tag), { signal, readyTimeoutMs });
    const found = await fileIdentity(config.file).catch(() => null);
    return {
      ...record,
      pid: w.pid,
      start: w.start,
      written: Number(w.info.written ?? 0),
      ...(found ? { identity: found.id } : {}),
    };
  },
  async revert(record) {
    await stopWorker(record);
    const file = filePath(record);
    const found = await fileIdentity(file);
    if (!found || !isOurFill(record, found)) return; // gone, or not the file it wrote: left alone
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  },
  async verify(record) {
    const found = await fileIdentity(filePath(record));
    return (!found || !isOurFill(record, found)) && (await workerGone(record));
  },
};
