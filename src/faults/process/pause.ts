/**
 * `process-pause` (`faultline.process` / `pause`): SIGSTOP to the selected
 * processes (select.ts: mode, count or percentage); revert sends SIGCONT.
 * The undo record lists each process with its /proc start time, name and
 * command-line digest BEFORE it is stopped, so a revert (by this runner or by
 * recovery after a crash) resumes only those processes, never a later one that
 * reused a pid (select.ts stillSelected).
 *
 * Two pauses never undo each other: a process that is already stopped (by
 * another pause, ours or another run's, or by someone else) is not ours to
 * pause or resume, so a second pause of it is refused (or, among several
 * selected, skipped), and a revert resumes only what its own fault stopped
 * (the `stopped` list). Within one runner a claim per process makes the check
 * and the SIGSTOP one step; between runners the state is read again just
 * before the SIGSTOP, which leaves a window of one /proc read.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { FaultlineError } from '../../core/errors.js';
import type { FaultKind, UndoRecord } from '../../core/fault.js';
import {
  AmountFields,
  actedHere,
  checkSelection,
  describeSelector,
  ownProcesses,
  procKey,
  recordOf,
  resolveSelection,
  type Selected,
  SelectorFields,
  selectedFrom,
  selectionFor,
  signalSame,
  stillSelected,
} from './select.js';

export const PAUSE_DEFAULT_COUNT = 1;
/** How long inject() waits for the SIGSTOPped processes to show as stopped. */
const STOP_WAIT_MS = 5_000;

export const PauseArgsSchema = z
  .strictObject({ ...SelectorFields, ...AmountFields })
  .superRefine(checkSelection);

const isStopped = (state: string) => state === 'T' || state === 't';

/** Stopped (T) or traced-stopped (t) processes were not ours to resume: someone else stopped them. */
const stoppedBefore = (s: Selected) => isStopped(s.state);

/**
 * Processes a pause of this runner holds (pid:start -> its tag): a second pause
 * injected at the same moment sees the claim before either reads /proc.
 */
const claims = new Map<string, string>();

/** The processes this fault stopped itself (select.ts ownProcesses: the `stopped` list). */
const ownStopped = (record: UndoRecord): Selected[] =>
  ownProcesses(
    String(record.tag ?? ''),
    selectedFrom(record.processes).filter((s) => !stoppedBefore(s)),
    record.stopped,
  );

const describe = (s: Selected) => `pid ${s.pid} (${s.comm})`;

/** Ours, and still stopped? Gone or reused pids count as resumed. */
async function stillStopped(s: Selected): Promise<boolean> {
  const p = await stillSelected(s);
  return p !== null && (p.state === 'T' || p.state === 't');
}

/** The refusal of a pause whose processes are all stopped already: resuming them is not ours to do. */
function alreadyStopped(procs: readonly Selected[]): FaultlineError {
  const which = procs.map(describe).join(', ');
  return new FaultlineError(
    'FAULTLINE_ERR_FAULT',
    `process-pause: ${which} ${procs.length === 1 ? 'is' : 'are'} already stopped (paused by another fault, ` +
      'of this run or another, or by someone else): a second pause would be lifted when the first ends, so ' +
      'none is made; revert the other pause first, or select another process',
  );
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
    if (selected.every(stoppedBefore)) throw alreadyStopped(selected);
    return {
      tag: randomBytes(6).toString('hex'),
      processes: selected.map(recordOf),
    };
  },
  async inject(_args, record) {
    const tag = String(record.tag ?? '');
    const here = new Set<string>();
    actedHere.set(tag, here);
    const stopped: number[] = [];
    const skipped: Selected[] = [];
    for (const s of selectedFrom(record.processes)) {
      if (stoppedBefore(s)) continue;
      const key = procKey(s);
      if (claims.has(key)) {
        skipped.push(s);
        continue;
      }
      claims.set(key, tag);
      let now: Awaited<ReturnType<typeof stillSelected>> = null;
      try {
        // Read again just before the SIGSTOP: another run may have stopped it since it was selected.
        now = await stillSelected(s);
        if (now && !isStopped(now.state) && (await signalSame(s, 'SIGSTOP'))) {
          here.add(key);
          stopped.push(s.pid);
          continue;
        }
      } finally {
        if (!here.has(key)) claims.delete(key);
      }
      if (now) skipped.push(s);
    }
    if (stopped.length === 0) {
      if (skipped.length > 0) throw alreadyStopped(skipped);
      throw new FaultlineError('FAULTLINE_ERR_FAULT', 'process-pause: every selected process exited first');
    }
    // A process stops when it next runs, which on a loaded machine is not at once: in place means
    // stopped (so a later pause, of any run, sees it stopped too). Bounded: it stops in the end anyway.
    const ours = selectedFrom(record.processes).filter((s) => here.has(procKey(s)));
    for (let waited = 0; waited < STOP_WAIT_MS; waited += 10) {
      let running = false;
      for (const s of ours) {
        const now = await stillSelected(s);
        if (now && !isStopped(now.state)) running = true;
      }
      if (!running) break;
      await sleep(10);
    }
    return { ...record, stopped };
  },
  async revert(record) {
    const tag = String(record.tag ?? '');
    for (const s of ownStopped(record)) {
      await signalSame(s, 'SIGCONT');
      if (claims.get(procKey(s)) === tag) claims.delete(procKey(s));
    }
  },
  async verify(record) {
    const ours = ownStopped(record);
    // SIGCONT takes effect at once; the short retry only covers a slow /proc read under load.
    for (let attempt = 0; attempt < 10; attempt++) {
      let any = false;
      for (const s of ours) if (await stillStopped(s)) any = true;
      if (!any) {
        actedHere.delete(String(record.tag ?? ''));
        return true;
      }
      await sleep(20);
    }
    return false;
  },
};
