/** Ledger entries as a runner that died would have left them, for recovery and trust tests. */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import type { LedgerEntry } from '../../src/faults/ledger.js';

/** A pid that is not running (a child that has exited): an entry's owner known dead. */
export function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout);
}

/** An `active` entry of this host whose owner is dead, expiring in 10 minutes unless `over` says otherwise. */
export function deadOwnerEntry(
  id: string,
  kind: string,
  target: string,
  record: LedgerEntry['record'],
  over: Partial<LedgerEntry> = {},
): LedgerEntry {
  const now = Date.now();
  return {
    id,
    kind,
    runId: 'dead-run',
    target,
    args: {},
    record,
    state: 'active',
    createdAt: new Date(now).toISOString(),
    ttlMs: 600_000,
    expiresAt: new Date(now + 600_000).toISOString(),
    ownerPid: deadPid(),
    ownerStart: null,
    host: hostname(),
    ...over,
  };
}
