#!/usr/bin/env node
// Accuracy of the latency toxic under load: 200 connections, each sending 16
// bytes to an echo server through the proxy every `period` ms (default 125,
// more than the toxic's latency so the rate is the same in both phases), first
// without toxics (baseline), then with a 100 ms downstream latency toxic. The
// added latency is the toxic round-trip time minus the baseline, per percentile.
// Usage: node bench/proxy-latency-toxic.mjs [connections=200] [seconds per phase=8] [latency ms=100] [period ms=125]
import { once } from 'node:events';
import { connect } from 'node:net';
import { echo, quantile, result, settle, startProxyProcess } from './proxy/harness.mjs';

const connections = Number(process.argv[2] ?? 200);
const seconds = Number(process.argv[3] ?? 8);
const latency = Number(process.argv[4] ?? 100);
const period = Number(process.argv[5] ?? 125);

const server = await echo();
const proxy = await startProxyProcess();
const view = await proxy.call('create', {
  name: 'lat',
  listen: '127.0.0.1:0',
  upstream: `127.0.0.1:${server.port}`,
});
const port = Number(view.listen.split(':').at(-1));
const message = Buffer.alloc(16, 0x6c);

const sockets = await Promise.all(
  Array.from({ length: connections }, async () => {
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    await once(s, 'connect');
    return s;
  }),
);

/** Round-trip times (ms) of every connection sending every `period` ms for `ms`, starts spread over one period. */
async function phase(ms) {
  const times = [];
  const end = performance.now() + ms;
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise((resolve) => {
          let t = 0;
          let got = 0;
          const send = () => {
            got = 0;
            t = performance.now();
            s.write(message);
          };
          const onData = (d) => {
            got += d.length;
            if (got < message.length) return;
            const now = performance.now();
            times.push(now - t);
            if (now < end) setTimeout(send, Math.max(0, t + period - now));
            else {
              s.off('data', onData);
              resolve();
            }
          };
          s.on('data', onData);
          setTimeout(send, Math.random() * period);
        }),
    ),
  );
  return Float64Array.from(times).sort();
}

await phase(1000); // warm-up
const base = await phase(seconds * 1000);
await proxy.call('addToxic', 'lat', { type: 'latency', attributes: { latency } });
await settle(50);
const toxic = await phase(seconds * 1000);
const q = (s, p) => quantile(s, p);
console.log(`${connections} connections, ${seconds} s per phase, latency toxic ${latency} ms (downstream)`);
console.log(
  `baseline RTT: p50 ${q(base, 0.5).toFixed(3)} ms, p99 ${q(base, 0.99).toFixed(3)} ms (${base.length} samples)`,
);
console.log(
  `with toxic:   p50 ${q(toxic, 0.5).toFixed(3)} ms, p99 ${q(toxic, 0.99).toFixed(3)} ms, ` +
    `min ${toxic[0].toFixed(3)}, max ${toxic.at(-1).toFixed(3)} (${toxic.length} samples)`,
);
const added50 = q(toxic, 0.5) - q(base, 0.5);
const added99 = q(toxic, 0.99) - q(base, 0.99);
result('latency_toxic_added_p50_ms', added50.toFixed(3), `target=${latency}±1`);
result('latency_toxic_added_p99_ms', added99.toFixed(3), `target=${latency}±5`);
result(
  'latency_toxic_p99_minus_base_p50_ms',
  (q(toxic, 0.99) - q(base, 0.5)).toFixed(3),
  `(info; target ${latency}±5)`,
);
for (const s of sockets) s.destroy();
await proxy.close();
await server.close();
