/**
 * `stress-cpu` (`faultline.stress` / `cpu`): `workers` busy threads, each
 * busy `load`% of every 100 ms, in a worker process Faultline owns; revert
 * kills it.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import type { FaultKind } from '../../core/fault.js';
import { deadlineFor, newTag, type StressContext, startWorker, stopWorker, workerGone } from './spawn.js';

export const CpuArgsSchema = z.strictObject({
  workers: z
    .number({ error: 'expected a number of workers' })
    .int('expected an integer')
    .min(1, 'expected at least 1 worker')
    .max(1024, 'expected at most 1024 workers')
    .optional()
    .describe('busy threads (default: every available CPU)'),
  load: z
    .number({ error: 'expected a percentage' })
    .gt(0, 'expected a percentage above 0')
    .max(100, 'expected a percentage up to 100')
    .default(100)
    .describe('how busy each thread is: busy this % of every 100 ms (default 100)'),
});

export const stressCpuKind: FaultKind<typeof CpuArgsSchema> = {
  kind: 'stress-cpu',
  args: CpuArgsSchema,
  expose: {
    group: 'stress',
    name: 'cpu',
    doc: 'Loads the CPUs: `workers` threads (default one per CPU) each busy `load`% of the time, in a child process killed on revert.',
  },
  target: (args) => `cpu ${args.workers ?? availableParallelism()} x ${args.load}%`,
  async resolveTargets() {
    return { targets: [{ type: 'host', name: 'cpu', host: 'localhost' }] };
  },
  plan: (args) => ({ tag: newTag(), workers: args.workers ?? availableParallelism(), load: args.load }),
  async inject(args, record, signal, ctx?: StressContext) {
    const config = {
      mode: 'cpu' as const,
      workers: args.workers ?? availableParallelism(),
      load: args.load,
      deadline: deadlineFor(ctx?.ttlMs),
      parent: process.pid,
    };
    const w = await startWorker('stress-cpu', config, String(record.tag), { signal });
    return { ...record, pid: w.pid, start: w.start };
  },
  revert: (record) => stopWorker(record),
  verify: (record) => workerGone(record),
};
