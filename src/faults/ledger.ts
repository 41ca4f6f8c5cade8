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
 *   forgotten.log                 append-only: entries a human removed with
 *                                 `faultline ledger forget` (one JSON line each)
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultlineError } from '../core/errors.js';
import type { Json, UndoRecord } from '../core/fault.js';
import {
  checkHomeTrusted,
  distrust,
  ensureDir,
  HALT_FILE,
  readHaltFile,
  syncDir,
  writeAtomic,
  writeHaltFile,
} from './home.js';

/**
 * `pending`: written before the fault acts; `active`: it took effect; `failed`: its
 * injection threw and the cleanup that followed could not confirm it gone (the fault
 * is not known to be in place: recovery retries it but never counts it as a fault
 * still in place); `reverting` is never stored: listing reports it for claimed entries.
 */
export type FaultState = 'pending' | 'active' | 'failed' | 'reverting';

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
  /** The caller's own id for the fault (a fleet agent's: the controller's fault id), reported by recovery. */
  ref?: string;
  /** The fault cannot be undone (a process kill): reverting it is a no-op. */
  irreversible?: boolean;
  /** Why the last revert attempt failed. */
  lastError?: string;
  /** How many revert attempts failed (counted by release() with a lastError). */
  revertAttempts?: number;
  /** When the first of them failed: the automatic check stops retrying after a bound (recovery.ts). */
  firstFailedAt?: string;
  /** Not stored: the pid holding a revert claim, when read while claimed. */
  claimedBy?: number;
}

/**
 * What could be read of a corrupt entry: every field is optional. With `kind` and
 * `record`, recovery can still revert it.
 */
export interface SalvagedEntry {
  kind?: string;
  runId?: string;
  target?: string;
  record?: UndoRecord;
  state?: string;
  ownerPid?: number;
  ownerStart?: string | null;
  host?: string;
  expiresAt?: string;
}

/**
 * An entry file that could not be read or parsed: reported, never thrown, never
 * deleted by listing (recovery removes it once it has reverted what it salvaged).
 */
export interface CorruptEntry {
  file: string;
  /** The fault id, from the file name. */
  id: string;
  error: string;
  salvaged: SalvagedEntry;
}

/** One line of `forgotten.log`. */
export interface ForgottenRecord {
  at: string;
  id: string;
  kind?: string;
  target?: string;
  state?: string;
  lastError?: string;
  /** Why it could not be parsed, for a corrupt entry. */
  corrupt?: string;
  /** Who forgot it: pid, user and host of the command. */
  by: { pid: number; user?: string; host: string };
  /** The stored entry as it was (parsed, or the raw text of a corrupt one, cut at 64 KiB). */
  entry: Json;
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
  /** When it was registered (kept for readers of older files; liveness is pid and start time). */
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
/** Where `faultline ledger forget` records what it removed. */
export const FORGOTTEN_LOG = 'forgotten.log';

/**
 * Claims this process holds right now (`<ledger dir>\0<id>`). A claim file with our
 * pid that is not in here was left by an operation that failed half-way (a rename
 * back that could not happen): it is ours to take over, never a lock to wait on.
 */
const heldClaims = new Set<string>();

/**
 * Checks of one field: null when the value fits, else what was expected. The ledger checks
 * its files by hand rather than with zod: every process that reads it (`faultline halt`, the
 * watchdog a run spawns with its first fault) would otherwise load zod first, about 150 ms of
 * CPU taken from the halt and from the run while it reverts (docs/benchmarks.md).
 */
type FieldCheck = (value: unknown) => string | null;

const isString: FieldCheck = (v) => (typeof v === 'string' ? null : 'expected a string');
const isInt: FieldCheck = (v) => (Number.isInteger(v) ? null : 'expected an integer');
const isCount: FieldCheck = (v) =>
  Number.isInteger(v) && (v as number) >= 0 ? null : 'expected a whole number, at least 0';
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const optional =
  (check: FieldCheck): FieldCheck =>
  (v) =>
    v === undefined ? null : check(v);
const nullable =
  (check: FieldCheck): FieldCheck =>
  (v) =>
    v === null ? null : check(v);

/** The first field of `value` that does not fit, as `field: expected ...` (unknown fields are kept). */
function misfit(value: unknown, fields: Record<string, FieldCheck>): string | null {
  if (!isObject(value)) return 'expected an object';
  for (const [key, check] of Object.entries(fields)) {
    const why = check(value[key]);
    if (why) return `${key}: ${why}${value[key] === undefined ? ', found none' : ''}`;
  }
  return null;
}

const STATES: ReadonlySet<unknown> = new Set(['pending', 'active', 'failed', 'reverting']);

const ENTRY_FIELDS: Record<string, FieldCheck> = {
  id: (v) => (typeof v === 'string' && ID_RE.test(v) ? null : `expected a fault id matching ${ID_RE}`),
  kind: (v) => (typeof v === 'string' && v.length > 0 ? null : 'expected a non-empty string'),
  runId: isString,
  target: isString,
  // Any JSON value (the file was JSON), but present.
  args: (v) => (v === undefined ? 'expected a JSON value' : null),
  record: (v) => (isObject(v) ? null : 'expected an object'),
  state: (v) => (STATES.has(v) ? null : `expected one of ${[...STATES].join(', ')}`),
  createdAt: isString,
  ttlMs: (v) => (typeof v === 'number' && v >= 0 ? null : 'expected a number, at least 0'),
  expiresAt: isString,
  ownerPid: isInt,
  ownerStart: nullable(isString),
  host: isString,
  ref: optional(isString),
  lastError: optional(isString),
  revertAttempts: optional(isCount),
  firstFailedAt: optional(isString),
};

const RUN_FIELDS: Record<string, FieldCheck> = {
  runId: isString,
  pid: isInt,
  start: nullable(isString),
  host: isString,
  startedAt: isString,
  heartbeat: isString,
};

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

/**
 * A home, ledger directory or entry another user could have written (see distrust()): never
 * read as a fault to revert, never salvaged as a corrupt entry; the ledger refuses to work.
 */
export class UntrustedLedgerError extends FaultlineError {
  constructor(message: string) {
    super('FAULTLINE_ERR_LEDGER', message);
  }
}

/**
 * Reads a ledger file only if this user (or root) owns it and no one else can write it, and it
 * is a regular file (no symbolic link followed): checked on the open file, so it cannot be
 * swapped between the check and the read. Null when it does not exist.
 */
async function readTrusted(file: string): Promise<string | null> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (errno(err) === 'ENOENT') return null;
    if (errno(err) === 'ELOOP') {
      throw new UntrustedLedgerError(
        `untrusted ledger file: ${file} is a symbolic link; fix: check it, then remove it (rm ${file})`,
      );
    }
    throw err;
  }
  try {
    const st = await fh.stat();
    const why = st.isFile() ? distrust(file, st) : `${file} is not a regular file`;
    if (why) {
      throw new UntrustedLedgerError(
        `untrusted ledger file: ${why}: it may have been planted by another user and is not reverted; fix: check it, then remove it (rm ${file})`,
      );
    }
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
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
  const entry: unknown = JSON.parse(text);
  const why = misfit(entry, ENTRY_FIELDS);
  if (why) throw new Error(why);
  const parsed = entry as LedgerEntry;
  if (parsed.id !== id) throw new Error(`id '${parsed.id}' does not match the file name ${file}`);
  return parsed;
}

/** Index just past the string that opens at `i` (a quote), or -1 when it never closes. */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  return -1;
}

/** Index just past the JSON value that starts at `i`, or -1 when it is cut off. */
function valueEnd(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return stringEnd(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text[j];
      if (d === '"') {
        const end = stringEnd(text, j);
        if (end < 0) return -1;
        j = end - 1;
      } else if (d === '{' || d === '[') depth++;
      else if ((d === '}' || d === ']') && --depth === 0) return j + 1;
    }
    return -1;
  }
  let j = i;
  while (j < text.length && !/[,}\s]/.test(text[j]!)) j++;
  return j === text.length ? -1 : j; // a number at the very end may be cut short
}

/**
 * The complete top-level members of a JSON object, however the text ends: a
 * truncated entry (a full disk, a torn copy) still yields the members before the cut.
 */
function topLevelMembers(text: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  let i = text.indexOf('{') + 1;
  if (i === 0) return out;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  for (;;) {
    skipSpace();
    if (text[i] !== '"') return out;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return out;
    const key = text.slice(i + 1, keyEnd - 1);
    i = keyEnd;
    skipSpace();
    if (text[i] !== ':') return out;
    i++;
    skipSpace();
    const end = valueEnd(text, i);
    if (end < 0) return out;
    try {
      out.set(key, JSON.parse(text.slice(i, end)));
    } catch {
      return out;
    }
    i = end;
    skipSpace();
    if (text[i] !== ',') return out;
    i++;
  }
}

/**
 * What can be read of a corrupt entry's text: the fields that parse, each checked
 * for its type. With `kind` and `record` the fault can still be reverted.
 *
 * @example salvageEntry('{"id":"x","kind":"marker-file","target":"/tmp/m","rec') // { kind, target }
 */
export function salvageEntry(text: string): SalvagedEntry {
  const m = topLevelMembers(text);
  const str = (k: string) => (typeof m.get(k) === 'string' ? (m.get(k) as string) : undefined);
  const record = m.get('record');
  const ownerPid = m.get('ownerPid');
  const ownerStart = m.get('ownerStart');
  const out: SalvagedEntry = {};
  for (const k of ['kind', 'runId', 'target', 'state', 'host', 'expiresAt'] as const) {
    const v = str(k);
    if (v !== undefined) out[k] = v;
  }
  if (record && typeof record === 'object' && !Array.isArray(record)) out.record = record as UndoRecord;
  if (Number.isInteger(ownerPid)) out.ownerPid = ownerPid as number;
  if (ownerStart === null || typeof ownerStart === 'string') out.ownerStart = ownerStart;
  return out;
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
/** How long a trust check that found the home and its directories in place holds (see #checkTrust). */
export const TRUST_RECHECK_MS = 1_000;

export class Ledger {
  readonly home: string;
  readonly dir: string;
  readonly runsDir: string;
  readonly haltFile: string;
  /** performance.now() of the last trust check that found everything in place (see #checkTrust). */
  #trustedAt = Number.NEGATIVE_INFINITY;

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

  /** Refuses a home, ledger or runs directory another user could write (UntrustedLedgerError). */
  async #checkTrust(): Promise<void> {
    // An inject checks trust four times: a long-lived agent applying many faults spent a fifth of
    // its filesystem calls on it. Once the home and both directories exist and are trusted, only
    // this user or root can change that, so it is checked again after TRUST_RECHECK_MS, not at
    // every call; a failed check is never remembered.
    if (performance.now() - this.#trustedAt < TRUST_RECHECK_MS) return;
    try {
      if (await checkHomeTrusted(this.home, [this.dir, this.runsDir])) this.#trustedAt = performance.now();
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('untrusted'))
        throw new UntrustedLedgerError(err.message);
      throw ledgerError(`cannot check ${this.home}`, err);
    }
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
    await this.#checkTrust();
    try {
      const text = `${JSON.stringify(stored(entry), null, 2)}\n`;
      // The directory is there but for the first write: created only when the write finds it missing.
      await writeAtomic(this.#entryPath(entry.id), text).catch(async (err) => {
        if (errno(err) !== 'ENOENT') throw err;
        await ensureDir(this.dir);
        await writeAtomic(this.#entryPath(entry.id), text);
      });
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
    await this.#checkTrust();
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
    let text: string | null;
    try {
      text = await readTrusted(file);
    } catch (err) {
      if (err instanceof UntrustedLedgerError) throw err;
      throw ledgerError(`cannot read ${file}`, err);
    }
    if (text === null) return null;
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
    await this.#checkTrust();
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
        // Never salvaged: what another user may have written is not reverted, in part or whole.
        if (err instanceof UntrustedLedgerError) throw err;
        corrupt.push(await this.#corrupt(file, id, err));
      }
    }
    const entries = [...byId.values()].sort((a, b) =>
      a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt < b.createdAt ? -1 : 1,
    );
    return { entries, corrupt };
  }

  async #corrupt(file: string, id: string, err: unknown): Promise<CorruptEntry> {
    const text = await readFile(file, 'utf8').catch(() => '');
    // The parse error itself, on one line (the file is named beside it).
    const error = String((err as { cause?: Error }).cause?.message ?? (err as Error).message).replace(
      /\s+/g,
      ' ',
    );
    return { file, id, error, salvaged: salvageEntry(text) };
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
    try {
      await this.write(next);
    } catch (err) {
      // Give the claim back as it was: a claim left behind would block this very
      // process's revert (the caller reverts at once when this write fails).
      await rename(this.#claimPath(id, process.pid), this.#entryPath(id)).catch(() => undefined);
      heldClaims.delete(this.#held(id));
      throw err;
    }
    await unlinkIfPresent(this.#claimPath(id, process.pid)).catch(() => undefined);
    heldClaims.delete(this.#held(id));
    return next;
  }

  #held(id: string): string {
    return `${this.dir}\0${id}`;
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
    } finally {
      heldClaims.delete(this.#held(id));
    }
  }

  /**
   * Claims an entry for exclusive revert by renaming it to `<id>.json.claim-<pid>`.
   * Returns the entry (with its stored state), or null when it is gone or claimed
   * by a live process (including another task of this one). A dead process's
   * claim is taken over, and so is a claim of this process that no task holds
   * (left by a write that failed half-way): a process never waits on itself.
   */
  async claim(id: string): Promise<LedgerEntry | null> {
    checkId(id);
    await this.#checkTrust();
    const mine = this.#claimPath(id, process.pid);
    try {
      await rename(this.#entryPath(id), mine);
      return await this.#readClaimed(id, mine);
    } catch (err) {
      if (err instanceof FaultlineError) throw err;
      if (errno(err) !== 'ENOENT') throw ledgerError(`cannot claim fault ${id}`, err);
    }
    for (const c of await this.#claimFiles(id)) {
      if (c.pid === process.pid) {
        if (heldClaims.has(this.#held(id))) return null;
        return await this.#readClaimed(id, mine);
      }
      if (await isProcessAlive(c.pid)) return null;
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
      heldClaims.add(this.#held(id));
      return { ...entry, claimedBy: process.pid };
    } catch (err) {
      await rename(file, this.#entryPath(id)).catch(() => undefined);
      throw err instanceof FaultlineError ? err : ledgerError(`cannot read claimed fault ${id}`, err);
    }
  }

  /**
   * Gives back this process's claim (the revert failed), optionally recording changes
   * such as `lastError`; a `lastError` counts one failed attempt (`revertAttempts`,
   * `firstFailedAt`). When the changed entry cannot be written (a full disk), the
   * claim is still given back unchanged: an entry stuck under our claim would make
   * this process wait on itself.
   */
  async release(id: string, patch: Partial<Omit<LedgerEntry, 'id' | 'claimedBy'>> = {}): Promise<void> {
    checkId(id);
    const mine = this.#claimPath(id, process.pid);
    try {
      if (Object.keys(patch).length > 0) {
        const current = await this.#read(mine, id);
        if (current) {
          const failed =
            patch.lastError === undefined
              ? {}
              : {
                  revertAttempts: (current.revertAttempts ?? 0) + 1,
                  firstFailedAt: current.firstFailedAt ?? new Date().toISOString(),
                };
          try {
            await this.write({ ...current, ...patch, ...failed, id });
          } catch {
            await rename(mine, this.#entryPath(id));
            return;
          }
        }
        await unlinkIfPresent(mine);
      } else {
        await rename(mine, this.#entryPath(id));
      }
    } catch (err) {
      if (errno(err) === 'ENOENT') return;
      throw err instanceof FaultlineError ? err : ledgerError(`cannot release fault ${id}`, err);
    } finally {
      // Only now: until the claim file is gone, another task of ours must wait, not take it over.
      heldClaims.delete(this.#held(id));
    }
  }

  // ---------------------------------------------------------------- by hand

  /**
   * The full ids of the entries (readable or corrupt) whose id starts with `prefix`,
   * so a human can type the short id `faultline status` shows.
   */
  async matchIds(prefix: string): Promise<string[]> {
    const ids = new Set<string>();
    for (const name of await this.#names(this.dir)) {
      const id = ENTRY_FILE.exec(name)?.[1] ?? CLAIM_FILE.exec(name)?.[1];
      if (id?.startsWith(prefix)) ids.add(id);
    }
    return [...ids].sort();
  }

  /** An entry as stored, or the corrupt file with what could be read of it; null when there is none. */
  async inspect(id: string): Promise<{ entry: LedgerEntry } | { corrupt: CorruptEntry } | null> {
    checkId(id);
    try {
      const entry = await this.get(id);
      return entry ? { entry } : null;
    } catch (err) {
      if (err instanceof UntrustedLedgerError) throw err;
      const files = [this.#entryPath(id), ...(await this.#claimFiles(id)).map((c) => c.file)];
      for (const file of files) {
        if (
          await readFile(file).then(
            () => true,
            () => false,
          )
        ) {
          return { corrupt: await this.#corrupt(file, id, err) };
        }
      }
      throw err;
    }
  }

  /**
   * Removes an entry a human decided to forget, after appending what it held to
   * `forgotten.log` (fsynced before the entry goes: nothing is forgotten unrecorded).
   * Refused while a live process other than this one holds its claim.
   */
  async forget(id: string): Promise<ForgottenRecord | null> {
    const found = await this.inspect(id);
    if (!found) return null;
    if ('entry' in found && found.entry.claimedBy !== undefined && found.entry.claimedBy !== process.pid) {
      if (await isProcessAlive(found.entry.claimedBy)) {
        throw new FaultlineError(
          'FAULTLINE_ERR_LEDGER',
          `fault ${id} is being reverted by process ${found.entry.claimedBy}: not forgotten`,
        );
      }
    }
    const me = await selfIdentity();
    const user = process.env.SUDO_USER ?? process.env.USER;
    let rec: ForgottenRecord;
    if ('entry' in found) {
      const e = found.entry;
      rec = {
        at: new Date().toISOString(),
        id,
        kind: e.kind,
        target: e.target,
        state: e.state,
        ...(e.lastError === undefined ? {} : { lastError: e.lastError }),
        by: { pid: me.pid, ...(user ? { user } : {}), host: me.host },
        entry: redactSecrets(stored(e)),
      };
    } else {
      const c = found.corrupt;
      const raw = await readFile(c.file, 'utf8').catch(() => '');
      rec = {
        at: new Date().toISOString(),
        id,
        ...(c.salvaged.kind === undefined ? {} : { kind: c.salvaged.kind }),
        ...(c.salvaged.target === undefined ? {} : { target: c.salvaged.target }),
        corrupt: c.error,
        by: { pid: me.pid, ...(user ? { user } : {}), host: me.host },
        entry: raw.slice(0, 65_536),
      };
    }
    try {
      await ensureDir(this.home);
      const fh = await open(join(this.home, FORGOTTEN_LOG), 'a', 0o600);
      try {
        await fh.appendFile(`${JSON.stringify(rec)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw ledgerError(`cannot record the forgotten entry in ${join(this.home, FORGOTTEN_LOG)}`, err);
    }
    await this.remove(id);
    return rec;
  }

  /** Every line of `forgotten.log` that parses, oldest first (an unreadable log reads as empty). */
  async listForgotten(): Promise<ForgottenRecord[]> {
    const text = await readFile(join(this.home, FORGOTTEN_LOG), 'utf8').catch(() => '');
    const out: ForgottenRecord[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as ForgottenRecord);
      } catch {
        // A torn last line (a crash mid-append) is skipped, the rest still counts.
      }
    }
    return out;
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

  async #writeRun(info: RunInfo): Promise<void> {
    await this.#checkTrust();
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
      // An untrusted run file is ignored: halt would signal the pid it names.
      const run: unknown = JSON.parse((await readTrusted(file)) ?? '');
      return misfit(run, RUN_FIELDS) ? null : (run as RunInfo);
    } catch {
      return null;
    }
  }

  /** Every readable run file. */
  async listRuns(): Promise<RunInfo[]> {
    await this.#checkTrust();
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

  /**
   * The halt in force, or null. A halt file that cannot be read, or that another user could
   * have written, still counts as a halt, with nothing in it believed (home.ts readHaltFile:
   * no link followed, a FIFO never waited on).
   */
  readHalt(): Promise<HaltState | null> {
    return readHaltFile(this.home);
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
