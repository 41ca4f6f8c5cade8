/**
 * Proxies an experiment declares under `proxies:`, started inside the runner
 * for the duration of the run, with a control API on 127.0.0.1 (a free port)
 * so that `faultline.proxy` and `chaostoxi` activities reach them with no
 * separate server. Contributes configuration:
 *   faultline_proxy_url      the control API's URL
 *   <name>_PORT, <name>_LISTEN   where each proxy listens (as chaostoxi's create_proxy does)
 *
 * The API has no token, so the server keeps ProxyManager's default address
 * policy (listen.ts): proxies on loopback only, no link-local upstreams, none
 * to the API itself. A declaration it refuses fails the run before anything
 * runs, exit 2, naming `proxies[i].listen` or `proxies[i].upstream`.
 *
 * The composition (src/compose.ts) passes the routes the API serves besides
 * Toxiproxy's: the SDK control plane, which `sdk.enable_fault` reaches at
 * faultline_proxy_url.
 */
import { FaultlineError } from '../core/errors.js';
import type { RunResource } from '../core/resource.js';
import type { ProxyDeclaration } from '../core/schema.js';
import type { ControlMount } from './api/server.js';

/** The `proxies` resource whose control API also serves `mounts`. */
export function proxiesResource(mounts: readonly ControlMount[] = []): RunResource {
  return {
    key: 'proxies',
    start: (declaration, ctx) => startProxies(declaration, ctx, mounts),
  };
}

/** The resource with Toxiproxy's API alone (a run gets compose.ts's, with the SDK control plane). */
export const inProcessProxies: RunResource = proxiesResource();

async function startProxies(
  declaration: unknown,
  ctx: Parameters<RunResource['start']>[1],
  mounts: readonly ControlMount[],
): ReturnType<RunResource['start']> {
  // Validated with the experiment (core/schema.ts).
  const decls = declaration as ProxyDeclaration[];
  const [{ ProxyManager }, { startControlServer }] = await Promise.all([
    import('./manager.js'),
    import('./api/server.js'),
  ]);
  const manager = new ProxyManager();
  let server: Awaited<ReturnType<typeof startControlServer>> | undefined;
  try {
    const created = await manager.populate(
      decls.map((d) => ({
        name: d.name,
        upstream: d.upstream,
        listen: d.listen ?? '127.0.0.1:0',
        enabled: d.enabled ?? true,
      })),
    );
    server = await startControlServer({ control: manager, host: '127.0.0.1', port: 0, mounts });
    manager.addControlAddress(server.host, server.port);
    const configuration: Record<string, unknown> = { faultline_proxy_url: server.url };
    for (const p of created) {
      configuration[`${p.name}_LISTEN`] = p.listen;
      configuration[`${p.name}_PORT`] = p.listen.split(':').at(-1);
      ctx.log('info', `proxy '${p.name}' listening on ${p.listen} -> ${p.upstream}`);
    }
    const api = server;
    // Toxics added through this API, ledgered or not, are seen by `status` and reverted by `halt`.
    const { registerProxyServer } = await import('./registry.js');
    const { faultlineHome } = await import('../faults/home.js');
    const registered = await registerProxyServer({
      home: faultlineHome(),
      api: api.url,
      role: 'run',
      manager,
      onError: (err) => ctx.log('warn', `proxies: cannot update the proxy registry: ${err.message}`),
    }).catch((err: Error) => {
      ctx.log('warn', `proxies: cannot register for status and halt: ${err.message}`);
      return undefined;
    });
    return {
      configuration,
      async stop() {
        await registered?.close();
        await api.close();
        await manager.close();
      },
    };
  } catch (err) {
    await server?.close();
    await manager.close();
    const { AddressRefused } = await import('./proxy.js');
    if (err instanceof AddressRefused && err.index !== undefined) {
      const path = `proxies[${err.index}].${err.field}`;
      throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `${path}: ${err.reason}`, {
        issues: [{ path, message: err.reason }],
      });
    }
    throw new FaultlineError(
      'FAULTLINE_ERR_PROXY',
      `proxies: cannot start the in-process proxies: ${(err as Error).message}`,
    );
  }
}
