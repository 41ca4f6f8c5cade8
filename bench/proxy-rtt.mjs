#!/usr/bin/env node
// Round-trip latency a proxy adds (no toxics): 1-byte ping-pong over one
// connection to an echo server, direct and through the proxy, interleaved in
// the same run. Client and echo server share this process; the proxy runs in
// its own process.
// Usage: node bench/proxy-rtt.mjs [round trips per round=20000] [rounds=5] [busyPollMicros=100]
import { once } from 'node:events';
import { connect } from 'node:net';
import { echo, median, quantile, result, settle, sorted, startProxyProcess } from './proxy/harness.mjs';

const n = Number(process.argv[2] ?? 20000);
const rounds = Number(process.argv[3] ?? 5);
const busyPollMicros = Number(process.argv[4] ?? 100);

const server = await echo();
const proxy = await startProxyProcess({ busyPollMicros });
const view = await proxy.call('create', {
  name: 'rtt',
  listen: '127.0.0.1:0',
  upstream: `127.0.0.1:${server.port}`,
});
const proxyPort = Number(view.listen.split(':').at(-1));

/** Round-trip times in µs. */
async function pingPong(port, count) {
  const s = connect({ port, host: '127.0.0.1', noDelay: true });
  await once(s, 'connect');
  const times = new Float64Array(count);
  const one = Buffer.from('x');
  await new Promise((resolve) => {
    let i = 0;
    let t = 0;
    s.on('data', () => {
      times[i] = (performance.now() - t) * 1000;
      if (++i >= count) return resolve();
      t = performance.now();
      s.write(one);
    });
    t = performance.now();
    s.write(one);
  });
  s.destroy();
  return times.sort();
}

const p50 = { direct: [], proxy: [] };
const p99 = { direct: [], proxy: [] };
await pingPong(server.port, 2000); // warm-up
await pingPong(proxyPort, 2000);
for (let r = 0; r < rounds; r++) {
  const d = await pingPong(server.port, n);
  await settle();
  const p = await pingPong(proxyPort, n);
  await settle();
  p50.direct.push(quantile(d, 0.5));
  p99.direct.push(quantile(d, 0.99));
  p50.proxy.push(quantile(p, 0.5));
  p99.proxy.push(quantile(p, 0.99));
  console.log(
    `round ${r + 1}: direct p50 ${quantile(d, 0.5).toFixed(1)} p99 ${quantile(d, 0.99).toFixed(1)} µs; ` +
      `proxy p50 ${quantile(p, 0.5).toFixed(1)} p99 ${quantile(p, 0.99).toFixed(1)} µs`,
  );
}
const added50 = median(p50.proxy) - median(p50.direct);
const added99 = median(p99.proxy) - median(p99.direct);
console.log(`busy-poll window: ${busyPollMicros} µs (0 = off)`);
console.log(
  `median of rounds: direct p50 ${median(p50.direct).toFixed(1)} p99 ${median(p99.direct).toFixed(1)} µs`,
);
console.log(
  `median of rounds: proxy  p50 ${median(p50.proxy).toFixed(1)} p99 ${median(p99.proxy).toFixed(1)} µs`,
);
result('proxy_added_rtt_p50_us', added50.toFixed(1), 'target<=60');
result('proxy_added_rtt_p99_us', added99.toFixed(1), 'target<=200');
await proxy.close();
await server.close();
void sorted;
