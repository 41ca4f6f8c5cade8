/**
 * Hosts made of network namespaces for the network-fault tests and benchmark:
 * a namespace per peer, joined to the root namespace by a veth pair
 * (root 10.231.<n>.1/30 <-> namespace 10.231.<n>.2/30), a peer process inside
 * it (test/fixtures/network/peer.mjs), and the "nothing left behind" check.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './faults.js';

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function hasTool(tool: string): boolean {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SBIN]) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** Why network tests cannot run here (printed by t.skip), or undefined when they can. */
export function networkSkipReason(tools: string[] = ['ip', 'nft', 'tc', 'iptables']): string | undefined {
  if (process.getuid?.() !== 0) return 'network fault tests need root (network namespaces, nft, tc)';
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length > 0)
    return `network fault tests need ${missing.join(', ')} (install nftables, iptables, iproute2)`;
  return undefined;
}

/** Runs a command (argument array) and returns stdout; throws with stderr on failure. */
export function sh(argv: string[]): string {
  const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:${SBIN.join(':')}` };
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
}

function trySh(argv: string[]): string {
  try {
    return sh(argv);
  } catch {
    return '';
  }
}

export interface Peer {
  /** Namespace name (unique: includes this process's pid). */
  ns: string;
  /** The veth end in the root namespace, and its address. */
  hostIf: string;
  hostIp: string;
  /** The veth end inside the namespace, and its address. */
  nsIf: string;
  nsIp: string;
  tcpEcho: number;
  tcpBlast: number;
  udpEcho: number;
  child: ChildProcess;
}

let counter = 0;

/** Creates a namespace + veth pair + a peer process inside it. Undo with destroyPeer (also on failure). */
export async function createPeer(): Promise<Peer> {
  const n = counter++;
  const id = `${process.pid % 100000}${String.fromCharCode(97 + (n % 26))}`;
  const ns = `flt-${process.pid}-${n}`;
  const hostIf = `flh${id}`;
  const nsIf = `fln${id}`;
  // A /30 per peer; the octet comes from pid and counter so parallel runs rarely collide.
  const octet = (process.pid * 7 + n) % 250;
  const hostIp = `10.231.${octet}.1`;
  const nsIp = `10.231.${octet}.2`;
  try {
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns]);
    sh(['ip', 'addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
    sh(['ip', 'link', 'set', hostIf, 'up']);
    sh(['ip', '-n', ns, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf]);
    sh(['ip', '-n', ns, 'link', 'set', nsIf, 'up']);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    destroyNamespace(ns, hostIf);
    throw err;
  }
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, join(repoRoot, 'test/fixtures/network/peer.mjs'), nsIp],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:${SBIN.join(':')}` },
    },
  );
  const ready = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('ready ')) resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`peer in ${ns} exited with ${code}`)));
  }).catch((err) => {
    destroyNamespace(ns, hostIf);
    throw err;
  });
  const [, e, b, u] = ready.split(' ').map(Number);
  return { ns, hostIf, hostIp, nsIf, nsIp, tcpEcho: e!, tcpBlast: b!, udpEcho: u!, child };
}

function destroyNamespace(ns: string, hostIf: string): void {
  trySh(['ip', 'link', 'del', hostIf]);
  trySh(['ip', 'netns', 'del', ns]);
}

export async function destroyPeer(p: Peer): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    const exited = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGKILL');
    await exited;
  }
  destroyNamespace(p.ns, p.hostIf);
}

/**
 * Every Faultline object in a namespace (undefined: the root one): nftables
 * tables named faultline_*, iptables/ip6tables chains or rules mentioning
 * FAULTLINE/faultline:, and root qdiscs that are not the default (handle 0:).
 */
export function faultlineLeftovers(ns?: string): string[] {
  const inNs = (argv: string[]) => (ns === undefined ? argv : ['ip', 'netns', 'exec', ns, ...argv]);
  const found: string[] = [];
  for (const line of trySh(inNs(['nft', 'list', 'tables'])).split('\n')) {
    if (line.includes('faultline_')) found.push(`nft: ${line.trim()}`);
  }
  for (const bin of ['iptables', 'ip6tables']) {
    for (const line of trySh(inNs([bin, '-w', '-S'])).split('\n')) {
      if (/FAULTLINE-|faultline:/.test(line)) found.push(`${bin}: ${line.trim()}`);
    }
  }
  const qdiscs = JSON.parse(trySh(inNs(['tc', '-j', 'qdisc', 'show'])) || '[]') as {
    kind: string;
    handle: string;
    dev: string;
    root?: boolean;
  }[];
  for (const q of qdiscs) {
    if (q.root && q.handle !== '0:') found.push(`tc: ${q.kind} ${q.handle} on ${q.dev}`);
  }
  return found;
}
