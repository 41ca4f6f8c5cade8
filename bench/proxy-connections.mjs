#!/usr/bin/env node
// Connection rate through the proxy (no toxics): connect, send 4 bytes, read
// the echo, close; 16 connections in flight; direct and proxied, interleaved.
// Usage: node bench/proxy-connections.mjs [connections per round=20000] [rounds=5] [concurrency=16]
import { connect } from 'node:net';
import { echo, median, result, settle, startProxyProcess } from './proxy/harness.mjs';

const total = Number(process.argv[2] ?? 20000);
const rounds = Number(process.argv[3] ?? 5);
const concurrency = Number(process.argv[4] ?? 16);

const server = await echo();
const proxy = await startProxyProcess();
const view = await proxy.call('create', {
  name: 'conn',
  listen: '127.0.0.1:0',
  upstream: `127.0.0.1:${server.port}`,
});
const proxyPort = Number(view.listen.split(':').at(-1));

/** Connections per second. */
function run(port, count) {
  return new Promise((resolve, reject) => {
    let started = 0;
    let done = 0;
    const t = performance.now();
    const one = () => {
      if (started >= count) return;
      started++;
      const s = connect({ port, host: '127.0.0.1' });
      s.on('connect', () => s.write('ping'));
      s.on('data', () => s.end());
      s.on('error', reject);
      s.on('close', () => {
        if (++done === count) resolve(count / ((performance.now() - t) / 1000));
        else one();
      });
    };
    for (let i = 0; i < concurrency; i++) one();
  });
}

const rates = { direct: [], proxy: [] };
await run(server.port, 2000); // warm-up
await run(proxyPort, 2000);
for (let r = 0; r < rounds; r++) {
  rates.direct.push(await run(server.port, total));
  await settle(200);
  rates.proxy.push(await run(proxyPort, total));
  await settle(200);
  console.log(
    `round ${r + 1}: direct ${rates.direct.at(-1).toFixed(0)} conn/s, proxy ${rates.proxy.at(-1).toFixed(0)} conn/s`,
  );
}
const d = median(rates.direct);
const p = median(rates.proxy);
console.log(
  `median of rounds: direct ${d.toFixed(0)} conn/s, proxy ${p.toFixed(0)} conn/s (ratio ${(p / d).toFixed(2)})`,
);
result('proxy_connections_per_second', p.toFixed(0), 'target>=8000');
await proxy.close();
await server.close();
