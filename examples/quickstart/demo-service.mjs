// A control that starts a small HTTP service for the quickstart, so the
// experiment needs nothing else running. The service answers 503 while its
// "degraded" flag file exists: that file is the fault the experiment injects.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let server;

export async function beforeExperiment(ctx) {
  const flag = join(tmpdir(), `faultline-quickstart-${process.pid}.degraded`);
  server = createServer((req, res) => {
    if (existsSync(flag)) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":"degraded"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  ctx.configuration.service_url = `http://127.0.0.1:${server.address().port}`;
  ctx.configuration.degraded_flag = flag;
}

export async function afterExperiment() {
  await new Promise((resolve) => server?.close(resolve));
}
