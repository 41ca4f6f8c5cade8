/**
 * Shared by the `faultline.proxy` activities and the native Chaos Toolkit
 * toxiproxy functions: which proxy API an activity talks to, and the toxic and
 * proxy-down faults injected through the run's fault session.
 */
import { ActivityFailed } from '../core/errors.js';
import type { ActivityContext } from '../engine/context.js';
import { proxyDownKind, proxyToxicKind, toxicDefaultName, toxicTarget } from '../faults/proxy.js';
import { ProxyClient } from '../proxy/client.js';
import type { ToxicView } from '../proxy/model.js';

/** Seconds a toxic or a downed proxy lives when the experiment gives no duration. */
export const DEFAULT_PROXY_FAULT_DURATION_S = 600;

export interface ProxyApi {
  url: string;
  /** The server runs inside this runner (declared under the experiment's `proxies`). */
  inProcess: boolean;
  client: ProxyClient;
}

/**
 * The API to use: an explicit `api_url`, else the run's in-process proxy
 * server, else Chaos Toolkit's `toxiproxy_host`/`toxiproxy_port`
 * configuration, else FAULTLINE_PROXY_URL, else http://127.0.0.1:8474.
 */
export function proxyApi(ctx: ActivityContext, apiUrl?: string): ProxyApi {
  const c = ctx.configuration;
  const inProcessUrl = typeof c.faultline_proxy_url === 'string' ? c.faultline_proxy_url : undefined;
  let url = apiUrl;
  if (!url && inProcessUrl) url = inProcessUrl;
  if (!url && c.toxiproxy_host !== undefined && c.toxiproxy_host !== null) {
    url = `http://${String(c.toxiproxy_host)}:${String(c.toxiproxy_port ?? 8474)}`;
  }
  const client = ProxyClient.fromEnv(url ? { url } : {});
  return { url: client.url, inProcess: inProcessUrl !== undefined && client.url === inProcessUrl, client };
}

export interface ToxicRequest {
  proxy: string;
  type: string;
  name?: string;
  stream?: string;
  toxicity?: number;
  attributes?: Record<string, unknown>;
  /** Seconds; the fault's TTL, also sent to the server as the toxic's own TTL. */
  duration?: number;
}

/** Adds a toxic as a ledgered fault; returns the toxic as the server reports it. */
export async function addToxicFault(
  ctx: ActivityContext,
  api: ProxyApi,
  req: ToxicRequest,
): Promise<ToxicView> {
  const ttlMs = Math.round((req.duration ?? DEFAULT_PROXY_FAULT_DURATION_S) * 1000);
  const toxic = {
    type: req.type,
    ...(req.name !== undefined ? { name: req.name } : {}),
    ...(req.stream !== undefined ? { stream: req.stream } : {}),
    ...(req.toxicity !== undefined ? { toxicity: req.toxicity } : {}),
    ...(req.attributes !== undefined ? { attributes: req.attributes } : {}),
  };
  await ctx.faults.inject(
    proxyToxicKind,
    { api_url: api.url, proxy: req.proxy, toxic, ttl_ms: ttlMs, in_process: api.inProcess },
    { ttlMs, signal: ctx.signal },
  );
  return api.client.getToxic(req.proxy, req.name ?? toxicDefaultName(req.type, req.stream));
}

/** Removes a toxic: through its fault when this run added it, else directly. */
export async function removeToxic(
  ctx: ActivityContext,
  api: ProxyApi,
  proxy: string,
  name: string,
): Promise<void> {
  const handle = ctx.faults.findActive(proxyToxicKind.kind, toxicTarget(api.url, proxy, name));
  if (handle) {
    const record = await handle.revert();
    if (record.error) throw new ActivityFailed(`could not remove toxic ${name} of ${proxy}: ${record.error}`);
    return;
  }
  await api.client.removeToxic(proxy, name, { signal: ctx.signal });
}

/** Takes a proxy down (`enabled: false`) as a ledgered fault. */
export async function disableProxyFault(
  ctx: ActivityContext,
  api: ProxyApi,
  proxy: string,
  duration?: number,
) {
  const ttlMs = Math.round((duration ?? DEFAULT_PROXY_FAULT_DURATION_S) * 1000);
  await ctx.faults.inject(
    proxyDownKind,
    { api_url: api.url, proxy, in_process: api.inProcess, ledger_home: ctx.faults.ledger.home },
    { ttlMs, signal: ctx.signal },
  );
  return api.client.getProxy(proxy, { signal: ctx.signal });
}

/** Brings a proxy back: through its fault when this run took it down, else directly. */
export async function enableProxy(ctx: ActivityContext, api: ProxyApi, proxy: string) {
  const handle = ctx.faults.findActive(
    proxyDownKind.kind,
    proxyDownKind.target({ api_url: api.url, proxy, in_process: api.inProcess }),
  );
  if (handle) {
    const record = await handle.revert();
    if (record.error) throw new ActivityFailed(`could not enable proxy ${proxy}: ${record.error}`);
    return api.client.getProxy(proxy, { signal: ctx.signal });
  }
  return api.client.updateProxy(proxy, { enabled: true }, { signal: ctx.signal });
}
