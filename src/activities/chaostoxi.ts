/**
 * Chaos Toolkit's toxiproxy extension (`chaostoxi.*`), implemented natively so
 * experiment files written for it run unchanged: same module and function
 * names, same arguments, same return values, configured by `toxiproxy_host`
 * and `toxiproxy_port` (or the run's in-process proxies). Unlike the Python
 * extension, every toxic it adds is a ledgered fault, removed when the run
 * ends even if the experiment forgot its `delete_toxic`.
 */
import { z } from 'zod';
import { ActivityFailed } from '../core/errors.js';
import { defineActivity } from '../engine/builtins.js';
import type { ActivityContext, BuiltinActivity } from '../engine/context.js';
import { ProxyClientError } from '../proxy/client.js';
import { addToxicFault, disableProxyFault, enableProxy, proxyApi, removeToxic } from './proxy-api.js';

const str = z.string();
const int = z.number().int();
const PROXY = 'chaostoxi.proxy.actions';
const PROBES = 'chaostoxi.proxy.probes';
const TOXIC = 'chaostoxi.toxic.actions';

/** `env:NAME` reads an environment variable, as the Python extension does. */
function fromEnv(value: string | number): string {
  const s = String(value);
  if (!s.startsWith('env:')) return s;
  const v = process.env[s.slice(4)];
  if (v === undefined) throw new ActivityFailed(`environment variable ${s.slice(4)} is not set`);
  return v;
}

/** The Python extension stores the listening port as configuration `<name>_PORT`. */
function rememberPort(ctx: ActivityContext, proxy: string, listen: string) {
  const port = listen.split(':').at(-1) ?? '';
  if (!/^\d+$/.test(port))
    throw new ActivityFailed(`unable to parse the port from the proxy's listen address ${listen}`);
  ctx.configuration[`${proxy}_PORT`] = port;
  process.env[`${proxy}_PORT`] = port;
}

function toxicActivity<S extends z.ZodObject>(
  func: string,
  doc: string,
  args: S,
  toRequest: (a: z.output<S>) => {
    proxy: string;
    name: string;
    type: string;
    stream?: string;
    toxicity?: number;
    attributes?: Record<string, unknown>;
  },
): BuiltinActivity {
  return defineActivity({
    module: TOXIC,
    func,
    kind: 'action',
    doc,
    arguments: args,
    async run(a, ctx) {
      const req = toRequest(a);
      const toxic = await addToxicFault(ctx, proxyApi(ctx), req);
      return toxic.name === req.name;
    },
  });
}

const forToxic = { for_proxy: str, toxic_name: str };

export const chaostoxiActivities: BuiltinActivity[] = [
  defineActivity({
    module: PROXY,
    func: 'create_proxy',
    kind: 'action',
    doc: 'Creates a proxy; stores its port as configuration <proxy_name>_PORT.',
    arguments: z.object({
      proxy_name: str,
      upstream_host: str,
      upstream_port: z.union([int, str]),
      listen_host: str.default('0.0.0.0'),
      listen_port: z.union([int, str]).default(0),
      enabled: z.boolean().default(true),
    }),
    async run(a, ctx) {
      const proxy = await proxyApi(ctx).client.createProxy(
        {
          name: a.proxy_name,
          listen: `${a.listen_host}:${a.listen_port}`,
          upstream: `${fromEnv(a.upstream_host)}:${fromEnv(a.upstream_port)}`,
          enabled: a.enabled,
        },
        { signal: ctx.signal },
      );
      rememberPort(ctx, a.proxy_name, proxy.listen);
      return true;
    },
  }),
  defineActivity({
    module: PROXY,
    func: 'modify_proxy',
    kind: 'action',
    doc: "Changes a proxy's listen address, upstream or enabled flag.",
    arguments: z.object({
      proxy_name: str,
      listen_address: str.optional(),
      upstream_address: str.optional(),
      enabled: z.boolean().optional(),
    }),
    async run(a, ctx) {
      const proxy = await proxyApi(ctx).client.updateProxy(
        a.proxy_name,
        {
          ...(a.listen_address !== undefined ? { listen: a.listen_address } : {}),
          ...(a.upstream_address !== undefined ? { upstream: a.upstream_address } : {}),
          ...(a.enabled !== undefined ? { enabled: a.enabled } : {}),
        },
        { signal: ctx.signal },
      );
      rememberPort(ctx, a.proxy_name, proxy.listen);
      return true;
    },
  }),
  defineActivity({
    module: PROXY,
    func: 'disable_proxy',
    kind: 'action',
    doc: 'Takes a proxy down, as a fault reverted when the run ends.',
    arguments: z.object({ proxy_name: str }),
    async run(a, ctx) {
      const proxy = await disableProxyFault(ctx, proxyApi(ctx), a.proxy_name);
      rememberPort(ctx, a.proxy_name, proxy.listen);
      return true;
    },
  }),
  defineActivity({
    module: PROXY,
    func: 'enable_proxy',
    kind: 'action',
    doc: 'Brings a proxy back up.',
    arguments: z.object({ proxy_name: str }),
    async run(a, ctx) {
      const proxy = await enableProxy(ctx, proxyApi(ctx), a.proxy_name);
      rememberPort(ctx, a.proxy_name, proxy.listen);
      return true;
    },
  }),
  defineActivity({
    module: PROXY,
    func: 'delete_proxy',
    kind: 'action',
    doc: 'Deletes a proxy; a failure is only a warning, as in the Python extension.',
    arguments: z.object({ proxy_name: str }),
    async run(a, ctx) {
      try {
        await proxyApi(ctx).client.deleteProxy(a.proxy_name, { signal: ctx.signal });
      } catch (err) {
        ctx.log('warn', `unable to remove proxy ${a.proxy_name}: ${(err as Error).message}`);
      }
      return null;
    },
  }),
  defineActivity({
    module: PROBES,
    func: 'proxy_exist',
    kind: 'probe',
    doc: 'True when the proxy exists.',
    arguments: z.object({ proxy_name: str }),
    async run(a, ctx) {
      try {
        return (
          (await proxyApi(ctx).client.getProxy(a.proxy_name, { signal: ctx.signal })).name === a.proxy_name
        );
      } catch (err) {
        if (err instanceof ProxyClientError && err.status !== undefined) return false;
        throw err;
      }
    },
  }),
  defineActivity({
    module: PROBES,
    func: 'get_proxy_attribute',
    kind: 'probe',
    doc: 'One attribute of a proxy (name, listen, upstream, enabled, toxics), or null when it does not exist.',
    arguments: z.object({ proxy_name: str, attribute: str }),
    async run(a, ctx) {
      try {
        const proxy = (await proxyApi(ctx).client.getProxy(a.proxy_name, {
          signal: ctx.signal,
        })) as unknown as Record<string, unknown>;
        if (!(a.attribute in proxy)) throw new ActivityFailed(`KeyError: '${a.attribute}'`);
        return proxy[a.attribute];
      } catch (err) {
        if (err instanceof ProxyClientError && err.status !== undefined) return null;
        throw err;
      }
    },
  }),
  defineActivity({
    module: TOXIC,
    func: 'delete_toxic',
    kind: 'action',
    doc: 'Removes a toxic; returns whether the server accepted it.',
    arguments: z.object(forToxic),
    async run(a, ctx) {
      try {
        await removeToxic(ctx, proxyApi(ctx), a.for_proxy, a.toxic_name);
        return true;
      } catch (err) {
        if (err instanceof ProxyClientError && err.status !== undefined) return false;
        throw err;
      }
    },
  }),
  toxicActivity(
    'create_toxic',
    'Adds any toxic type with its attributes.',
    z.object({
      ...forToxic,
      toxic_type: str,
      stream: str.default('downstream'),
      toxicity: z.number().default(1),
      attributes: z.record(z.string(), z.unknown()).nullable().optional(),
    }),
    (a) => ({
      proxy: a.for_proxy,
      name: a.toxic_name,
      type: a.toxic_type,
      stream: a.stream,
      toxicity: a.toxicity,
      ...(a.attributes ? { attributes: a.attributes } : {}),
    }),
  ),
  toxicActivity(
    'create_latency_toxic',
    'Delays all data going through the proxy (downstream, toxicity 1).',
    z.object({ ...forToxic, latency: int, jitter: int.default(0) }),
    (a) => ({
      proxy: a.for_proxy,
      name: a.toxic_name,
      type: 'latency',
      attributes: { latency: a.latency, jitter: a.jitter },
    }),
  ),
  toxicActivity(
    'create_bandwith_degradation_toxic',
    "Limits the bandwidth of the downstream (KB/s); the misspelling is the original's.",
    z.object({ ...forToxic, rate: int }),
    (a) => ({ proxy: a.for_proxy, name: a.toxic_name, type: 'bandwidth', attributes: { rate: a.rate } }),
  ),
  toxicActivity(
    'create_slow_connection_close_toxic',
    'Delays the closing of connections by `delay` ms.',
    z.object({ ...forToxic, delay: int }),
    (a) => ({ proxy: a.for_proxy, name: a.toxic_name, type: 'slow_close', attributes: { delay: a.delay } }),
  ),
  toxicActivity(
    'create_timeout_toxic',
    'Stops all data and closes the connection after `timeout` ms.',
    z.object({ ...forToxic, timeout: int }),
    (a) => ({ proxy: a.for_proxy, name: a.toxic_name, type: 'timeout', attributes: { timeout: a.timeout } }),
  ),
  toxicActivity(
    'create_slicer_toxic',
    'Slices data into small pieces, optionally delayed (µs).',
    z.object({ ...forToxic, average_size: int, size_variation: int, delay: int }),
    (a) => ({
      proxy: a.for_proxy,
      name: a.toxic_name,
      type: 'slicer',
      attributes: { average_size: a.average_size, size_variation: a.size_variation, delay: a.delay },
    }),
  ),
  toxicActivity(
    'create_limiter_toxic',
    'Closes connections once `bytes_limit` bytes went through.',
    z.object({ ...forToxic, bytes_limit: int }),
    (a) => ({
      proxy: a.for_proxy,
      name: a.toxic_name,
      type: 'limit_data',
      attributes: { bytes: a.bytes_limit },
    }),
  ),
];
