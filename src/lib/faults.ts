/**
 * Recovery and halt with the composition root's catalog of built-in kinds and
 * halt participants supplied: what the CLI, the watchdog and library callers
 * use. Light on purpose: the catalog loads only the groups a ledger names, so
 * a halt stays fast (test/unit/halt-path-light.test.ts).
 */
import { faultKinds, haltParticipants } from '../compose.js';
import type { FaultKind } from '../core/fault.js';
import * as recovery from '../faults/recovery.js';

/** Options whose `kinds` defaults to the built-in (and registered) kinds. */
export type KindsOptional<T extends { kinds: unknown }> = Omit<T, 'kinds'> & Partial<Pick<T, 'kinds'>>;

export type RecoverOptions = KindsOptional<recovery.RecoverOptions>;
export type HaltOptions = KindsOptional<recovery.HaltOptions>;

/** Registers a kind (a test's, a plug-in's) beside the built-ins, so sessions and recovery find it. */
export function registerFaultKind(kind: FaultKind): void {
  faultKinds.register(kind);
}

/** recovery.recoverOrphans over the built-in (and registered) kinds unless given others. */
export function recoverOrphans(options: RecoverOptions): Promise<recovery.RecoveryReport> {
  return recovery.recoverOrphans({ kinds: faultKinds, ...options });
}

/** recovery.haltAll over the built-in kinds, telling the running proxy servers too. */
export function haltAll(options: HaltOptions): Promise<recovery.HaltReport> {
  return recovery.haltAll({ kinds: faultKinds, participants: haltParticipants, ...options });
}
