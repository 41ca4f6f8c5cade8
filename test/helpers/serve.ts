/**
 * A real control plane for tests: a SQLite store in a temp dir (or the real
 * PostgreSQL, when asked), a temp FAULTLINE_HOME, the server on port 0, and
 * JSON helpers over fetch. Everything is removed by `close()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/server/db/index.js';
import { type RunningServer, type ServeOptions, startServer } from '../../src/server/server.js';
import type { RunWithJournal, Store } from '../../src/server/store.js';
import { tempHome } from './home.js';
import { until } from './until.js';

export interface TestServer {
  server: RunningServer;
  store: Store;
  home: Awaited<ReturnType<typeof tempHome>>;
  dir: string;
  url: string;
  /** fetch + JSON: the status and the parsed body (undefined when not JSON). */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }>;
  close(): Promise<void>;
}

/**
 * `database`: a postgres:// URL; default a SQLite file in a temp dir. `serve`: more of startServer's
 * options (poll intervals, env);
 */
export async function startTestServer(
  opts: { database?: string; serve?: Partial<Omit<ServeOptions, 'store' | 'home'>> } = {},
): Promise<TestServer> {
  const home = await tempHome();
  const dir = await mkdtemp(join(tmpdir(), 'faultline-serve-test-'));
  const store = await openStore({ home: home.home, database: opts.database ?? join(dir, 'faultline.db') });
  let server: RunningServer;
  try {
    server = await startServer({ store, home: home.home, port: 0, pollMs: 200, ...opts.serve });
  } catch (err) {
    await store.close();
    throw err;
  }
  const url = server.url;
  return {
    server,
    store,
    home,
    dir,
    url,
    async api(method, path, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        ...(body === undefined
          ? {}
          : {
              headers: { 'content-type': 'application/json' },
              body: typeof body === 'string' ? body : JSON.stringify(body),
            }),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed, text };
    },
    async close() {
      try {
        await server.close();
      } finally {
        await store.close().catch(() => {});
        await rm(dir, { recursive: true, force: true });
        await home.cleanup();
      }
    },
  };
}

/** Waits until run `id` has ended (finished or interrupted) and returns it with its journal. */
export function runEnded(
  store: Store,
  id: string,
  timeoutMs = 120_000,
): Promise<RunWithJournal & { journal?: any }> {
  return until(
    `run ${id} to end`,
    async () => {
      const run = await store.getRun(id);
      return run && (run.status === 'finished' || run.status === 'interrupted') ? run : undefined;
    },
    timeoutMs,
  );
}

/** A small real experiment: a marker-file fault at `marker`, a process probe before and after, a pause of `pause` s. */
export function markerExperiment(
  marker: string,
  opts: { title?: string; pause?: number; tags?: string[] } = {},
) {
  return [
    `title: ${JSON.stringify(opts.title ?? 'marker under the control plane')}`,
    `description: a marker-file fault and a process probe`,
    `tags: ${JSON.stringify(opts.tags ?? ['server-test'])}`,
    'steady-state-hypothesis:',
    '  title: node runs',
    '  probes:',
    '    - type: probe',
    '      name: node-exits-zero',
    '      tolerance: 0',
    `      provider: { type: process, path: ${JSON.stringify(process.execPath)}, arguments: ["-e", "0"] }`,
    'method:',
    '  - type: action',
    '    name: create-marker',
    '    provider:',
    '      type: faultline',
    '      module: faultline.marker',
    '      func: create',
    `      arguments: { path: ${JSON.stringify(marker)}, duration: 600 }`,
    `    pauses: { after: ${opts.pause ?? 0} }`,
    '',
  ].join('\n');
}
