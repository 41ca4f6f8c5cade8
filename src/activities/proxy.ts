/**
 * `faultline.proxy`: manage proxies and toxics on a running Faultline proxy or
 * Toxiproxy server (or the run's in-process one). Toxics and downed proxies
 * are faults: ledgered before they act, reverted when the run ends.
 */
import { z } from 'zod';
import { defineActivity } from '../engine/builtins.js';
import type { BuiltinActivity } from '../engine/context.js';
import { addToxicFault, disableProxyFault, enableProxy, proxyApi, removeToxic } from './proxy-api.js';

const MODULE = 'faultline.proxy';
const name = z.string({ error: 'expected a proxy name' }).min(1, 'expected a non-empty proxy name');
const apiUrl = z
  .string()
  .url('expected an http(s) URL')
  .optional()
  .describe(
    "proxy API URL (default: the run's in-process proxies, toxiproxy_host/port, FAULTLINE_PROXY_URL or http://127.0.0.1:8474)",
  );
const duration = z
  .number()
  .positive('expected a positive number of seconds')
  .optional()
  .describe('seconds before the fault is reverted on its own (default 600)');

const CreateArgs = z.strictObject({
  name,
  upstream: z.string().min(1).describe('host:port the proxy forwards to'),
  listen: z.string().default('127.0.0.1:0').describe('host:port to listen on (port 0 picks a free port)'),
  enabled: z.boolean().default(true),
  api_url: apiUrl,
});
const NameArgs = z.strictObject({ name, api_url: apiUrl });
const DisableArgs = z.strictObject({ name, duration, api_url: apiUrl });
const ToxicArgs = z.strictObject({
  proxy: name,
  type: z
    .string()
    .min(1)
    .describe('latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, http_abort, ...'),
  name: z.string().min(1).optional().describe('default <type>_<stream>'),
  stream: z.enum(['upstream', 'downstream']).optional().describe('default downstream'),
  toxicity: z.number().min(0).max(1).optional().describe('probability per connection, default 1'),
  attributes: z.record(z.string(), z.unknown()).optional(),
  duration,
  api_url: apiUrl,
});
const UpdateToxicArgs = z.strictObject({
  proxy: name,
  name: z.string().min(1),
  toxicity: z.number().min(0).max(1).optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
  api_url: apiUrl,
});
const RemoveToxicArgs = z.strictObject({ proxy: name, name: z.string().min(1), api_url: apiUrl });
const ProxyArgs = z.strictObject({ proxy: name, api_url: apiUrl });
const ApiArgs = z.strictObject({ api_url: apiUrl });

export const proxyActivities: BuiltinActivity[] = [
  defineActivity({
    module: MODULE,
    func: 'create_proxy',
    kind: 'action',
    doc: 'Creates a proxy; returns it with the address it really listens on.',
    arguments: CreateArgs,
    async run(a, ctx) {
      const api = proxyApi(ctx, a.api_url);
      return api.client.createProxy(
        { name: a.name, upstream: a.upstream, listen: a.listen, enabled: a.enabled },
        { signal: ctx.signal },
      );
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'delete_proxy',
    kind: 'action',
    doc: 'Deletes a proxy (its listener closes and every connection is dropped).',
    arguments: NameArgs,
    async run(a, ctx) {
      await proxyApi(ctx, a.api_url).client.deleteProxy(a.name, { signal: ctx.signal });
      return true;
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'disable_proxy',
    kind: 'action',
    doc: 'Takes a proxy down (new connections refused, open ones dropped) as a fault, until enable_proxy, the duration, or the end of the run.',
    arguments: DisableArgs,
    async run(a, ctx) {
      return disableProxyFault(ctx, proxyApi(ctx, a.api_url), a.name, a.duration);
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'enable_proxy',
    kind: 'action',
    doc: 'Brings a proxy back up.',
    arguments: NameArgs,
    async run(a, ctx) {
      return enableProxy(ctx, proxyApi(ctx, a.api_url), a.name);
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'add_toxic',
    kind: 'action',
    doc: 'Adds a toxic to a proxy as a fault, removed after `duration` seconds or when the run ends.',
    arguments: ToxicArgs,
    async run(a, ctx) {
      return addToxicFault(ctx, proxyApi(ctx, a.api_url), a);
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'update_toxic',
    kind: 'action',
    doc: "Changes a toxic's toxicity or attributes (merged field by field).",
    arguments: UpdateToxicArgs,
    async run(a, ctx) {
      const { proxy, name: toxic, api_url, ...patch } = a;
      return proxyApi(ctx, api_url).client.updateToxic(proxy, toxic, patch, { signal: ctx.signal });
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'remove_toxic',
    kind: 'action',
    doc: 'Removes a toxic before its duration elapses.',
    arguments: RemoveToxicArgs,
    async run(a, ctx) {
      await removeToxic(ctx, proxyApi(ctx, a.api_url), a.proxy, a.name);
      return true;
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'reset',
    kind: 'action',
    doc: 'Enables every proxy and removes every toxic on the server.',
    arguments: ApiArgs,
    async run(a, ctx) {
      await proxyApi(ctx, a.api_url).client.reset({ signal: ctx.signal });
      return true;
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'get_proxy',
    kind: 'probe',
    doc: 'The proxy with its toxics.',
    arguments: NameArgs,
    async run(a, ctx) {
      return proxyApi(ctx, a.api_url).client.getProxy(a.name, { signal: ctx.signal });
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'list_proxies',
    kind: 'probe',
    doc: 'Every proxy, keyed by name.',
    arguments: ApiArgs,
    async run(a, ctx) {
      return proxyApi(ctx, a.api_url).client.proxies({ signal: ctx.signal });
    },
  }),
  defineActivity({
    module: MODULE,
    func: 'list_toxics',
    kind: 'probe',
    doc: 'The toxics of a proxy.',
    arguments: ProxyArgs,
    async run(a, ctx) {
      return proxyApi(ctx, a.api_url).client.toxics(a.proxy, { signal: ctx.signal });
    },
  }),
];
