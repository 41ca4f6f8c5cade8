// A ProxyManager in its own process, driven over IPC by the proxy benchmarks
// (bench/proxy-*.mjs). Uses dist/ (npm run build), or the TypeScript sources
// when FAULTLINE_BENCH_SRC=1 (start it with `node --import tsx`).
// Messages: {id, op, args} -> {id, result} | {id, error}.
import { readFileSync } from 'node:fs';

const source = process.env.FAULTLINE_BENCH_SRC === '1';
const { ProxyManager } = await import(source ? '../../src/proxy/manager.ts' : '../../dist/proxy/manager.js');
const options = JSON.parse(process.argv[2] ?? '{}');
const manager = new ProxyManager(options);

const rssMb = () => Number(readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;
const ops = {
  create: (input) => manager.create(input),
  addToxic: (proxy, input) => manager.addToxic(proxy, input),
  removeToxic: (proxy, name) => manager.removeToxic(proxy, name),
  metrics: () => manager.metrics(),
  rss: () => {
    globalThis.gc?.();
    return rssMb();
  },
  close: async () => {
    await manager.close();
    setImmediate(() => process.exit(0));
  },
};

process.on('message', async ({ id, op, args }) => {
  try {
    process.send({ id, result: await ops[op](...args) });
  } catch (err) {
    process.send({ id, error: String(err?.message ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
