#!/usr/bin/env node
// Memory of the proxy process holding many idle proxied connections. Each
// connection exchanges one message (so both links have carried data) and then
// stays idle. The echo upstream runs in its own process.
// Each proxied connection costs the proxy two file descriptors; when the hard
// `ulimit -n` does not allow 10,000 connections, as many as it allows are
// opened and the figure for 10,000 is extrapolated from the measured cost per
// connection (both are printed).
// Usage: node bench/proxy-idle.mjs [connections=10000]
import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { result, settle, startProxyProcess } from './proxy/harness.mjs';

// `ulimit -n` is per process: re-exec under a shell that raises it as far as allowed (constant command).
if (process.env.FAULTLINE_BENCH_ULIMIT !== '1') {
  const script = fileURLToPath(import.meta.url);
  const argv = process.argv.slice(2).map((a) => String(Number(a)));
  execFileSync(
    'sh',
    ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, script, ...argv],
    {
      stdio: 'inherit',
      env: { ...process.env, FAULTLINE_BENCH_ULIMIT: '1' },
    },
  );
  process.exit(0);
}

const wanted = Number(process.argv[2] ?? 10000);
const hard = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
const allowed = Number.isFinite(hard) ? Math.floor((hard - 64) / 2) : wanted;
const n = Math.min(wanted, allowed);

const echo = fork(fileURLToPath(new URL('./proxy/echo-process.mjs', import.meta.url)));
const [{ port: echoPort }] = await once(echo, 'message');
const proxy = await startProxyProcess({}, { nodeArgs: ['--expose-gc'] });
const view = await proxy.call('create', {
  name: 'idle',
  listen: '127.0.0.1:0',
  upstream: `127.0.0.1:${echoPort}`,
});
const proxyPort = Number(view.listen.split(':').at(-1));

await settle(200);
const before = await proxy.call('rss');
const sockets = [];
const t = performance.now();
for (let i = 0; i < n; i += 200) {
  await Promise.all(
    Array.from({ length: Math.min(200, n - i) }, async () => {
      const s = connect({ port: proxyPort, host: '127.0.0.1' });
      sockets.push(s);
      s.on('error', (err) => {
        throw err;
      });
      await once(s, 'connect');
      s.write('hi');
      await once(s, 'data');
    }),
  );
}
const opened = (performance.now() - t) / 1000;
await settle(1000);
const after = await proxy.call('rss');
const metrics = await proxy.call('metrics');
const open = Number(metrics.match(/faultline_proxy_connections_open\{[^}]*\} (\d+)/)[1]);
const perConn = ((after - before) * 1024) / n;
const projected = before + (perConn * 10000) / 1024;
console.log(
  `hard ulimit -n: ${hard}; connections opened: ${n} (proxy reports ${open} open) in ${opened.toFixed(1)} s`,
);
console.log(`proxy RSS: ${before.toFixed(1)} MB before, ${after.toFixed(1)} MB with ${n} idle connections`);
console.log(`per connection: ${perConn.toFixed(2)} KB; projected for 10,000: ${projected.toFixed(1)} MB`);
result('proxy_idle_connections', n, `target=10000${n < wanted ? ' (limited by ulimit -n)' : ''}`);
result('proxy_idle_rss_mb', after.toFixed(1), `target<300 with ${n} connections`);
result('proxy_idle_rss_mb_10k_projected', projected.toFixed(1), 'target<300');
for (const s of sockets) s.destroy();
await proxy.close();
echo.kill();
