/**
 * A real control plane for the emergency stop's tests: the server on port 0
 * over a store of the test's choosing (SQLite in a temp dir, or a PostgreSQL
 * URL shared by several servers), its own FAULTLINE_HOME (each server is a
 * host: its ledger and halt flag), API tokens per role, and JSON calls with
 * them. `close()` stops the server and removes what it made; the store is
 * closed unless the test gave it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listActiveFaults } from '../../src/faults/recovery.js';
import type { Role } from '../../src/server/auth/roles.js';
import { newToken, secretHash } from '../../src/server/auth/secrets.js';
import { openStore } from '../../src/server/db/index.js';
import { type RunningServer, type ServeOptions, startServer } from '../../src/server/server.js';
import type { Store } from '../../src/server/store.js';
import { tempHome } from './home.js';

export interface JsonReply {
  status: number;
  body: any;
  text: string;
  contentType: string;
}

/** JSON calls as one token; `authorization` for raw requests. */
export type Call = ((method: string, path: string, body?: unknown) => Promise<JsonReply>) & {
  authorization: string;
};

export interface HaltServer {
  server: RunningServer;
  store: Store;
  home: string;
  dir: string;
  url: string;
  problems: string[];
  /** A caller with a fresh token of `role` (owned by local), named `name`. */
  caller(name: string, role: Role): Promise<Call>;
  /** The ledger's faults on this server's host. */
  faults(): Promise<string[]>;
  close(): Promise<void>;
}

/** `home`: a FAULTLINE_HOME kept by the test (a server restarted on the same host); default a temp one. */
export async function startHaltServer(
  opts: { database?: string; home?: string } & Partial<
    Pick<ServeOptions, 'fleet' | 'haltPollMs' | 'pollMs'>
  > = {},
): Promise<HaltServer> {
  const home = opts.home ? { home: opts.home, cleanup: async () => {} } : await tempHome();
  const dir = await mkdtemp(join(tmpdir(), 'faultline-halt-test-'));
  const store = await openStore({ home: home.home, database: opts.database ?? join(dir, 'faultline.db') });
  const problems: string[] = [];
  let server: RunningServer | undefined;
  const cleanup = async () => {
    await server?.close();
    await store.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await home.cleanup();
  };
  try {
    server = await startServer({
      store,
      home: home.home,
      port: 0,
      pollMs: opts.pollMs ?? 200,
      haltPollMs: opts.haltPollMs ?? 200,
      ...(opts.fleet ? { fleet: opts.fleet } : {}),
      onProblem: (m) => problems.push(m),
    });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const running = server;
  const url = running.url;
  return {
    server: running,
    store,
    home: home.home,
    dir,
    url,
    problems,
    async caller(name, role) {
      const secret = newToken();
      const made = await store.createToken({ name, owner: 'local', role, tokenHash: secretHash(secret) });
      if (!made) throw new Error(`token ${name} exists`);
      const call = async (method: string, path: string, body?: unknown): Promise<JsonReply> => {
        const res = await fetch(`${url}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${secret}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
        });
        const text = await res.text();
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        return { status: res.status, body: parsed, text, contentType: res.headers.get('content-type') ?? '' };
      };
      return Object.assign(call, { authorization: `Bearer ${secret}` });
    },
    async faults() {
      return (await listActiveFaults({ home: home.home })).map((f) => `${f.kind} ${f.target}`);
    },
    close: cleanup,
  };
}

export interface LiveEvents {
  /** Every `event:`/`data:` pair received so far, data parsed. */
  events: { event: string; data: any }[];
  close(): void;
}

/** Subscribes to a server's `/api/live` (server-sent events) and keeps what arrives until `close()`. */
export async function liveEvents(url: string, authorization?: string): Promise<LiveEvents> {
  const controller = new AbortController();
  const res = await fetch(`${url}/api/live`, {
    signal: controller.signal,
    ...(authorization ? { headers: { authorization } } : {}),
  });
  if (res.status !== 200 || !res.body) throw new Error(`GET /api/live: ${res.status} ${await res.text()}`);
  const events: LiveEvents['events'] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (event) events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // Aborted by close(), or the server went away: the events so far stay.
    }
  })();
  return { events, close: () => controller.abort() };
}
