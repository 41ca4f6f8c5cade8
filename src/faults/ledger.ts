/**
 * The fault ledger: a durable record of every fault that may be acting on the
 * world, written BEFORE the fault acts, so any later process can undo it.
 *
 * Layout under the Faultline home (every file is written whole: temp file,
 * fsync, rename, fsync of the directory; a reader sees the old or the new
 * record, never half of one, and a crash leaves at worst a stray temp file):
 *
 *   ledger/<id>.json              one fault entry
 *   ledger/<id>.json.claim-<pid>  the same entry while <pid> reverts it; the
 *                                 rename that creates it is the lock (only one
 *                                 renamer wins); a dead pid's claim is reclaimable
 *   ledger/.tmp-*                 writes in progress (ignored by readers)
 *   runs/<runId>.json             who owns a run: pid, process start time, host
 *   halt                          present while `faultline halt` is in force
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { FaultlineError } from '../core/errors.js';
import { ensureDir, HALT_FILE, syncDir, writeAtomic, writeHaltFile } from './home.js';
import type { Json, UndoRecord } from './types.js';

export type FaultState = 'pending' | 'active' | 'reverting';

/** One fault as stored in `ledger/<id>.json`. */
export interface LedgerEntry {
  id: string;
  /** FaultKind name: recovery looks the kind up by it to revert. */
  kind: string;
  runId: string;
  target: string;
  /** The fault's arguments for display, with secret-looking keys redacted. */
  args: Json;
  /** The undo record: everything revert needs. */
  record: UndoRecord;
  /** `reverting` is never stored: listing reports it for claimed entries. */
  state: FaultState;
  createdAt: string;
  ttlMs: number;
  expiresAt: string;
  ownerPid: number;
  /** /proc start time of the owner (detects PID reuse); null where /proc is missing. */
  ownerStart: string | null;
  host: string;
  /** The fault cannot be undone (a process kill): reverting it is a no-op. */
  irreversible?: boolean;
  /** Why the last revert attempt failed. */
  lastError?: string;
  /** Not stored: the pid holding a revert claim, when read while claimed. */
  claimedBy?: number;
}

/** An entry file that could not be read or parsed: reported, never thrown, never deleted. */
export interface CorruptEntry {
  file: string;
  error: string;
}

export interface LedgerListing {
  entries: LedgerEntry[];
  corrupt: CorruptEntry[];
}

/** `runs/<runId>.json`. */
export interface RunInfo {
  runId: string;
  pid: number;
  start: string | null;
  host: string;
  startedAt: string;
  heartbeat: string;
}

/** The `halt` file. */
export interface HaltState {
  since: string;
  pid: number;
  host: string;
  reason?: string;
}

/** How long a revert waits for another process that is reverting the same fault. */
export const CLAIM_WAIT_MS = 30_000;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const ENTRY_FILE = /^([A-Za-z0-9][A-Za-z0-9_-]*)\.json$/;
const CLAIM_FILE = /^([A-Za-z0-9][A-Za-z0-9_-]*)\.json\.claim-(\d+)$/;
const TEMP_FILE = /^\.tmp-(\d+)-/;

const EntrySchema = z.looseObject({
  id: z.string().regex(ID_RE),
  kind: z.string().min(1),
  runId: z.string(),
  target: z.string(),
  args: z.json(),
  record: z.record(z.string(), z.json()),
  state: z.enum(['pending', 'active', 'reverting']),
  createdAt: z.string(),
  ttlMs: z.number().nonnegative(),
  expiresAt: z.string(),
  ownerPid: z.number().int(),
  ownerStart: z.string().nullable(),
  host: z.string(),
  lastError: z.string().optional(),
});

const RunSchema = z.looseObject({
  runId: z.string(),
  pid: z.number().int(),
  start: z.string().nullable(),
  host: z.string(),
  startedAt: z.string(),
  heartbeat: z.string(),
});

const HaltSchema = z.looseObject({
  since: z.string(),
  pid: z.number().int(),
  host: z.string(),
  reason: z.string().optional(),
});

/** A new, time-ordered, file-name-safe fault id. */
export function newFaultId(): string {
  return `${Date.now().toString(36)}-${randomBytes(5).toString('hex')}`;
}

// ---------------------------------------------------------------- processes

let procAvailable: boolean | undefined;

/** `gone` when /proc has no such pid; `unreadable` when /proc is missing or hidden (hidepid). */
async function readProcStat(pid: number): Promise<{ state: string; start: string } | 'gone' | 'unreadable'> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) is parenthesised and may hold spaces or ')': split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    const start = rest[19]; // field 22, starttime
    return state && start ? { state, start } : 'unreadable';
  } catch (err) {
    return errno(err) === 'ENOENT' || errno(err) === 'ESRCH' ? 'gone' : 'unreadable';
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null without /proc. */
export async function processStartTime(pid: number): Promise<string | null> {
  const stat = await readProcStat(pid);
  return typeof stat === 'string' ? null : stat.start;
}

let self: Promise<{ pid: number; start: string | null; host: string }> | undefined;

/** This process's identity as stored in entries and run files. */
export function selfIdentity(): Promise<{ pid: number; start: string | null; host: string }> {
  self ??= processStartTime(process.pid).then((start) => ({ pid: process.pid, start, host: hostname() }));
  return self;
}

/**
 * True when `pid` is running and, when `start` is known, is the same process
 * (not a later one that reused the pid). Zombies count as dead: they cannot revert anything.
 */
export async function isProcessAlive(pid: number, start: string | null = null): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  procAvailable ??= typeof (await readProcStat(process.pid)) !== 'string';
  if (!procAvailable) return true;
  const stat = await readProcStat(pid);
  if (stat === 'gone') return false;
  if (stat === 'unreadable') return true; // kill(0) says it exists; we just cannot see its start time
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return start === null || stat.start === start;
}

// ---------------------------------------------------------------- secrets

const SECRET_KEY = /passw|passphrase|^pass$|^pwd$|secret|token|key|credential|auth|cookie/i;
const REDACTED = '[redacted]';

/**
 * A JSON copy of `value` with the values of secret-looking keys replaced.
 * Non-JSON values are dropped (functions, undefined) or stringified (bigint, Date).
 *
 * @example redactSecrets({ url: 'db', password: 'x' }) // { url: 'db', password: '[redacted]' }
 */
export function redactSecrets(value: unknown, seen = new WeakSet<object>()): Json {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') return null;
  if (value instanceof Date) return value.toISOString();
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, seen));
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    out[k] = SECRET_KEY.test(k) ? REDACTED : redactSecrets(v, seen);
  }
  return out;
}

// ---------------------------------------------------------------- files

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function ledgerError(what: string, err: unknown): FaultlineError {
  return new FaultlineError('FAULTLINE_ERR_LEDGER', `${what}: ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
  });
}

async function unlinkIfPresent(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch (err) {
    if (errno(err) === 'ENOENT') return false;
    throw err;
  }
}

function checkId(id: string): void {
  if (!ID_RE.test(id)) throw new FaultlineError('FAULTLINE_ERR_LEDGER', `invalid fault id '${id}'`);
}

function runFileName(runId: string): string {
  return `${encodeURIComponent(runId).replace(/^\./, '%2E')}.json`;
}

function stored(entry: LedgerEntry): Omit<LedgerEntry, 'claimedBy'> {
  const { claimedBy: _, ...rest } = entry;
  return rest;
}

function parseEntry(text: string, file: string, id: string): LedgerEntry {
  const parsed = EntrySchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${issue?.path.join('.') || 'entry'}: ${issue?.message ?? 'invalid'}`);
  }
  if (parsed.data.id !== id) throw new Error(`id '${parsed.data.id}' does not match the file name ${file}`);
  return parsed.data as LedgerEntry;
}

export interface LedgerOptions {
  /** The Faultline home (see faultlineHome()). */
  home: string;
}

/**
 * The durable fault ledger. Constructing one touches no disk.
 *
 * @example
 * const ledger = new Ledger({ home: faultlineHome() });
 * const { entries, corrupt } = await ledger.list();
 */
export class Ledger {
  readonly home: string;
  readonly dir: string;
  readonly runsDir: string;
  readonly haltFile: string;

  constructor({ home }: LedgerOptions) {
    this.home = home;
    this.dir = join(home, 'ledger');
    this.runsDir = join(home, 'runs');
    this.haltFile = join(home, HALT_FILE);
  }

  #entryPath(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  #claimPath(id: string, pid: number): string {
    return join(this.dir, `${id}.json.claim-${pid}`);
  }

  async #names(dir: string): Promise<string[]> {
    try {
      return await readdir(dir);
    } catch (err) {
      if (errno(err) === 'ENOENT') return [];
      throw ledgerError(`cannot list ${dir}`, err);
    }
  }

  async #claimFiles(id: string): Promise<{ pid: number; file: string }[]> {
    const out: { pid: number; file: string }[] = [];
    for (const name of await this.#names(this.dir)) {
      const m = CLAIM_FILE.exec(name);
      if (m && m[1] === id) out.push({ pid: Number(m[2]), file: join(this.dir, name) });
    }
    return out;
  }

  /** Writes (creates or replaces) an entry durably. */
  async write(entry: LedgerEntry): Promise<void> {
    checkId(entry.id);
    try {
      await ensureDir(this.dir);
      await writeAtomic(this.#entryPath(entry.id), `${JSON.stringify(stored(entry), null, 2)}\n`);
    } catch (err) {
      throw ledgerError(`cannot write fault ${entry.id} to the ledger`, err);
    }
  }

  /**
   * One entry, claimed or not; null when it is gone. Throws FAULTLINE_ERR_LEDGER
   * when the entry exists but cannot be parsed.
   */
  async get(id: string): Promise<LedgerEntry | null> {
    checkId(id);
    // An entry moves between `<id>.json` and its claim file; retry across a move.
    for (let attempt = 0; attempt < 5; attempt++) {
      const plain = await this.#read(this.#entryPath(id), id);
      if (plain) return plain;
      const claims = await this.#claimFiles(id);
      for (const c of claims) {
        const claimed = await this.#read(c.file, id);
        if (claimed) return { ...claimed, state: 'reverting', claimedBy: c.pid };
      }
      if (claims.length === 0) return await this.#read(this.#entryPath(id), id);
    }
    return null;
  }

  async #read(file: string, id: string): Promise<LedgerEntry | null> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      throw ledgerError(`cannot read ${file}`, err);
    }
    try {
      return parseEntry(text, basename(file), id);
    } catch (err) {
      throw ledgerError(`corrupt ledger entry ${file}`, err);
    }
  }

  /** Every entry, oldest first. Unreadable or corrupt files are returned in `corrupt`, not thrown. */
  async list(): Promise<LedgerListing> {
    const byId = new Map<string, LedgerEntry>();
    const corrupt: CorruptEntry[] = [];
    const names = await this.#names(this.dir);
    const plainIds = new Set(names.map((n) => ENTRY_FILE.exec(n)?.[1]).filter((id) => id !== undefined));
    for (const name of names) {
      const plain = ENTRY_FILE.exec(name);
      const claim = CLAIM_FILE.exec(name);
      const id = plain?.[1] ?? claim?.[1];
      if (!id || byId.has(id)) continue;
      // After a crash mid-update both files can exist: the plain one is the newer.
      if (claim && plainIds.has(id)) continue;
      const file = join(this.dir, name);
      try {
        let entry = await this.#read(file, id);
        if (entry && claim) entry = { ...entry, state: 'reverting', claimedBy: Number(claim[2]) };
        entry ??= await this.get(id); // moved while we listed
        if (entry) byId.set(id, entry);
      } catch (err) {
        corrupt.push({ file, error: (err as Error).message });
      }
    }
    const entries = [...byId.values()].sort((a, b) =>
      a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt < b.createdAt ? -1 : 1,
    );
    return { entries, corrupt };
  }

  /**
   * Updates an entry under a claim, so it never races a revert. Null when the
   * entry is gone or another live process is reverting it.
   */
  async update(
    id: string,
    patch: Partial<Omit<LedgerEntry, 'id' | 'claimedBy'>>,
  ): Promise<LedgerEntry | null> {
    const current = await this.claim(id);
    if (!current) return null;
    const next: LedgerEntry = { ...current, ...patch, id };
    await this.write(next);
    await unlinkIfPresent(this.#claimPath(id, process.pid)).catch(() => undefined);
    return next;
  }

  /** Removes an entry and its claim files. Removing a missing entry is not an error. */
  async remove(id: string): Promise<void> {
    checkId(id);
    try {
      await unlinkIfPresent(this.#entryPath(id));
      for (const c of await this.#claimFiles(id)) await unlinkIfPresent(c.file);
      await syncDir(this.dir);
    } catch (err) {
      throw ledgerError(`cannot remove fault ${id} from the ledger`, err);
    }
  }

  /**
   * Claims an entry for exclusive revert by renaming it to `<id>.json.claim-<pid>`.
   * Returns the entry (with its stored state), or null when it is gone or claimed
   * by a live process (including this one). A dead process's claim is taken over.
   */
  async claim(id: string): Promise<LedgerEntry | null> {
    checkId(id);
    const mine = this.#claimPath(id, process.pid);
    try {
      await rename(this.#entryPath(id), mine);
      return await this.#readClaimed(id, mine);
    } catch (err) {
      if (err instanceof FaultlineError) throw err;
      if (errno(err) !== 'ENOENT') throw ledgerError(`cannot claim fault ${id}`, err);
    }
    for (const c of await this.#claimFiles(id)) {
      if (c.pid === process.pid || (await isProcessAlive(c.pid))) return null;
      try {
        await rename(c.file, mine);
        return await this.#readClaimed(id, mine);
      } catch (err) {
        if (err instanceof FaultlineError) throw err;
        if (errno(err) !== 'ENOENT') throw ledgerError(`cannot claim fault ${id}`, err);
      }
    }
    return null;
  }

  /**
   * Claims an entry, waiting while another live process holds it. `claimed` is
   * null when the entry is gone (someone else finished it); `busyBy` is the
   * holder's pid when the wait timed out.
   */
  async claimOrWait(
    id: string,
    { timeoutMs = CLAIM_WAIT_MS, pollMs = 25 }: { timeoutMs?: number; pollMs?: number } = {},
  ): Promise<{ claimed: LedgerEntry | null; busyBy?: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const claimed = await this.claim(id);
      if (claimed) return { claimed };
      const current = await this.get(id);
      if (!current) return { claimed: null };
      if (Date.now() >= deadline) return { claimed: null, busyBy: current.claimedBy ?? 0 };
      await sleep(pollMs);
    }
  }

  async #readClaimed(id: string, file: string): Promise<LedgerEntry> {
    try {
      const entry = await this.#read(file, id);
      if (!entry) throw new Error('vanished after claim');
      return { ...entry, claimedBy: process.pid };
    } catch (err) {
      await rename(file, this.#entryPath(id)).catch(() => undefined);
      throw err instanceof FaultlineError ? err : ledgerError(`cannot read claimed fault ${id}`, err);
    }
  }

  /** Gives back this process's claim (the revert failed), optionally recording changes such as `lastError`. */
  async release(id: string, patch: Partial<Omit<LedgerEntry, 'id' | 'claimedBy'>> = {}): Promise<void> {
    checkId(id);
    const mine = this.#claimPath(id, process.pid);
    try {
      if (Object.keys(patch).length > 0) {
        const current = await this.#read(mine, id);
        if (current) await this.write({ ...current, ...patch, id });
        await unlinkIfPresent(mine);
      } else {
        await rename(mine, this.#entryPath(id));
      }
    } catch (err) {
      if (errno(err) === 'ENOENT') return;
      throw err instanceof FaultlineError ? err : ledgerError(`cannot release fault ${id}`, err);
    }
  }

  /** True when the entry's owner is running (same pid and start time); null for another host. */
  async isOwnerAlive(entry: Pick<LedgerEntry, 'ownerPid' | 'ownerStart' | 'host'>): Promise<boolean | null> {
    if (entry.host !== hostname()) return null;
    return isProcessAlive(entry.ownerPid, entry.ownerStart);
  }

  // ---------------------------------------------------------------- runs

  /** Records this process as the owner of `runId`. */
  async registerRun(runId: string): Promise<RunInfo> {
    const me = await selfIdentity();
    const now = new Date().toISOString();
    const info: RunInfo = {
      runId,
      pid: me.pid,
      start: me.start,
      host: me.host,
      startedAt: now,
      heartbeat: now,
    };
    await this.#writeRun(info);
    return info;
  }

  /** Refreshes the run's heartbeat (informational: liveness is decided by pid and start time). */
  async heartbeat(runId: string): Promise<void> {
    const info = await this.getRun(runId);
    if (info) await this.#writeRun({ ...info, heartbeat: new Date().toISOString() });
  }

  async #writeRun(info: RunInfo): Promise<void> {
    try {
      await ensureDir(this.runsDir);
      await writeAtomic(join(this.runsDir, runFileName(info.runId)), `${JSON.stringify(info, null, 2)}\n`);
    } catch (err) {
      throw ledgerError(`cannot register run ${info.runId}`, err);
    }
  }

  async unregisterRun(runId: string): Promise<void> {
    try {
      await unlinkIfPresent(join(this.runsDir, runFileName(runId)));
    } catch (err) {
      throw ledgerError(`cannot unregister run ${runId}`, err);
    }
  }

  /** The run file, or null when missing or unreadable. */
  async getRun(runId: string): Promise<RunInfo | null> {
    return this.#readRun(join(this.runsDir, runFileName(runId)));
  }

  async #readRun(file: string): Promise<RunInfo | null> {
    try {
      const parsed = RunSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
      return parsed.success ? (parsed.data as RunInfo) : null;
    } catch {
      return null;
    }
  }

  /** Every readable run file. */
  async listRuns(): Promise<RunInfo[]> {
    const out: RunInfo[] = [];
    for (const name of await this.#names(this.runsDir)) {
      if (name.startsWith('.') || !name.endsWith('.json')) continue;
      const info = await this.#readRun(join(this.runsDir, name));
      if (info) out.push(info);
    }
    return out;
  }

  /**
   * False when the run file is missing or its process is gone (or its pid now
   * belongs to another process). A run on another host counts as alive: it cannot be checked from here.
   */
  async isRunAlive(runId: string): Promise<boolean> {
    const info = await this.getRun(runId);
    if (!info) return false;
    if (info.host !== hostname()) return true;
    return isProcessAlive(info.pid, info.start);
  }

  // ---------------------------------------------------------------- halt

  /** The halt in force, or null. An unreadable halt file still counts as a halt. */
  async readHalt(): Promise<HaltState | null> {
    let text: string;
    try {
      text = await readFile(this.haltFile, 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      return {
        since: new Date(0).toISOString(),
        pid: 0,
        host: '',
        reason: `unreadable halt file: ${errno(err)}`,
      };
    }
    try {
      const parsed = HaltSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data as HaltState;
    } catch {
      // fall through
    }
    return { since: new Date(0).toISOString(), pid: 0, host: '', reason: 'unreadable halt file' };
  }

  async writeHalt(state: HaltState): Promise<void> {
    try {
      await writeHaltFile(this.home, state);
    } catch (err) {
      throw ledgerError('cannot write the halt file', err);
    }
  }

  /** Lifts the halt; false when none was in force. */
  async removeHalt(): Promise<boolean> {
    try {
      return await unlinkIfPresent(this.haltFile);
    } catch (err) {
      throw ledgerError('cannot remove the halt file', err);
    }
  }

  /** Deletes temp files left by writers that died mid-write; returns how many. */
  async sweepTemp(): Promise<number> {
    let n = 0;
    for (const dir of [this.dir, this.runsDir, this.home]) {
      for (const name of await this.#names(dir)) {
        const m = TEMP_FILE.exec(name);
        if (!m || Number(m[1]) === process.pid || (await isProcessAlive(Number(m[1])))) continue;
        if (await unlinkIfPresent(join(dir, name)).catch(() => false)) n++;
      }
    }
    return n;
  }
}
