/**
 * Makes every running Faultline proxy server (`faultline proxy`, and a run's
 * in-process `proxies:`) answer to `faultline status` and `faultline halt`,
 * however its toxics were added (CLI, API, any Toxiproxy client): toxics
 * added through the API are not ledgered faults, so without this a halt would
 * leave them in place and say "0 reverted".
 *
 * Each server keeps `$FAULTLINE_HOME/proxies/<pid>-<n>.json` (written
 * atomically on every change): its pid and process start time, its API
 * address, its toxics and the proxies its API disabled. It watches the halt
 * flag the engines watch; on a halt it reverts all of it, refuses new faults
 * (423) until `halt --release`, and writes an acknowledgement naming the halt
 * (the flag's pid and host) and what it reverted. `haltAll` waits a bounded
 * time for every live server's acknowledgement and counts what they reverted.
 * No token is needed and none is written: the file holds no secret.
 *
 * The directory and its files get the ledger's trust check (faults/home.ts):
 * a home or `proxies/` another user could write is refused (nothing written
 * there, nothing read from it), a record file is read only if it is a regular
 * file (no link followed) of this user or root that no one else can write, and
 * one that is not is neither believed nor removed. The halt flag is read the
 * same way (readHaltFile).
 */
import { type FSWatcher, watch } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  checkHomeTrusted,
  ensureDir,
  HALT_FILE,
  type HaltFlag,
  readHaltFile,
  readTrustedFile,
  writeAtomic,
} from '../faults/home.js';
import { isProcessAlive, processStartTime } from '../faults/ledger.js';
import type { HaltReport, RevertOutcome } from '../faults/recovery.js';
import type { HaltedFault, ProxyFaults, ProxyManager } from './manager.js';

/** The registry's directory under `$FAULTLINE_HOME`. */
export const PROXIES_DIR = 'proxies';

/** How long `faultline halt` waits for running proxy servers to acknowledge. */
export const HALT_ACK_TIMEOUT_MS = 2000;

export interface ProxyServerRecord extends ProxyFaults {
  pid: number;
  /** The process start time (from /proc), so a reused pid is not taken for the server. */
  start: string | null;
  host: string;
  /** The control API's URL. */
  api: string;
  /** `server`: `faultline proxy`; `run`: an experiment's in-process proxies. */
  role: 'server' | 'run';
  startedAt: string;
  updatedAt: string;
  /** Set while a halt is in force: which halt (the flag's writer) and what this server reverted for it. */
  halt?: { pid: number; host: string; since: string; at: string; reverted: HaltedFault[] };
  /** The registry file (set by the readers, not stored). */
  file?: string;
}

/** A registry file is a few KiB (a server's toxics): a larger one is not read. */
const MAX_RECORD_BYTES = 4 * 1024 * 1024;

let sequence = 0;

export interface RegisteredServer {
  /** Stops watching the halt flag and removes the registry file. */
  close(): Promise<void>;
}

/**
 * Registers a running proxy server and keeps its file current; reverts its faults when
 * `faultline halt` raises the flag. `onError` hears registry write failures (never thrown:
 * the proxy keeps serving, and `status` simply cannot see it).
 */
export async function registerProxyServer(opts: {
  home: string;
  api: string;
  role: ProxyServerRecord['role'];
  manager: ProxyManager;
  haltPollMs?: number;
  onError?: (err: Error) => void;
  onHalt?: (reverted: HaltedFault[], flag: HaltFlag) => void;
}): Promise<RegisteredServer> {
  const { home, manager } = opts;
  const dir = join(home, PROXIES_DIR);
  // Checked before anything is created in it, and again once `proxies/` exists.
  await checkHomeTrusted(home, [dir]);
  await ensureDir(dir);
  await checkHomeTrusted(home, [dir]);
  const file = join(dir, `${process.pid}-${++sequence}.json`);
  const base = {
    pid: process.pid,
    start: await processStartTime(process.pid),
    host: hostname(),
    api: opts.api,
    role: opts.role,
    startedAt: new Date().toISOString(),
  };
  let halt: ProxyServerRecord['halt'];
  let closed = false;

  // Writes are chained and coalesced: the file always ends with the latest state.
  let writing: Promise<void> = Promise.resolve();
  let dirty = false;
  const write = (): Promise<void> => {
    if (closed) return writing;
    if (dirty) return writing;
    dirty = true;
    writing = writing.then(async () => {
      dirty = false;
      if (closed) return;
      const record: ProxyServerRecord = {
        ...base,
        updatedAt: new Date().toISOString(),
        ...manager.faults(),
        ...(halt ? { halt } : {}),
      };
      await writeAtomic(file, `${JSON.stringify(record, null, 2)}\n`).catch((err: Error) =>
        opts.onError?.(err),
      );
    });
    return writing;
  };

  let lastFlag: string | null = null;
  let checking: Promise<void> = Promise.resolve();
  const check = (): Promise<void> => {
    checking = checking.then(async () => {
      if (closed) return;
      const flag = await readHaltFile(home);
      const key = flag ? JSON.stringify(flag) : null;
      if (key === lastFlag) return;
      lastFlag = key;
      if (!flag) {
        manager.release();
        halt = undefined;
        await write();
        return;
      }
      const reverted = await manager.halt(
        `faultline halt in force since ${flag.since || 'now'}${flag.reason ? ` (${flag.reason})` : ''}: new toxics are refused until \`faultline halt --release\``,
      );
      // The same halt command writes the flag twice (its launcher, then haltAll): one count.
      const same = halt && halt.pid === flag.pid && halt.host === flag.host;
      halt = {
        pid: flag.pid,
        host: flag.host,
        since: flag.since,
        at: new Date().toISOString(),
        reverted: same && halt ? [...halt.reverted, ...reverted] : reverted,
      };
      // The launcher's flag and haltAll's are one halt: tell it once, plus anything reverted later.
      if (!same || reverted.length > 0) opts.onHalt?.(reverted, flag);
      await write();
    });
    return checking;
  };

  const unsubscribe = manager.onChange(() => void write());
  await check(); // a halt already in force applies from the start
  await write();
  const timer = setInterval(() => void check(), opts.haltPollMs ?? 100);
  timer.unref();
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(home, (_event, name) => name === HALT_FILE && void check());
    watcher.on('error', () => {});
    watcher.unref();
  } catch {
    // Polling alone still sees the halt.
  }

  return {
    async close() {
      unsubscribe();
      clearInterval(timer);
      watcher?.close();
      await checking;
      await writing;
      closed = true;
      await unlink(file).catch(() => undefined);
    },
  };
}

/**
 * Every registered server whose process still runs; files of dead servers are removed.
 * Throws (naming the path and the fix) when the home or `proxies/` is not trusted.
 */
export async function listProxyServers(home: string): Promise<ProxyServerRecord[]> {
  const dir = join(home, PROXIES_DIR);
  await checkHomeTrusted(home, [dir]);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  } catch {
    return [];
  }
  const me = hostname();
  const out: ProxyServerRecord[] = [];
  await Promise.all(
    names.map(async (name) => {
      const file = join(dir, name);
      let record: ProxyServerRecord;
      try {
        const read = await readTrustedFile(file, MAX_RECORD_BYTES);
        // Not a server's own file (another user's, a link): neither believed nor removed.
        if (read === null || 'refused' in read) return;
        record = JSON.parse(read.text) as ProxyServerRecord;
        if (!Number.isInteger(record.pid) || typeof record.api !== 'string') return;
      } catch {
        return; // removed meanwhile, or being replaced (writes are atomic: never half-written)
      }
      if (record.host === me && !(await isProcessAlive(record.pid, record.start))) {
        await unlink(file).catch(() => undefined);
        return;
      }
      out.push({ ...record, toxics: record.toxics ?? [], disabled: record.disabled ?? [], file });
    }),
  );
  return out.sort((a, b) => a.pid - b.pid || a.api.localeCompare(b.api));
}

const what = (s: ProxyServerRecord) =>
  `${s.role === 'run' ? 'run proxies' : 'proxy server'} pid ${s.pid} (${s.api})`;

function faultCount(s: ProxyServerRecord): number {
  return s.toxics.length + s.disabled.length;
}

/** `proxy/toxic @ host:port`, the key a ledgered toxic fault and a server's revert share. */
function key(api: string, proxy: string, toxic?: string): string {
  let host = api;
  try {
    host = new URL(api).host;
  } catch {}
  return `${proxy}${toxic === undefined ? '' : `/${toxic}`} @ ${host}`;
}

/**
 * The part of `faultline halt` for proxy servers: waits (bounded) until every live server
 * has acknowledged this halt (the flag written by `flagPid`@`flagHost`), then adds what
 * they reverted to the report, except what a ledgered fault's own revert already counted.
 * A server that does not answer in time with faults in place is a failure.
 */
export async function haltProxyServers(
  home: string,
  halt: { pid: number; host: string; flagRaised: boolean },
  report: Pick<HaltReport, 'reverted' | 'failed'>,
  timeoutMs = HALT_ACK_TIMEOUT_MS,
): Promise<void> {
  let servers = await listProxyServers(home);
  if (servers.length === 0) return;
  const acked = (s: ProxyServerRecord) => s.halt?.pid === halt.pid && s.halt.host === halt.host;
  const deadline = Date.now() + (halt.flagRaised ? timeoutMs : 0);
  while (servers.some((s) => !acked(s)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    servers = await listProxyServers(home);
  }
  const counted = new Set<string>();
  for (const r of report.reverted) {
    const m = /^(.*) @ (.*)$/.exec(r.target);
    if ((r.kind === 'proxy-toxic' || r.kind === 'proxy-down') && m) counted.add(key(m[2]!, m[1]!));
  }
  for (const s of servers) {
    const runId = `${s.role === 'run' ? 'run-proxies' : 'proxy-server'}-${s.pid}`;
    if (!acked(s)) {
      if (faultCount(s) === 0) continue; // nothing known to be in place
      const why = halt.flagRaised
        ? `did not acknowledge the halt within ${timeoutMs / 1000} s`
        : 'was not told: the halt flag could not be written';
      report.failed.push({
        id: s.file ?? runId,
        kind: 'proxy-server',
        runId,
        target: `${faultCount(s)} fault(s) on ${what(s)}`,
        reason: 'halt',
        verified: false,
        error: `${what(s)} ${why}; its toxics may remain: \`faultline proxy reset --url ${s.api}\``,
      });
      continue;
    }
    for (const item of s.halt?.reverted ?? []) {
      const k = key(s.api, item.proxy, item.toxic);
      if (counted.has(k)) continue;
      counted.add(k);
      const outcome: RevertOutcome = {
        id: `${runId}:${item.proxy}${item.toxic ? `/${item.toxic}` : ''}`,
        kind: item.toxic ? 'proxy-toxic' : 'proxy-down',
        runId,
        target: item.toxic
          ? `${item.proxy}/${item.toxic} (${item.type} ${item.stream}) @ ${s.api}`
          : `${item.proxy} @ ${s.api} (re-enabled)`,
        reason: 'halt',
        verified: true,
      };
      report.reverted.push(outcome);
    }
  }
}

/** `faultline status` lines for the faults in place on running proxy servers (none: no lines). */
export function describeProxyServers(servers: ProxyServerRecord[]): string[] {
  const lines: string[] = [];
  for (const s of servers) {
    for (const t of s.toxics) {
      const attrs = Object.entries(t.attributes)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      const ttl = t.ttl === undefined ? '' : `, ttl ${Math.round(t.ttl / 1000)}s`;
      lines.push(
        `proxy toxic ${t.proxy}/${t.name}: ${t.type}${attrs ? ` ${attrs}` : ''} (${t.stream}${t.toxicity === 1 ? '' : `, toxicity ${t.toxicity}`}${ttl}) on ${what(s)}`,
      );
    }
    for (const p of s.disabled) lines.push(`proxy ${p} disabled on ${what(s)}`);
  }
  return lines;
}
