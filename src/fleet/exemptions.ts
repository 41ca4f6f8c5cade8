/**
 * What an agent's own network faults must never cut: its NATS servers (every
 * address their names resolve to, with their ports) and its DNS resolvers
 * (port 53), as Gremlin exempts its control plane. Set once at start, before
 * any fault is planned, and again when the server announces more of its
 * cluster; faults record the list they were planned with.
 */
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { type Exemption, setNetworkExemptions } from '../faults/network/exempt.js';

const DEFAULT_NATS_PORT = 4222;

/** `nats://host:port`, `tls://host`, `host:port` or `host`, as the NATS clients accept them. */
function hostPort(server: string): { host: string; port: number } | undefined {
  const text = /^[a-z]+:\/\//i.test(server) ? server : `nats://${server}`;
  try {
    const url = new URL(text);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return host ? { host, port: url.port ? Number(url.port) : DEFAULT_NATS_PORT } : undefined;
  } catch {
    return undefined;
  }
}

async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
}

/** The nameservers of /etc/resolv.conf (none when it cannot be read). */
export async function resolvers(path = '/etc/resolv.conf'): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
    .filter((a): a is string => a !== undefined && isIP(a.replace(/%.*$/, '')) !== 0)
    .map((a) => a.replace(/%.*$/, ''));
}

/** The peers to exempt for these NATS servers (and the host's resolvers). */
export async function controlPlanePeers(servers: readonly string[]): Promise<Exemption[]> {
  const out: Exemption[] = [];
  for (const server of servers) {
    const hp = hostPort(server.trim());
    if (!hp) continue;
    for (const address of await addressesOf(hp.host)) out.push({ address, port: hp.port, protocol: 'tcp' });
  }
  for (const address of await resolvers()) out.push({ address, port: 53 });
  return out;
}

/** Sets the process's network exemptions to the control plane of these servers; returns them. */
export async function exemptControlPlane(servers: readonly string[]): Promise<Exemption[]> {
  const peers = await controlPlanePeers(servers);
  setNetworkExemptions(peers);
  return peers;
}
