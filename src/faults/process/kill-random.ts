/**
 * `process-kill-random` (`faultline.process` / `kill_random`), Chaos Monkey
 * style: one matching process chosen at random gets the signal (default
 * SIGTERM). Irreversible, like `kill`.
 */
import { z } from 'zod';
import type { FaultKind } from '../../core/fault.js';
import { killRecord, signalAll } from './kill.js';
import {
  checkSelection,
  describeSelector,
  normalizeSignal,
  resolveSelection,
  SelectorFields,
  SignalField,
  selectionFor,
} from './select.js';

export const KillRandomArgsSchema = z
  .strictObject({ ...SelectorFields, signal: SignalField })
  .superRefine(checkSelection);

const ONE = { count: 1 };

export const processKillRandomKind: FaultKind<typeof KillRandomArgsSchema> = {
  kind: 'process-kill-random',
  args: KillRandomArgsSchema,
  irreversible: true,
  expose: {
    group: 'process',
    name: 'kill_random',
    doc: 'Chaos Monkey: sends a signal (default SIGTERM) to one process chosen at random among those matching pid, pidfile, name, pattern or cgroup.',
  },
  target: (args) => `${describeSelector(args)} one at random ${normalizeSignal(args.signal) ?? args.signal}`,
  resolveTargets: (args) => resolveSelection(args, ONE, 1),
  async plan(args, resolved) {
    return killRecord(await selectionFor(resolved, args, ONE, 1), args.signal);
  },
  inject: (_args, record) => signalAll('process-kill-random', record),
  async revert() {},
  async verify() {
    return true;
  },
};
