/**
 * `stress-memory` (`faultline.stress` / `memory`): holds `mb` MiB, every page
 * touched so it is really resident (the seeds' spike), or grows at
 * `rate_mb_per_s` up to `mb` (the seeds' leak), in a worker process Faultline
 * owns; revert kills it. The worker volunteers to the OOM killer
 * (oom_score_adj 1000) so pressure never costs the service under test first.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind } from '../../core/fault.js';
import { deadlineFor, newTag, type StressContext, startWorker, stopWorker, workerGone } from './spawn.js';

/** The share of MemAvailable a memory fault may take: the rest keeps the host (and Faultline) alive. */
export const MEMORY_MAX_SHARE = 0.9;

export const MemoryArgsSchema = z.strictObject({
  mb: z
    .number({ error: 'expected a size in MiB' })
    .int('expected a whole number of MiB')
    .positive('expected at least 1 MiB')
    .describe('MiB to hold (or to grow to, with rate_mb_per_s)'),
  rate_mb_per_s: z
    .number({ error: 'expected MiB per second' })
    .positive('expected a positive rate')
    .optional()
    .describe('grow by this many MiB per second up to mb, like a leak (default: take mb at once)'),
});

/** MemAvailable from /proc/meminfo, in MiB; null when unknown. */
export function memAvailableMb(meminfo: string): number | null {
  const m = /^MemAvailable:\s+(\d+)\s+kB/m.exec(meminfo);
  return m?.[1] ? Number(m[1]) / 1024 : null;
}

/** Why `mb` is refused given `availableMb`, or null when it fits. */
export function memoryRefusal(mb: number, availableMb: number | null): string | null {
  if (availableMb === null) return null;
  const cap = Math.floor(availableMb * MEMORY_MAX_SHARE);
  return mb > cap
    ? `mb: ${mb} MiB is more than ${MEMORY_MAX_SHARE * 100}% of the ${Math.floor(availableMb)} MiB available (at most ${cap}); the OOM killer could take other processes`
    : null;
}

export const stressMemoryKind: FaultKind<typeof MemoryArgsSchema> = {
  kind: 'stress-memory',
  args: MemoryArgsSchema,
  expose: {
    group: 'stress',
    name: 'memory',
    doc: 'Holds `mb` MiB of resident memory, or grows to it at `rate_mb_per_s` (a leak), in a child process killed on revert.',
  },
  target: (args) => `memory ${args.mb} MiB${args.rate_mb_per_s ? ` at ${args.rate_mb_per_s} MiB/s` : ''}`,
  async resolveTargets() {
    return { targets: [{ type: 'host', name: 'memory', host: 'localhost' }] };
  },
  async plan(args) {
    const meminfo = await readFile('/proc/meminfo', 'utf8').catch(() => '');
    const refusal = memoryRefusal(args.mb, memAvailableMb(meminfo));
    if (refusal) {
      throw new FaultlineError('FAULTLINE_ERR_FAULT', `stress-memory: ${refusal}`, {
        issues: [{ path: 'mb', message: refusal.slice('mb: '.length) }],
      });
    }
    return { tag: newTag(), mb: args.mb };
  },
  async inject(args, record, signal, ctx?: StressContext) {
    const config = {
      mode: 'memory' as const,
      mb: args.mb,
      rateMbPerS: args.rate_mb_per_s ?? null,
      deadline: deadlineFor(ctx?.ttlMs),
      parent: process.pid,
    };
    // Taking memory at once is ready when it is all resident: allow about 1 s per 1 GiB, and more.
    const readyTimeoutMs = 30_000 + args.mb * 10;
    const w = await startWorker('stress-memory', config, String(record.tag), { signal, readyTimeoutMs });
    return { ...record, pid: w.pid, start: w.start };
  },
  revert: (record) => stopWorker(record),
  verify: (record) => workerGone(record),
};
