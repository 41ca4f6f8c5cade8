/**
 * Fleet hosts made of network namespaces (issue #16), shared by the fleet's
 * namespace tests: a namespace joined to the root one by a veth pair with a
 * /30 of its own, one built `faultline agent` inside it (`ip netns exec`,
 * dialling the test's nats-server on the root side of its veth), and what runs
 * beside it (the network peer fixture, any long-running process). Each test
 * file passes its own address prefix so files can run at once: 10.231.x is
 * test/helpers/netns.ts's, 10.233.x fleet-netns's, 10.234.x fleet-netns-faults's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BIN, ROOT } from './cli.js';
import { natsServerMissing, type TestNats } from './nats.js';
import { networkSkipReason, sh } from './netns.js';

/** A hang guard for one step: never a timing assertion. */
export const GUARD_MS = 60_000;
export const SBIN = '/usr/local/sbin:/usr/sbin:/sbin';
const withSbin = () => ({ ...process.env, PATH: `${process.env.PATH ?? ''}:${SBIN}` });

export function trySh(argv: string[]): string | undefined {
  try {
    return sh(argv);
  } catch {
    return undefined;
  }
}

/**
 * Why a fleet namespace test cannot run here (for t.skip), or undefined: root,
 * the tools it needs, nats-server, and the built CLI the agents run.
 */
export function fleetSkipReason(tools: string[] = ['ip']): string | undefined {
  const skip = networkSkipReason(tools) || natsServerMissing();
  if (skip) return skip;
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) return 'the built CLI is missing (run npm run build)';
  return undefined;
}

export interface Host {
  /** The agent's name (`host-<label>`) and the label `host=<label>` it carries. */
  name: string;
  label: string;
  ns: string;
  /** veth end in the root namespace (and its address, where the agent reaches NATS). */
  hostIf: string;
  hostIp: string;
  /** veth end inside the namespace (and its address). */
  nsIf: string;
  nsIp: string;
  home: string;
  /** A marker file path for `marker.create` on this host. */
  marker: string;
  child?: ChildProcess;
  output: string;
}

export interface HostOptions {
  /** The first two octets of the host's /30, e.g. '10.234'; distinct per test file. */
  prefix: string;
  work: string;
  /** The agent's FAULTLINE_HOME. */
  home: string;
}

/** Hosts made by this process: names and /30s stay unique when a test file makes several rounds of them. */
let made = 0;

/** A namespace joined to the root one by a veth pair with its own /30; removed by destroyHost (also on failure). */
export function createHost(label: string, o: HostOptions): Host {
  const n = made++;
  const tag = `${process.pid % 100000}${label}${n % 100}`;
  const octet = (process.pid * 3) % 250;
  const base = (n % 64) * 4;
  const h: Host = {
    name: `host-${label}`,
    label,
    ns: `fl-host-${label}-${process.pid}-${n}`,
    hostIf: `flr${tag}`,
    hostIp: `${o.prefix}.${octet}.${base + 1}`,
    nsIf: `fli${tag}`,
    nsIp: `${o.prefix}.${octet}.${base + 2}`,
    home: o.home,
    marker: join(o.work, `marker-${label}-${n}`),
    output: '',
  };
  try {
    sh(['ip', 'netns', 'add', h.ns]);
    sh(['ip', 'link', 'add', h.hostIf, 'type', 'veth', 'peer', 'name', h.nsIf, 'netns', h.ns]);
    sh(['ip', 'addr', 'add', `${h.hostIp}/30`, 'dev', h.hostIf]);
    sh(['ip', 'link', 'set', h.hostIf, 'up']);
    sh(['ip', '-n', h.ns, 'addr', 'add', `${h.nsIp}/30`, 'dev', h.nsIf]);
    sh(['ip', '-n', h.ns, 'link', 'set', h.nsIf, 'up']);
    sh(['ip', '-n', h.ns, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    destroyHost(h);
    throw err;
  }
  return h;
}

/** Deleting the namespace deletes its veth end, and with it the pair; both calls are idempotent. */
export function destroyHost(h: Host): void {
  trySh(['ip', 'link', 'del', h.hostIf]);
  trySh(['ip', 'netns', 'del', h.ns]);
}

/**
 * Starts the built agent inside the host's namespace and resolves once it
 * registered. `ip netns exec` execs the command: the child's pid is the agent's own.
 */
/** Starts the host's agent (labelled host=<label>, plus `labels`, e.g. ['region=us-east-1']). */
export function startAgentIn(
  h: Host,
  nats: TestNats,
  extraArgs: string[] = [],
  labels: string[] = [],
): Promise<void> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      h.ns,
      process.execPath,
      BIN,
      'agent',
      '--nats',
      `nats://${h.hostIp}:${nats.port}`,
      '--name',
      h.name,
      '--labels',
      [`host=${h.label}`, ...labels].join(','),
      '--heartbeat',
      '1s',
      ...extraArgs,
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...withSbin(), FAULTLINE_HOME: h.home, FAULTLINE_WATCHDOG: '0', NO_COLOR: '1' },
    },
  );
  h.child = child;
  return new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      if (h.output.length < 50_000) h.output += d.toString();
      if (/registered/.test(h.output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) =>
      reject(new Error(`agent ${h.name} exited with ${code ?? signal}: ${h.output}`)),
    );
    setTimeout(() => reject(new Error(`agent ${h.name} did not register: ${h.output}`)), GUARD_MS).unref();
  });
}

/** SIGTERM (the agent reverts what it holds), SIGKILL after the guard; resolves with the exit code. */
export async function stopAgent(h: Host): Promise<number | null> {
  const c = h.child;
  if (!c) return null;
  if (c.exitCode !== null || c.signalCode !== null) return c.exitCode;
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), GUARD_MS);
  const code = await exited;
  clearTimeout(t);
  return code;
}

export const alive = (pid: number | undefined): boolean => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The fault entries of a Faultline home's ledger. */
export const ledgerFaults = async (home: string): Promise<string[]> => {
  try {
    return (await readdir(join(home, 'ledger'))).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
};

/** A command running inside a host's namespace; `ip netns exec` execs it, so `pid` is the command's own. */
export interface InHost {
  child: ChildProcess;
  pid: number;
  /** SIGKILL and wait for the exit (idempotent). */
  kill(): Promise<void>;
}

function inHost(h: Host, argv: string[], stdio: 'ignore' | 'pipe'): InHost {
  const child = spawn('ip', ['netns', 'exec', h.ns, ...argv], {
    stdio: [stdio, stdio, 'inherit'],
    env: withSbin(),
  });
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  return { child, pid: child.pid!, kill };
}

/** The single-letter state of /proc/<pid>/stat (R, S, T...), or undefined once the process is gone. */
export async function procState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // The name in parentheses may hold spaces or parentheses: the state follows the last ')'.
  return stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

export const procComm = async (pid: number): Promise<string | undefined> =>
  (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => undefined))?.trim();

/**
 * `sleep 600` inside the host's namespace, resolved once the pid runs sleep
 * (until `ip` has exec'd it, the pid still runs `ip`).
 */
export async function sleepIn(h: Host): Promise<InHost> {
  const p = inHost(h, ['sleep', '600'], 'ignore');
  const end = Date.now() + GUARD_MS;
  while ((await procComm(p.pid)) !== 'sleep') {
    if (p.child.exitCode !== null || Date.now() > end) {
      await p.kill();
      throw new Error(`sleep 600 in ${h.ns} did not start`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return p;
}

export interface HostPeer extends InHost {
  tcpEcho: number;
  tcpBlast: number;
  udpEcho: number;
}

/**
 * The network peer fixture (test/fixtures/network/peer.mjs: TCP echo, TCP
 * blast, UDP echo) listening on the host's namespace address.
 */
export async function peerIn(h: Host): Promise<HostPeer> {
  const p = inHost(h, [process.execPath, join(ROOT, 'test/fixtures/network/peer.mjs'), h.nsIp], 'pipe');
  try {
    const ready = await new Promise<string>((resolve, reject) => {
      createInterface({ input: p.child.stdout! }).on('line', (l) => {
        if (l.startsWith('ready ')) resolve(l);
      });
      p.child.once('exit', (code) => reject(new Error(`peer in ${h.ns} exited with ${code}`)));
      setTimeout(() => reject(new Error(`peer in ${h.ns} did not listen`)), GUARD_MS).unref();
    });
    const [, e, b, u] = ready.split(' ').map(Number);
    return { ...p, tcpEcho: e!, tcpBlast: b!, udpEcho: u! };
  } catch (err) {
    await p.kill();
    throw err;
  }
}
