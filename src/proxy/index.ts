/**
 * `faultline/proxy`: the Toxiproxy-compatible fault proxy from code (server,
 * control API, client; docs/library.md#fault-proxy-control-api-and-client).
 * A subpath of its own: driving a proxy needs none of the experiment API, and
 * the proxy's internals (links, toxic chain, registry) stay internal.
 *
 * @example
 * import { ProxyClient, ProxyManager, startControlServer } from 'faultline/proxy';
 * const manager = new ProxyManager();
 * const api = await startControlServer({ control: manager, port: 0 });
 * const client = new ProxyClient({ url: api.url });
 * await client.createProxy({ name: 'db', listen: '127.0.0.1:0', upstream: '127.0.0.1:5432' });
 * await client.addToxic('db', { type: 'latency', attributes: { latency: 200 } });
 */
export {
  type ControlServer,
  type ControlServerEvent,
  type ControlServerOptions,
  startControlServer,
  TOXIPROXY_COMPAT_VERSION,
} from './api/server.js';
export {
  type AddToxicInput,
  type CallOptions,
  type CreateProxyInput,
  ProxyClient,
  ProxyClientError,
  type ProxyClientOptions,
  type UpdateProxyInput,
  type UpdateToxicInput,
} from './client.js';
export { loadProxyConfig, type ProxyConfig } from './config.js';
export { type ProxyLimits, ProxyManager, type ProxyManagerOptions } from './manager.js';
export {
  ProxyApiError,
  type ProxyControl,
  type ProxyInput,
  type ProxyView,
  type ToxicInput,
  type ToxicView,
} from './model.js';
