// The game-day example's system under test: a small HTTP service started in the
// runner's process, so the example needs nothing else running. It stands for two
// replicas behind a load balancer: while its "degraded" flag file exists (the
// fault the experiment injects, faultline.marker) one replica is down, and every
// other request is answered 503. The experiment's configuration reads the service's
// URL and the flag's path from `url` and `flag` (dynamic configuration, resolved
// before the load generator starts), and its control closes the service after
// the run.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let service;

async function started() {
  if (!service) {
    const flag = join(tmpdir(), `faultline-gameday-example-${process.pid}.degraded`);
    let n = 0;
    const server = createServer((req, res) => {
      // Round robin over two replicas; the second is the one the fault takes down.
      const degraded = n++ % 2 === 1 && existsSync(flag);
      res.writeHead(degraded ? 503 : 200, { 'content-type': 'application/json' });
      res.end(degraded ? '{"error":"degraded"}' : '{"ok":true}');
    });
    service = new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () =>
        resolve({ server, flag, url: `http://127.0.0.1:${server.address().port}/` }),
      ),
    );
  }
  return service;
}

/** Dynamic configuration: the service's URL (starts it). */
export async function url() {
  return (await started()).url;
}

/** Dynamic configuration: the flag file that degrades it. */
export async function flag() {
  return (await started()).flag;
}

/** Control hook: the service goes with the run (the next run starts a new one). */
export async function afterExperiment() {
  const s = await service;
  service = undefined;
  if (s) await new Promise((resolve) => s.server.close(resolve));
}
