/**
 * Runs the argument arrays of commands.ts (execFile: no shell), and the
 * preflight checks every network fault makes before anything is ledgered:
 * root, the tools, the namespace, the interface, netem in the kernel.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { FaultlineError } from '../../core/errors.js';
import {
  inNamespace,
  linkShowArgs,
  netemParams,
  PRIO_PARAMS,
  probeLinkAddArgs,
  probeLinkDelArgs,
  type TcRoot,
  tcAddRootArgs,
} from './commands.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Non-interactive root shells often lack the sbin directories where these tools live. */
const EXTRA_PATH = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
const toolPaths = new Map<string, string | null>();

/** The absolute path of `tool`, or null when it is not installed. Cached. */
export function findTool(tool: string): string | null {
  const cached = toolPaths.get(tool);
  if (cached !== undefined) return cached;
  let found: string | null = null;
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_PATH]) {
    if (!dir) continue;
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      found = p;
      break;
    } catch {
      // not here
    }
  }
  toolPaths.set(tool, found);
  return found;
}

/** Resolves the tool names of an argv (the command, and the one `ip netns exec` runs) to paths. */
function resolveArgv(argv: string[]): string[] {
  const out = [...argv];
  const at = out[0] === 'ip' && out[1] === 'netns' && out[2] === 'exec' ? [0, 4] : [0];
  for (const i of at) {
    const tool = out[i];
    if (tool === undefined) continue;
    const path = findTool(tool);
    if (path === null) throw new FaultlineError('FAULTLINE_ERR_UNSUPPORTED', `${tool} is not installed`);
    out[i] = path;
  }
  return out;
}

/**
 * Runs a command; resolves with its exit code and output whatever the code (spawn failures reject).
 * An aborted `signal` kills it and rejects (an injection being cancelled).
 */
export function run(argv: string[], timeoutMs = 10_000, signal?: AbortSignal): Promise<CommandResult> {
  const [cmd, ...args] = resolveArgv(argv);
  return new Promise((resolve, reject) => {
    const opts = { timeout: timeoutMs, maxBuffer: 16 << 20, ...(signal ? { signal } : {}) };
    execFile(cmd!, args, opts, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') {
        reject(new Error(`${argv.join(' ')}: ${err.message}`));
        return;
      }
      resolve({ code: err ? Number((err as { code: number }).code) : 0, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed; the error carries the command, exit code and stderr. */
export async function runOk(argv: string[], signal?: AbortSignal): Promise<CommandResult> {
  const r = await run(argv, 10_000, signal);
  if (r.code !== 0) throw new Error(`\`${argv.join(' ')}\` exited with ${r.code}: ${r.stderr.trim()}`);
  return r;
}

/** `ip netns exec` on a namespace that was deleted: everything the fault did there is gone with it. */
export const namespaceGone = (r: CommandResult) => /Cannot open network namespace/.test(r.stderr);

const unsupported = (what: string) => new FaultlineError('FAULTLINE_ERR_UNSUPPORTED', what);

/** Root (CAP_NET_ADMIN) and the tools, checked before anything is planned. */
export function requireRootAndTools(kind: string, tools: string[]): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw unsupported(
      `${kind}: network faults change firewall rules and qdiscs, which needs root (CAP_NET_ADMIN); ` +
        'run faultline as root, or use the fault proxy (`faultline.proxy` toxics, docs/proxy.md) which needs no privileges',
    );
  }
  const missing = tools.filter((t) => findTool(t) === null);
  if (missing.length > 0) {
    throw unsupported(
      `${kind}: ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not installed ` +
        `(install ${missing.map(packageOf).join(', ')}), or use the fault proxy's toxics (docs/proxy.md)`,
    );
  }
}

function packageOf(tool: string): string {
  if (tool === 'nft') return 'nftables';
  if (tool === 'iptables' || tool === 'ip6tables') return 'iptables';
  return 'iproute2';
}

/** The namespace exists and the interface exists in it, or a FAULTLINE_ERR_FAULT naming which. */
export async function requireScope(kind: string, namespace?: string, iface?: string): Promise<void> {
  if (namespace !== undefined && !existsSync(join('/run/netns', namespace))) {
    throw new FaultlineError(
      'FAULTLINE_ERR_FAULT',
      `${kind}: namespace: no network namespace '${namespace}'`,
      {
        issues: [
          { path: 'namespace', message: `no network namespace '${namespace}' (see \`ip netns list\`)` },
        ],
      },
    );
  }
  if (iface !== undefined) {
    const r = await run(inNamespace(namespace, linkShowArgs(iface)));
    if (r.code !== 0) {
      const where = namespace === undefined ? 'the host namespace' : `namespace '${namespace}'`;
      throw new FaultlineError(
        'FAULTLINE_ERR_FAULT',
        `${kind}: interface: no interface '${iface}' in ${where}`,
        {
          issues: [{ path: 'interface', message: `no interface '${iface}' in ${where}` }],
        },
      );
    }
  }
}

/** Whether the kernel takes a root qdisc `kind`, tried on a throwaway ifb device (no real interface is touched). */
async function probeQdisc(kind: string, params: string[]): Promise<boolean> {
  const dev = `flprobe${randomBytes(3).toString('hex')}`;
  const add = await run(probeLinkAddArgs(dev));
  if (add.code !== 0) {
    throw new Error(`cannot create a probe device to detect ${kind}: ${add.stderr.trim()}`);
  }
  try {
    const r = await run(tcAddRootArgs(dev, '1', kind, params));
    return r.code === 0;
  } finally {
    await run(probeLinkDelArgs(dev));
  }
}

let netem: Promise<boolean> | undefined;

/** Whether the kernel has the netem qdisc. Tried once per process, then cached. */
export function netemSupported(): Promise<boolean> {
  netem ??= probeQdisc('netem', netemParams({ delayMs: 1 })).catch((err) => {
    netem = undefined;
    throw err;
  });
  return netem;
}

let tcRoot: Promise<TcRoot | undefined> | undefined;

/**
 * The classful root qdisc that can carry exempt traffic past a fault's
 * netem/tbf: prio, else htb (minimal kernels build only some schedulers),
 * else undefined. Tried once per process, then cached.
 */
export function tcRootSupported(): Promise<TcRoot | undefined> {
  tcRoot ??= (async (): Promise<TcRoot | undefined> => {
    if (await probeQdisc('prio', [...PRIO_PARAMS])) return 'prio';
    if (await probeQdisc('htb', ['default', '2'])) return 'htb';
    return undefined;
  })().catch((err) => {
    tcRoot = undefined;
    throw err;
  });
  return tcRoot;
}

export function tcRootUnsupported(kind: string): FaultlineError {
  return unsupported(
    `${kind}: this process exempts its control plane from network faults (the fleet agent's NATS and DNS), ` +
      'which a tc fault does with a prio or htb root qdisc carrying the netem/tbf, and this kernel has neither ' +
      '(sch_prio, sch_htb); use the nftables kinds (partition, loss, bandwidth with mode police) or the fault proxy',
  );
}

export function netemUnsupported(kind: string): FaultlineError {
  return unsupported(
    `${kind}: this kernel has no netem qdisc (sch_netem: "Specified qdisc kind is unknown"), which latency, ` +
      'jitter, duplication and corruption need. Use the fault proxy instead: the `faultline.proxy` action ' +
      '`add_toxic` with type `latency` (attributes latency, jitter), see docs/proxy.md; or load sch_netem ' +
      '(`modprobe sch_netem`, package linux-modules-extra on some distributions)',
  );
}
