/**
 * Faults on a fault proxy (Faultline's own or a real Toxiproxy), reached
 * through its control API: a toxic on a proxy, and a proxy taken down
 * (`enabled: false`). Both are ledgered like every fault.
 *
 * Reverting talks to the API again. A 404 counts as reverted (the toxic or the
 * proxy is gone). When the proxy server lived inside the runner (`in_process`)
 * and is unreachable, the fault died with it, which also counts as reverted.
 * The API token is never stored: it is read from FAULTLINE_PROXY_TOKEN.
 *
 * Concurrent faults never undo each other. A toxic fault only ever removes a
 * toxic it created: a name already taken (another run's toxic, or one added by
 * hand) is refused up front, and a create that loses the race (409) leaves
 * nothing to revert (`owned: false` in the record). Two proxy-down faults on
 * one proxy share the effect: a revert re-enables the proxy only when no other
 * live proxy-down fault in the ledger still holds it (a reference count kept
 * by the ledger itself, so it holds across runs and processes).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { FaultKind, ResolvedTargets, UndoRecord } from '../core/fault.js';
import { ProxyClient, ProxyClientError } from '../proxy/client.js';
import { toxicKinds } from '../proxy/toxics/index.js';
import { faultlineHome } from './home.js';
import { Ledger } from './ledger.js';

const ToxicSpec = z.object({
  name: z.string().min(1).optional(),
  type: z.string().min(1),
  stream: z.string().optional(),
  toxicity: z.number().min(0).max(1).optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
});

const ToxicArgs = z.object({
  api_url: z.string().min(1),
  proxy: z.string().min(1),
  toxic: ToxicSpec,
  /** The fault's TTL; the server-side `ttl` sent is the shorter of it and the lease. */
  ttl_ms: z.number().int().positive().optional(),
  in_process: z.boolean().optional(),
});

const ProxyArgs = z.object({
  api_url: z.string().min(1),
  proxy: z.string().min(1),
  in_process: z.boolean().optional(),
  /** The ledger that counts the faults holding the proxy down (default $FAULTLINE_HOME). */
  ledger_home: z.string().min(1).optional(),
});

const client = (record: UndoRecord) => ProxyClient.fromEnv({ url: String(record.api_url) });

/**
 * A proxy fault touches the proxy and, through it, its upstream: the target
 * carries the upstream's host and port so policies can allow or block them.
 */
async function proxyTargets(apiUrl: string, proxy: string): Promise<ResolvedTargets> {
  // An unknown proxy is reported by inject() with the server's own error.
  const p = await client({ api_url: apiUrl })
    .getProxy(proxy)
    .catch(() => undefined);
  if (!p) return { targets: [{ type: 'proxy', name: proxy }] };
  const m = /^(.*):(\d+)$/.exec(p.upstream);
  const host = m?.[1]?.replace(/^\[(.*)\]$/, '$1');
  return {
    targets: [{ type: 'proxy', name: proxy, ...(host ? { host, port: Number(m?.[2]) } : {}) }],
  };
}

/** True when the error means "not there" (404), or the in-process server it lived in is gone. */
function gone(err: unknown, record: UndoRecord): boolean {
  if (!(err instanceof ProxyClientError)) return false;
  return err.status === 404 || (err.status === undefined && record.in_process === true);
}

/** The name the server gives a toxic created without one: `<type>_<stream>`, stream defaulting per type. */
export function toxicDefaultName(type: string, stream: string | undefined): string {
  return `${type}_${stream ?? toxicKinds.get(type)?.streams?.[0] ?? 'downstream'}`;
}

/** How `faultline status` shows a toxic fault (and how a session finds it again). */
export function toxicTarget(apiUrl: string, proxy: string, name: string): string {
  return `${proxy}/${name} @ ${apiUrl}`;
}

/**
 * A toxic's server-side lease: the server removes it this long after the last
 * renewal, so a toxic outlives a killed runner by at most this (Faultline
 * servers; Toxiproxy ignores `ttl` and relies on `faultline recover`).
 * FAULTLINE_PROXY_LEASE_MS overrides it (tests use a short one).
 */
export const PROXY_LEASE_MS = Number(process.env.FAULTLINE_PROXY_LEASE_MS) || 15_000;

function toxicTaken(proxy: string, name: string): Error {
  return new Error(
    `proxy '${proxy}' already has a toxic named '${name}' (another run's fault, or added by hand): it is left in place; give this toxic a different name`,
  );
}

/**
 * How many other live proxy-down faults (pending or active, owner alive, not expired) hold
 * the same proxy down. Entries being reverted do not count: a halt reverts them all at once.
 */
async function otherHolders(record: UndoRecord): Promise<number> {
  const ledger = new Ledger({ home: typeof record.home === 'string' ? record.home : faultlineHome() });
  const { entries } = await ledger.list();
  const now = Date.now();
  let n = 0;
  for (const e of entries) {
    if (e.kind !== 'proxy-down' || (e.state !== 'active' && e.state !== 'pending')) continue;
    if (e.record.api_url !== record.api_url || e.record.proxy !== record.proxy) continue;
    if (e.record.token === record.token || Date.parse(e.expiresAt) <= now) continue;
    if ((await ledger.isOwnerAlive(e)) === false) continue;
    n++;
  }
  return n;
}

export const proxyToxicKind: FaultKind<typeof ToxicArgs> = {
  kind: 'proxy-toxic',
  args: ToxicArgs,
  leaseMs: PROXY_LEASE_MS,
  async renew(record, leaseMs) {
    await client(record).updateToxic(String(record.proxy), String(record.name), { ttl: leaseMs });
  },
  target: (a) =>
    toxicTarget(a.api_url, a.proxy, a.toxic.name ?? toxicDefaultName(a.toxic.type, a.toxic.stream)),
  resolveTargets: (a) => proxyTargets(a.api_url, a.proxy),
  plan: (a) => ({
    api_url: a.api_url,
    proxy: a.proxy,
    name: a.toxic.name ?? toxicDefaultName(a.toxic.type, a.toxic.stream),
    in_process: a.in_process ?? false,
  }),
  async inject(a, record, signal) {
    const api = client(record);
    const name = String(record.name);
    // The record object is the session's own: a failed injection is reverted with it, so
    // until the toxic is known to be ours the revert must leave any toxic of that name alone.
    record.owned = false;
    const existing = await api.getToxic(a.proxy, name, { signal }).catch((err) => {
      if (err instanceof ProxyClientError && err.status === 404) return undefined;
      throw err;
    });
    if (existing) throw toxicTaken(a.proxy, name);
    // From here a toxic of this name is ours, even if the answer to the create is lost.
    record.owned = true;
    try {
      const toxic = await api.addToxic(
        a.proxy,
        { ...a.toxic, type: a.toxic.type, ttl: Math.min(a.ttl_ms ?? PROXY_LEASE_MS, PROXY_LEASE_MS) },
        { signal },
      );
      return { ...record, name: toxic.name, owned: true };
    } catch (err) {
      if (err instanceof ProxyClientError && err.status === 409) {
        record.owned = false; // someone else created it between our check and our create
        throw toxicTaken(a.proxy, name);
      }
      throw err;
    }
  },
  async revert(record) {
    if (record.owned === false) return;
    try {
      await client(record).removeToxic(String(record.proxy), String(record.name));
    } catch (err) {
      if (!gone(err, record)) throw err;
    }
  },
  async verify(record) {
    if (record.owned === false) return true;
    try {
      await client(record).getToxic(String(record.proxy), String(record.name));
      return false;
    } catch (err) {
      if (gone(err, record)) return true;
      throw err;
    }
  },
};

export const proxyDownKind: FaultKind<typeof ProxyArgs> = {
  kind: 'proxy-down',
  args: ProxyArgs,
  target: (a) => `${a.proxy} @ ${a.api_url}`,
  resolveTargets: (a) => proxyTargets(a.api_url, a.proxy),
  plan: (a) => ({
    api_url: a.api_url,
    proxy: a.proxy,
    in_process: a.in_process ?? false,
    home: a.ledger_home ?? faultlineHome(),
    token: randomBytes(8).toString('hex'),
  }),
  async inject(a, record, signal) {
    const api = client(record);
    record.owned = false;
    const p = await api.getProxy(a.proxy, { signal });
    if (!p.enabled && (await otherHolders(record)) === 0) {
      throw new Error(
        `proxy '${a.proxy}' is already disabled, and not by a Faultline fault: refused, since ending this fault could not restore it`,
      );
    }
    record.owned = true;
    await api.updateProxy(a.proxy, { enabled: false }, { signal });
    return { ...record, owned: true };
  },
  async revert(record) {
    // Not ours, or another fault still holds the proxy down: the last one to end re-enables it.
    if (record.owned === false || (await otherHolders(record)) > 0) return;
    try {
      await client(record).updateProxy(String(record.proxy), { enabled: true });
    } catch (err) {
      if (!gone(err, record)) throw err;
    }
  },
  async verify(record) {
    if (record.owned === false || (await otherHolders(record)) > 0) return true;
    try {
      return (await client(record).getProxy(String(record.proxy))).enabled;
    } catch (err) {
      if (gone(err, record)) return true;
      throw err;
    }
  },
};
