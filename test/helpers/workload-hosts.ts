/**
 * A fleet of hosts running labelled workloads, for tests that select
 * workloads (issue #19): one bridge in the root namespace (no forwarding
 * needed: hosts and workloads share its L2 segment), a nats-server on the
 * bridge's address, and per host a namespace with a built `faultline agent`
 * started with `--workloads FILE` (test/helpers/fleet-hosts.ts's
 * startAgentIn). Each workload is REAL, as a pod is: its own network namespace
 * with its own address on the bridge, a node service in it
 * (test/fixtures/workloads/service.mjs: GET /health 200, GET /fetch?url= to
 * call another workload from inside, a UDP echo on the same port) and a
 * pidfile. The root namespace reaches every workload directly.
 *
 *   const fleet = await startWorkloadFleet({
 *     hosts: [
 *       { label: 'a', workloads: [{ name: 'api', namespace: 'payment', labels: { app: 'api' } }] },
 *       { label: 'b', workloads: [{ name: 'web', namespace: 'shop', labels: { app: 'web' } }] },
 *     ],
 *   });
 *   fleet.workloads['payment/api'].url   // http://10.236.x.y:port
 *   await fleet.close();                 // agents stopped (faults reverted), processes killed, netns gone
 *
 * Call workloadFleetSkipReason() first (root, ip, nats-server, the built CLI).
 * Address prefix 10.236 (one /24 per test process); names carry the pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './cli.js';
import { fleetSkipReason, GUARD_MS, type Host, startAgentIn, stopAgent, trySh } from './fleet-hosts.js';
import { startNats, type TestNats } from './nats.js';
import { sh } from './netns.js';

export interface WorkloadSpec {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  /** Run the HTTP service (default true); false: a workload with a netns and address but no process. */
  http?: boolean;
}

export interface WorkloadFleetOptions {
  hosts: { label: string; workloads: WorkloadSpec[]; agentArgs?: string[] }[];
  /** First two octets (default 10.236). */
  prefix?: string;
}

export interface RunningWorkload {
  /** `namespace/name`. */
  ref: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  host: string;
  /** Its own network namespace (`ip netns` name) and address. */
  netns: string;
  address: string;
  port?: number;
  url?: string;
  pid?: number;
  pidfile: string;
  child?: ChildProcess;
}

export interface WorkloadFleet {
  nats: TestNats;
  hosts: Host[];
  /** By `namespace/name`. */
  workloads: Record<string, RunningWorkload>;
  /** The directory of the workloads files and pidfiles. */
  work: string;
  close(): Promise<void>;
}

export const workloadFleetSkipReason = (): string | undefined => fleetSkipReason(['ip', 'nft']);

let rounds = 0;

export async function startWorkloadFleet(o: WorkloadFleetOptions): Promise<WorkloadFleet> {
  const prefix = o.prefix ?? '10.236';
  const round = rounds++;
  const tag = `${process.pid % 100000}${round % 10}`;
  const octet = (process.pid * 5 + round) % 250;
  const bridge = `flwb${tag}`;
  const bridgeIp = `${prefix}.${octet}.1`;
  const work = await mkdtemp(join(tmpdir(), 'faultline-workloads-'));
  const links: string[] = [];
  const namespaces: string[] = [];
  const hosts: Host[] = [];
  const workloads: Record<string, RunningWorkload> = {};
  let nats: TestNats | undefined;
  let next = 10;

  /** A namespace on the bridge with the next address; returns its address. */
  const joinBridge = (ns: string, rootIf: string, nsIf: string): string => {
    const ip = `${prefix}.${octet}.${next++}`;
    sh(['ip', 'netns', 'add', ns]);
    namespaces.push(ns);
    sh(['ip', 'link', 'add', rootIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns]);
    links.push(rootIf);
    sh(['ip', 'link', 'set', rootIf, 'master', bridge]);
    sh(['ip', 'link', 'set', rootIf, 'up']);
    sh(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', nsIf]);
    sh(['ip', '-n', ns, 'link', 'set', nsIf, 'up']);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    return ip;
  };

  const close = async () => {
    await Promise.all(hosts.map((h) => stopAgent(h)));
    await Promise.all(
      Object.values(workloads).map(async (w) => {
        const c = w.child;
        if (!c || c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await exited;
      }),
    );
    for (const l of links) trySh(['ip', 'link', 'del', l]);
    for (const ns of namespaces) trySh(['ip', 'netns', 'del', ns]);
    trySh(['ip', 'link', 'del', bridge]);
    await nats?.close();
    await rm(work, { recursive: true, force: true });
  };

  try {
    sh(['ip', 'link', 'add', bridge, 'type', 'bridge']);
    sh(['ip', 'addr', 'add', `${bridgeIp}/24`, 'dev', bridge]);
    sh(['ip', 'link', 'set', bridge, 'up']);
    // Every address: agents dial the bridge's, the test's controller 127.0.0.1 (startNats checks there).
    nats = await startNats({ host: '0.0.0.0' });
    let k = 0;
    for (const [i, spec] of o.hosts.entries()) {
      const ns = `fl-wh-${spec.label}-${process.pid}-${round}`;
      const nsIp = joinBridge(ns, `flwr${tag}h${i}`, `flwi${tag}h${i}`);
      const h: Host = {
        name: `host-${spec.label}`,
        label: spec.label,
        ns,
        hostIf: `flwr${tag}h${i}`,
        hostIp: bridgeIp,
        nsIf: `flwi${tag}h${i}`,
        nsIp,
        home: join(work, `home-${spec.label}`),
        marker: join(work, `marker-${spec.label}`),
        output: '',
      };
      const entries: Record<string, unknown>[] = [];
      for (const w of spec.workloads) {
        const n = k++;
        const wns = `fl-wl-${process.pid}-${round}-${n}`;
        const address = joinBridge(wns, `flwr${tag}w${n}`, `flwi${tag}w${n}`);
        const namespace = w.namespace ?? 'default';
        const run: RunningWorkload = {
          ref: `${namespace}/${w.name}`,
          name: w.name,
          namespace,
          labels: w.labels ?? {},
          host: h.name,
          netns: wns,
          address,
          pidfile: join(work, `${namespace}-${w.name}.pid`),
        };
        workloads[run.ref] = run;
        if (w.http !== false) await startService(run);
        entries.push({
          name: w.name,
          namespace,
          labels: run.labels,
          ...(run.pid ? { processes: { pidfile: run.pidfile } } : {}),
          netns: wns,
          addresses: [address],
          ...(run.port ? { ports: [run.port], http: { url: run.url } } : {}),
        });
      }
      const file = join(work, `workloads-${spec.label}.json`);
      await writeFile(file, JSON.stringify({ workloads: entries }, null, 2));
      hosts.push(h);
      await startAgentIn(h, nats, ['--workloads', file, ...(spec.agentArgs ?? [])]);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { nats, hosts, workloads, work, close };
}

/** Starts the workload's service in its namespace and waits for `ready <port>`. */
async function startService(w: RunningWorkload): Promise<void> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      w.netns,
      process.execPath,
      join(ROOT, 'test/fixtures/workloads/service.mjs'),
      w.address,
      w.pidfile,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  w.child = child;
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('ready ')) resolve(Number(l.slice(6)));
    });
    child.once('exit', (code) => reject(new Error(`workload ${w.ref} exited with ${code}`)));
    setTimeout(() => reject(new Error(`workload ${w.ref} did not listen`)), GUARD_MS).unref();
  });
  w.port = port;
  w.url = `http://${w.address}:${port}`;
  // `ip netns exec` execs node: the child's pid is the service's own, as its pidfile says.
  w.pid = child.pid!;
}

/** GET a workload's /health from the root namespace: its status, or the error's code. */
export async function health(w: RunningWorkload, timeoutMs = 1500): Promise<number | string> {
  try {
    const r = await fetch(`${w.url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await r.text();
    return r.status;
  } catch (err) {
    return String((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name);
  }
}

/** Whether `from` reaches `to`'s /health from inside its own namespace (real HTTP between workloads). */
export async function reaches(
  from: RunningWorkload,
  to: RunningWorkload,
  timeoutMs = 1500,
): Promise<boolean> {
  const u = `${from.url}/fetch?timeout=${timeoutMs}&url=${encodeURIComponent(`${to.url}/health`)}`;
  const r = await fetch(u, { signal: AbortSignal.timeout(timeoutMs + 5_000) });
  const body = (await r.json()) as { ok: boolean; status?: number };
  return body.ok && body.status === 200;
}
