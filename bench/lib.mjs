// What several benchmarks share: waiting on an outcome with a hang guard, a free port, whether a port accepts.
import { createServer, connect as tcpConnect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `check` every `step` ms until it returns something truthy; throws naming `what` after `guard` ms. */
export async function until(what, check, guard = 60_000, step = 10) {
  const end = Date.now() + guard;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(step);
  }
}

export const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

export const accepting = (port) =>
  new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

/**
 * TCP goodput from a server that sends as fast as it can: `connect` options (host, port, localAddress),
 * one second of warm-up after the first byte, then bytes counted for `seconds`. Resolves bytes per second.
 */
export function goodput(connectOptions, seconds) {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(connectOptions);
    let bytes = 0;
    let started = false;
    s.on('data', (d) => {
      bytes += d.length;
      if (started) return;
      started = true;
      setTimeout(() => {
        bytes = 0;
        const t0 = performance.now();
        setTimeout(() => {
          s.destroy();
          resolve((bytes / (performance.now() - t0)) * 1000);
        }, seconds * 1000);
      }, 1000);
    });
    s.on('error', reject);
  });
}
