/**
 * A real Prometheus (Debian package `prometheus`) for tests: started on a free
 * port, scraping the given targets every second, stopped and cleaned up by
 * `stop()`. `PROMETHEUS_SKIP` says why tests must skip when it is missing.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const probe = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
export const PROMETHEUS_SKIP: string | false = probe.error
  ? `prometheus (Debian package) is not installed: ${probe.error.message}; run \`apt-get install prometheus\` (.ci/run does as root)`
  : false;

export async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** A port nobody listens on (a race with other processes is possible, but brief). */
export async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((resolve) => s.close(resolve));
  return port;
}

export interface RunningPrometheus {
  base: string;
  /** Polls `check` until true (readiness, not a fixed sleep); fails with Prometheus's log. */
  waitFor(what: string, check: () => Promise<boolean>, deadlineMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus scraping `targets` (`host:port`, path /metrics) every second; `bearer`: the token it
 * sends (`authorization` in its scrape config), for targets that need one.
 */
export async function startPrometheus(
  targets: string[],
  opts: { bearer?: string } = {},
): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'faultline-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: faultline-test',
      '    static_configs:',
      `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
      ...(opts.bearer
        ? ['    authorization:', '      type: Bearer', `      credentials: '${opts.bearer}'`]
        : []),
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let log = '';
  const prom: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000);
  };
  prom.stdout?.on('data', keep);
  prom.stderr?.on('data', keep);
  const waitFor = async (what: string, check: () => Promise<boolean>, deadlineMs = 30_000) => {
    const until = Date.now() + deadlineMs;
    for (;;) {
      if (prom.exitCode !== null)
        throw new Error(
          `prometheus exited (${prom.exitCode}) while waiting for ${what}:\n${log.slice(-2000)}`,
        );
      if (await check().catch(() => false)) return;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}:\n${log.slice(-2000)}`);
      await sleep(100);
    }
  };
  const stop = async () => {
    if (prom.exitCode === null) {
      const exited = new Promise((resolve) => prom.once('exit', resolve));
      prom.kill('SIGTERM');
      const killer = setTimeout(() => prom.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('Prometheus /-/ready', async () => (await fetch(`${base}/-/ready`)).status === 200);
  } catch (err) {
    await stop();
    throw err;
  }
  return { base, waitFor, stop };
}
