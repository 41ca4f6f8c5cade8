/**
 * A nats-server of the test's own (JetStream on, a temporary store, a free
 * port), so a test may stop and restart it without touching the machine's.
 * `natsServerMissing()` is the skip reason where the binary is absent (CI
 * installs Debian's nats-server).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function natsServerMissing(): string | false {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? false : 'nats-server is not installed (Debian: apt-get install nats-server)';
}

/** A TCP port nothing listens on now (on 127.0.0.1). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something accepts connections on 127.0.0.1:port. */
export async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface TestNats {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and store (JetStream state survives). */
  start(): Promise<void>;
  /** Stops it and removes its store. */
  close(): Promise<void>;
}

export async function startNats(options: { host?: string } = {}): Promise<TestNats> {
  const port = await freePort();
  const store = await mkdtemp(join(tmpdir(), 'faultline-nats-'));
  const host = options.host ?? '127.0.0.1';
  let child: ChildProcess | undefined;
  let log = '';
  const start = async () => {
    log = '';
    child = spawn('nats-server', ['-js', '-a', host, '-p', String(port), '-sd', store], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (log.length < 20_000) log += d.toString();
    });
    // Ready when it accepts connections (a hang guard of a minute on a loaded machine).
    for (let i = 0; i < 1200; i++) {
      if (child.exitCode !== null) throw new Error(`nats-server exited at start: ${log}`);
      if (await accepting(port)) return;
      await sleep(50);
    }
    throw new Error(`nats-server did not listen on ${port}: ${log}`);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  await start();
  return {
    url: `nats://${host}:${port}`,
    port,
    stop,
    start,
    close: async () => {
      await stop();
      await rm(store, { recursive: true, force: true });
    },
  };
}
