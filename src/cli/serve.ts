/**
 * `faultline serve`: opens the store, starts the control plane (server/server.ts)
 * and prints its URL; Ctrl-C or SIGTERM stops it after the run it is running
 * has been interrupted and its faults reverted (a second signal exits at once).
 */
import { FaultlineError } from '../core/errors.js';
import { faultlineHome } from '../faults/home.js';
import { openStore } from '../server/db/index.js';
import { assertLoopback, DEFAULT_HOST, DEFAULT_PORT, startServer } from '../server/server.js';
import type { Output } from './output.js';
import { waitForSignal } from './wait-signal.js';

export interface ServeFlags {
  host?: string;
  port?: string;
  database?: string;
}

function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535)
    throw new FaultlineError('FAULTLINE_ERR_USAGE', `--port: expected a port number 0-65535, got '${value}'`);
  return Number(value);
}

export async function serveCommand(flags: ServeFlags, out: Output): Promise<number> {
  const host = flags.host ?? DEFAULT_HOST;
  assertLoopback(host, '--host');
  const port = flags.port === undefined ? DEFAULT_PORT : parsePort(flags.port);
  const home = faultlineHome();
  const store = await openStore({
    home,
    ...(flags.database !== undefined ? { database: flags.database } : {}),
  });
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    server = await startServer({
      store,
      home,
      host,
      port,
      onProblem: (message) => out.warn(message),
    });
    for (const run of server.interrupted)
      out.warn(`run ${run.id} (${run.title}) was running when the server stopped: marked interrupted`);
    for (const r of server.recovery.reverted) out.warn(`reverted a leftover fault: ${r.kind} on ${r.target}`);
    for (const r of server.recovery.failed)
      out.warn(`could not revert a leftover fault: ${r.kind} on ${r.target}: ${r.error ?? 'unknown error'}`);
    out.summary(`faultline serve: listening on ${server.url} (database: ${store.describe})`);
    out.info(`API: ${server.url}/api, OpenAPI document: ${server.url}/api/openapi.json`);
    const signals = waitForSignal((sig) =>
      out.warn(`${sig} again: exiting now; a running run's faults are reverted by \`faultline recover\``),
    );
    const sig = await signals.promise;
    out.info(`${sig}: stopping (a running run is interrupted and its faults reverted first)`);
    await server.close();
    signals.dispose();
    return 0;
  } finally {
    await server?.close();
    await store.close();
  }
}
