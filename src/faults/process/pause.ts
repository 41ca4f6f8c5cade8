/**
 * `process-pause` (`faultline.process` / `pause`): SIGSTOP to the selected
 * processes (select.ts: mode, count or percentage); revert sends SIGCONT.
 * The undo record lists each process with its /proc start time BEFORE it is
 * stopped, so a revert (by this runner or by recovery after a crash) resumes
 * only those processes, never a later one that reused a pid.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind } from '../types.js';
import {
  AmountFields,
  checkSelection,
  describeSelector,
  resolveSelection,
  type Selected,
  SelectorFields,
  sameProcess,
  selectedFrom,
  selectionFor,
  signalSame,
} from './select.js';

export const PAUSE_DEFAULT_COUNT = 1;

export const PauseArgsSchema = z
  .strictObject({ ...SelectorFields, ...AmountFields })
  .superRefine(checkSelection);

/** Stopped (T) or traced-stopped (t) processes were not ours to resume: someone else stopped them. */
const stoppedBefore = (s: Selected) => s.state === 'T' || s.state === 't';

/** Ours, and still stopped? Gone or reused pids count as resumed. */
async function stillStopped(s: Selected): Promise<boolean> {
  const p = await sameProcess(s.pid, s.start);
  return p !== null && (p.state === 'T' || p.state === 't');
}

export const processPauseKind: FaultKind<typeof PauseArgsSchema> = {
  kind: 'process-pause',
  args: PauseArgsSchema,
  expose: {
    group: 'process',
    name: 'pause',
    doc: 'Pauses processes (SIGSTOP) selected by pid, pidfile, name or command-line pattern; a name or pattern matching several needs mode (one, all, random, oldest, newest), count or percentage; resumed (SIGCONT) on revert.',
  },
  target: (args) => describeSelector(args),
  resolveTargets: (args) => resolveSelection(args, args, PAUSE_DEFAULT_COUNT),
  async plan(args, resolved) {
    const selected = await selectionFor(resolved, args, args, PAUSE_DEFAULT_COUNT);
    return { processes: selected.map((p) => ({ pid: p.pid, start: p.start, comm: p.comm, state: p.state })) };
  },
  async inject(_args, record) {
    const stopped: number[] = [];
    for (const s of selectedFrom(record.processes)) {
      if (!stoppedBefore(s) && (await signalSame(s, 'SIGSTOP'))) stopped.push(s.pid);
    }
    if (stopped.length === 0) {
      throw new FaultlineError('FAULTLINE_ERR_FAULT', 'process-pause: no selected process was left to pause');
    }
    return { ...record, stopped };
  },
  async revert(record) {
    for (const s of selectedFrom(record.processes)) {
      if (!stoppedBefore(s)) await signalSame(s, 'SIGCONT');
    }
  },
  async verify(record) {
    const ours = selectedFrom(record.processes).filter((s) => !stoppedBefore(s));
    // SIGCONT takes effect at once; the short retry only covers a slow /proc read under load.
    for (let attempt = 0; attempt < 10; attempt++) {
      let any = false;
      for (const s of ours) if (await stillStopped(s)) any = true;
      if (!any) return true;
      await sleep(20);
    }
    return false;
  },
};
