/**
 * `faultline status | halt | halt --release | recover` as library calls: the
 * data each command prints, with the exit-relevant judgement (`faultsInPlace`)
 * made here so the CLI only renders. Light on purpose, like lib/faults.ts:
 * `faultline halt` loads this on its fast path (test/unit/halt-path-light.test.ts),
 * so the proxy registry is loaded only by faultStatus(), when it is called.
 */
import { faultlineHome } from '../faults/home.js';
import * as recovery from '../faults/recovery.js';
import type { ProxyServerRecord } from '../proxy/registry.js';
import { haltAll, recoverOrphans } from './faults.js';

/** Where the ledger, the halt flag and the settings file are: `$FAULTLINE_HOME` as the CLI finds it unless given. */
export interface FaultlineHomeOptions {
  /** `$FAULTLINE_HOME`; default from `env`. */
  home?: string;
  /** Where FAULTLINE_HOME is read when `home` is not given; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The home the options name, else FAULTLINE_HOME from their `env` (default process.env), else ~/.faultline. */
export const homeOf = (o: FaultlineHomeOptions): string => o.home ?? faultlineHome(o.env ?? process.env);

/** What `faultline status` shows. */
export interface StatusReport extends recovery.FaultStatus {
  /** Running proxy servers and the faults on them, ledgered or not (`faultline proxy toxic add`, any client). */
  proxyServers: ProxyServerRecord[];
}

/**
 * The active faults (oldest first), corrupt and forgotten ledger entries, the
 * halt in force, and the running proxy servers' faults.
 *
 * @example
 * const { faults, halt } = await faultStatus();
 * if (halt) console.log(`halted since ${halt.since}`);
 */
export async function faultStatus(options: FaultlineHomeOptions = {}): Promise<StatusReport> {
  const home = homeOf(options);
  const status = await recovery.faultStatus({ home });
  // Loaded here, not at the top: the halt path imports this module and counts every ms.
  const registry = await import('../proxy/registry.js');
  return { ...status, proxyServers: await registry.listProxyServers(home) };
}

export interface HaltResult extends recovery.HaltReport {
  /** A fault may still be in place (a revert failed, an entry unreadable): `faultline halt` exits 1. */
  faultsInPlace: boolean;
}

/**
 * Raises the halt flag (new runs and injections are refused, running ones on
 * this host stop and revert) and reverts every fault in the ledger and on the
 * running proxy servers.
 *
 * @example
 * const report = await halt({ reason: 'pager went off' });
 * if (!report.flag.raised || report.faultsInPlace) console.error('halt incomplete', report.failed);
 */
export async function halt(options: FaultlineHomeOptions & { reason?: string } = {}): Promise<HaltResult> {
  const report = await haltAll({
    home: homeOf(options),
    ...(options.reason === undefined ? {} : { reason: options.reason }),
  });
  return { ...report, faultsInPlace: recovery.hasFaultsInPlace(report) };
}

/** Lifts the halt; false when none was in force. */
export function releaseHalt(options: FaultlineHomeOptions = {}): Promise<boolean> {
  return recovery.releaseHalt({ home: homeOf(options) });
}

export interface RecoverResult extends recovery.RecoveryReport {
  /** A fault may still be in place: `faultline recover` exits 1. */
  faultsInPlace: boolean;
}

/**
 * What `faultline recover` does: reverts faults whose runner died, expired
 * ones, corrupt entries that can be read, and retries failed injections' cleanup.
 *
 * @example
 * const report = await recover();
 * for (const r of report.reverted) console.log('reverted', r.kind, r.target);
 */
export async function recover(options: FaultlineHomeOptions = {}): Promise<RecoverResult> {
  const report = await recoverOrphans({ home: homeOf(options), includeExpired: true });
  return { ...report, faultsInPlace: recovery.hasFaultsInPlace(report) };
}
