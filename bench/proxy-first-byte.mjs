#!/usr/bin/env node
// Fresh-connection first-byte latency through the proxy, side by side with a
// direct connection: connect + write 4 bytes + first byte back from an echo
// server (in its own process; the proxy in another), one connection at a time
// with a short pause between them (how test clients open connections), direct
// and proxied interleaved. Measured idle, then with both cores loaded
// (`stress-ng --cpu 2`, or two `node -e 'for(;;){}'` when stress-ng is missing).
// Usage: node bench/proxy-first-byte.mjs [connections per phase=400] [--busy-poll <µs>] [--idle-only|--loaded-only]
//        [--upstream-host <host>]   the proxy's upstream host (default 127.0.0.1; `localhost` needs a name lookup)
import { fork, spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { quantile, result, settle, sorted, startProxyProcess } from './proxy/harness.mjs';

const args = process.argv.slice(2);
const count = Number(args.find((a) => /^\d+$/.test(a)) ?? 400);
const bp = args.indexOf('--busy-poll');
const options = bp >= 0 ? { busyPollMicros: Number(args[bp + 1]) } : {};
const uh = args.indexOf('--upstream-host');
const upstreamHost = uh >= 0 ? args[uh + 1] : '127.0.0.1';
const phases = args.includes('--idle-only')
  ? ['idle']
  : args.includes('--loaded-only')
    ? ['loaded']
    : ['idle', 'loaded'];

const echoChild = fork(fileURLToPath(new URL('./proxy/echo-process.mjs', import.meta.url)), [], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const echoPort = await new Promise((resolve) => echoChild.once('message', (m) => resolve(m.port)));
const proxy = await startProxyProcess(options);
const view = await proxy.call('create', {
  name: 'fb',
  listen: '127.0.0.1:0',
  upstream: `${upstreamHost}:${echoPort}`,
});
const proxyPort = Number(view.listen.split(':').at(-1));

/** Milliseconds from connect() to the first byte of the echo. */
function firstByte(port) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    s.once('connect', () => s.write('ping'));
    s.once('data', () => {
      resolve(performance.now() - t);
      s.destroy();
    });
    s.once('error', reject);
  });
}

function startLoad() {
  const hasStress = spawnSync('sh', ['-c', 'command -v stress-ng'], { stdio: 'ignore' }).status === 0;
  const children = hasStress
    ? [spawn('stress-ng', ['--cpu', '2', '--quiet'], { stdio: 'ignore' })]
    : [0, 1].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  return {
    what: hasStress ? 'stress-ng --cpu 2' : "two `node -e 'for(;;){}'`",
    stop: () =>
      Promise.all(
        children.map(
          (c) =>
            new Promise((r) => {
              c.once('exit', r);
              c.kill('SIGTERM');
            }),
        ),
      ),
  };
}

const fmt = (s) =>
  `p50 ${quantile(s, 0.5).toFixed(2)} ms, p99 ${quantile(s, 0.99).toFixed(2)} ms, max ${s[s.length - 1].toFixed(2)} ms`;

console.log(
  `proxy-first-byte: ${count} fresh connections per phase and path, busy poll ${options.busyPollMicros ?? 'default'} µs, upstream ${upstreamHost}, ${proxy.source ? 'src' : 'dist'}`,
);
for (let i = 0; i < 50; i++) {
  await firstByte(echoPort); // warm-up (JIT, both paths)
  await firstByte(proxyPort);
}
for (const phase of phases) {
  const load = phase === 'loaded' ? startLoad() : null;
  if (load) await settle(500);
  const direct = [];
  const proxied = [];
  for (let i = 0; i < count; i++) {
    direct.push(await firstByte(echoPort));
    proxied.push(await firstByte(proxyPort));
    await settle(2);
  }
  await load?.stop();
  const d = sorted(direct);
  const p = sorted(proxied);
  console.log(`${phase}${load ? ` (${load.what})` : ''}:`);
  console.log(`  direct ${fmt(d)}`);
  console.log(`  proxy  ${fmt(p)}`);
  console.log(
    `  ratio  p50 ${(quantile(p, 0.5) / quantile(d, 0.5)).toFixed(2)}, p99 ${(quantile(p, 0.99) / quantile(d, 0.99)).toFixed(2)}, max ${(p[p.length - 1] / d[d.length - 1]).toFixed(2)}`,
  );
  result(
    `proxy_first_byte_${phase}_p50_ms`,
    quantile(p, 0.5).toFixed(2),
    `direct=${quantile(d, 0.5).toFixed(2)}`,
  );
  result(
    `proxy_first_byte_${phase}_p99_ms`,
    quantile(p, 0.99).toFixed(2),
    `direct=${quantile(d, 0.99).toFixed(2)}`,
  );
  if (load) await settle(500);
}
await proxy.close();
echoChild.kill();
