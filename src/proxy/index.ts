/**
 * `faultline/proxy`: the Toxiproxy-compatible fault proxy from code (server,
 * control API, client; docs/library.md#fault-proxy-control-api-and-client).
 * A subpath of its own: driving a proxy needs none of the experiment API, and
 * the proxy's internals (links, toxic chain, registry) stay internal. Its
 * control API serves the SDK control plane too, mounted here.
 *
 * @example
 * import { ProxyClient, ProxyManager, startControlServer } from 'faultline/proxy';
 * const manager = new ProxyManager();
 * const api = await startControlServer({ control: manager, port: 0 });
 * const client = new ProxyClient({ url: api.url });
 * await client.createProxy({ name: 'db', listen: '127.0.0.1:0', upstream: '127.0.0.1:5432' });
 * await client.addToxic('db', { type: 'latency', attributes: { latency: 200 } });
 */
import { sdkControlMount } from '../sdk-control/api.js';
import type { SdkControlStore } from '../sdk-control/store.js';
import * as server from './api/server.js';

// The mount types (ControlMount) stay internal: the curated surface is unchanged (exports-snapshot).
export { type ControlServer, type ControlServerEvent, TOXIPROXY_COMPAT_VERSION } from './api/server.js';

export interface ControlServerOptions extends server.ControlServerOptions {
  /** The SDK control store served under /faultline/sdk/v1 (docs/sdk.md); default: a new in-memory one. */
  sdk?: SdkControlStore;
}

/**
 * Starts the control API (src/proxy/api/server.ts) with the SDK control plane
 * mounted under /faultline/sdk/v1, as `faultline proxy` serves it: this entry
 * point is where the package composes the two, so the proxy itself does not
 * know the SDK. Resolves once it listens; rejects (FaultlineError) if the host
 * is not loopback and no token is set, or if it cannot listen.
 */
export async function startControlServer(options: ControlServerOptions): Promise<server.ControlServer> {
  const { sdk, mounts = [], ...rest } = options;
  return server.startControlServer({ ...rest, mounts: [sdkControlMount(sdk), ...mounts] });
}
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
