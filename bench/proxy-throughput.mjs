#!/usr/bin/env node
// Single-stream throughput through the proxy (no toxics), side by side with a
// direct connection in the same run. The sending client and the receiving
// server share this process; the proxy runs in its own process.
// Usage: node bench/proxy-throughput.mjs [GB per round=2] [rounds=5] [mode=user|plain|noop]
// (`plain`: the proxy runs with userBuffers: false, ordinary socket reads;
//  `noop`: a noop toxic in each direction, i.e. the toxic path: copies and a stage per chunk)
import { once } from 'node:events';
import { connect } from 'node:net';
import { cpuSeconds, listen, median, result, settle, startProxyProcess } from './proxy/harness.mjs';

const bytes = Number(process.argv[2] ?? 2) * 1e9;
const rounds = Number(process.argv[3] ?? 5);
const mode = process.argv[4] ?? 'user';
const userBuffers = mode !== 'plain';
const block = Buffer.alloc(64 * 1024, 0x61);

// Upload sink: counts, answers with the count when the client half-closes.
const sink = await listen((s) => {
  let n = 0;
  s.on('data', (d) => {
    n += d.length;
  });
  s.on('end', () => s.end(String(n)));
});
// Download source: sends `bytes` then closes.
const source = await listen((s) => {
  let sent = 0;
  const pump = () => {
    while (sent < bytes) {
      sent += block.length;
      if (!s.write(block)) return void s.once('drain', pump);
    }
    s.end();
  };
  s.once('data', pump);
});

const proxy = await startProxyProcess({ userBuffers });
const up = await proxy.call('create', {
  name: 'up',
  listen: '127.0.0.1:0',
  upstream: `127.0.0.1:${sink.port}`,
});
const down = await proxy.call('create', {
  name: 'down',
  listen: '127.0.0.1:0',
  upstream: `127.0.0.1:${source.port}`,
});
const portOf = (p) => Number(p.listen.split(':').at(-1));
if (mode === 'noop') {
  for (const name of ['up', 'down']) {
    for (const stream of ['upstream', 'downstream'])
      await proxy.call('addToxic', name, { type: 'noop', stream });
  }
}

async function upload(port) {
  const s = connect({ port, host: '127.0.0.1' });
  await once(s, 'connect');
  const t = process.hrtime.bigint();
  let sent = 0;
  await new Promise((resolve) => {
    const pump = () => {
      while (sent < bytes) {
        sent += block.length;
        if (!s.write(block)) return void s.once('drain', pump);
      }
      s.end();
      resolve();
    };
    pump();
  });
  let reply = '';
  s.on('data', (d) => {
    reply += d;
  });
  await once(s, 'end');
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  s.destroy();
  if (Number(reply) !== sent) throw new Error(`sink counted ${reply}, sent ${sent}`);
  return sent / seconds / 1e9;
}

async function download(port) {
  const s = connect({ port, host: '127.0.0.1' });
  await once(s, 'connect');
  const t = process.hrtime.bigint();
  s.write('go');
  let n = 0;
  s.on('data', (d) => {
    n += d.length;
  });
  await once(s, 'end');
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  s.destroy();
  if (n < bytes) throw new Error(`received ${n} of ${bytes}`);
  return n / seconds / 1e9;
}

const rows = { upDirect: [], upProxy: [], downDirect: [], downProxy: [] };
let cpu = 0;
let proxied = 0;
await upload(sink.port); // warm-up
await upload(portOf(up));
for (let i = 0; i < rounds; i++) {
  // Interleaved so that drift on a shared machine hits both alike.
  rows.upDirect.push(await upload(sink.port));
  await settle();
  const c0 = cpuSeconds(proxy.pid);
  const t0 = performance.now();
  rows.upProxy.push(await upload(portOf(up)));
  cpu += cpuSeconds(proxy.pid) - c0;
  proxied += (performance.now() - t0) / 1000;
  await settle();
  rows.downDirect.push(await download(source.port));
  await settle();
  rows.downProxy.push(await download(portOf(down)));
  await settle();
  console.log(
    `round ${i + 1}: upload direct ${rows.upDirect.at(-1).toFixed(2)} proxy ${rows.upProxy.at(-1).toFixed(2)} GB/s; ` +
      `download direct ${rows.downDirect.at(-1).toFixed(2)} proxy ${rows.downProxy.at(-1).toFixed(2)} GB/s`,
  );
}
const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
console.log(
  `proxy reads: ${userBuffers ? 'user buffers (default)' : 'plain socket reads (userBuffers: false)'}`,
);
console.log(`proxy process CPU while proxying uploads: ${((cpu / proxied) * 100).toFixed(0)}% of one core`);
console.log(`medians: upload direct ${m.upDirect.toFixed(2)} GB/s, proxy ${m.upProxy.toFixed(2)} GB/s`);
console.log(`medians: download direct ${m.downDirect.toFixed(2)} GB/s, proxy ${m.downProxy.toFixed(2)} GB/s`);
result('proxy_upload_gbps', m.upProxy.toFixed(2), 'target>=1.0');
result('proxy_upload_ratio', (m.upProxy / m.upDirect).toFixed(2), 'target>=0.6');
result('proxy_download_gbps', m.downProxy.toFixed(2), 'target>=1.0');
result('proxy_download_ratio', (m.downProxy / m.downDirect).toFixed(2), 'target>=0.6');
await proxy.close();
await sink.close();
await source.close();
