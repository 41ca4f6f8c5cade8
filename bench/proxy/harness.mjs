// Shared pieces of the proxy benchmarks: the proxy in its own process, servers
// on port 0, statistics. Every benchmark measures the direct connection side by
// side with the proxied one, in the same run.
import { fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

/** Starts bench/proxy/proxy-process.mjs; returns an RPC handle. */
export async function startProxyProcess(options = {}, { nodeArgs = [] } = {}) {
  const useSource =
    process.env.FAULTLINE_BENCH_SRC === '1' || !existsSync(here('../../dist/proxy/manager.js'));
  const child = fork(here('./proxy-process.mjs'), [JSON.stringify(options)], {
    execArgv: [...(useSource ? ['--import', 'tsx'] : []), ...nodeArgs],
    env: { ...process.env, FAULTLINE_BENCH_SRC: useSource ? '1' : '0' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`proxy process exited with ${code}`)));
  });
  let next = 0;
  const pending = new Map();
  child.on('message', ({ id, result, error }) => {
    const p = pending.get(id);
    pending.delete(id);
    if (error !== undefined) p?.reject(new Error(error));
    else p?.resolve(result);
  });
  const call = (op, ...args) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve, reject });
      child.send({ id, op, args });
    });
  return {
    pid: child.pid,
    source: useSource,
    call,
    async close() {
      await call('close').catch(() => {});
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}

/** A TCP server on 127.0.0.1:0 in this process. */
export async function listen(onConnection, options = {}) {
  const server = createServer({ allowHalfOpen: true, noDelay: true, ...options }, (socket) => {
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  return {
    port: server.address().port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
      }),
    server,
  };
}

/** Echo: writes back what it reads, half-closes after the client does. */
export const echo = () => listen((s) => s.pipe(s));

export const sorted = (xs) => Float64Array.from(xs).sort();
export const quantile = (s, q) => s[Math.min(s.length - 1, Math.floor(s.length * q))];
export const median = (xs) => quantile(sorted(xs), 0.5);

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

export function result(name, value, target) {
  console.log(`RESULT ${name}=${value} ${target}`);
}

/** Waits for the next macrotask (lets pending closes settle between rounds). */
export const settle = (ms = 100) => new Promise((r) => setTimeout(r, ms));
