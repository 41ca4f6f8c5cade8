// What several benchmarks share: waiting on an outcome with a hang guard, a free port, whether a port accepts.
import { createServer, connect as tcpConnect } from 'node:net';
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
