/**
 * `process-kill` (`faultline.process` / `kill`): sends a signal (default
 * SIGTERM) to the selected processes (select.ts: mode, count or percentage).
 * Irreversible: nothing brings a killed process back except its supervisor,
 * which the experiment's probes should check.
 */
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind, UndoRecord } from '../../core/fault.js';
import {
  AmountFields,
  checkSelection,
  describeSelector,
  normalizeSignal,
  recordOf,
  resolveSelection,
  type Selected,
  SelectorFields,
  SignalField,
  selectedFrom,
  selectionFor,
  signalSame,
} from './select.js';

/** Kill picks one process unless told otherwise: the smallest blast radius. */
export const KILL_DEFAULT_COUNT = 1;

export const KillArgsSchema = z
  .strictObject({ ...SelectorFields, ...AmountFields, signal: SignalField })
  .superRefine(checkSelection);

/** Signals each recorded process (if it is still the same one); throws when none was left to signal. */
export async function signalAll(kind: string, record: UndoRecord): Promise<UndoRecord> {
  const signal = normalizeSignal(String(record.signal)) ?? 'SIGTERM';
  const signalled: number[] = [];
  for (const s of selectedFrom(record.processes)) if (await signalSame(s, signal)) signalled.push(s.pid);
  if (signalled.length === 0) {
    throw new FaultlineError(
      'FAULTLINE_ERR_FAULT',
      `${kind}: every selected process exited before the ${signal}`,
    );
  }
  return { ...record, signalled };
}

export function killRecord(processes: Selected[], signal: string): UndoRecord {
  return {
    signal: normalizeSignal(signal) ?? signal,
    processes: processes.map(recordOf),
  };
}

export const processKillKind: FaultKind<typeof KillArgsSchema> = {
  kind: 'process-kill',
  args: KillArgsSchema,
  irreversible: true,
  expose: {
    group: 'process',
    name: 'kill',
    doc: 'Sends a signal (default SIGTERM) to processes selected by pid, pidfile, name or command-line pattern; a name or pattern matching several needs mode (one, all, random, oldest, newest), count or percentage.',
  },
  target: (args) => `${describeSelector(args)} ${normalizeSignal(args.signal) ?? args.signal}`,
  resolveTargets: (args) => resolveSelection(args, args, KILL_DEFAULT_COUNT),
  async plan(args, resolved) {
    return killRecord(await selectionFor(resolved, args, args, KILL_DEFAULT_COUNT), args.signal);
  },
  inject: (_args, record) => signalAll('process-kill', record),
  // A kill cannot be undone: the ledger and the journal record it as irreversible.
  async revert() {},
  async verify() {
    return true;
  },
};
