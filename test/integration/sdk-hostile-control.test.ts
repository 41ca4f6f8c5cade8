/**
 * The SDK against control servers that misbehave (issue 13, items 16 and 17):
 * a real control server restarted on the same port, a huge document, a
 * response that trickles, a version of 2^53-1 followed by a halt, an expiry
 * in year 9999 and then the server gone, a latency of 3e9 ms, and a bounded
 * fuzz of control documents. Each attack is scaled to run in seconds; the
 * service must keep polling, keep working and obey a halt.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import { after, test } from 'node:test';
import { type ControlServer, startControlServer } from '../../src/proxy/api/server.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { delayFor, FaultRegistry } from '../../src/sdk/core.js';
import { MAX_SDK_DELAY_MS, type SdkControlDocument, type SdkFaultRule } from '../../src/sdk/rules.js';
import { Subscription } from '../../src/sdk/subscribe.js';
import { sdkControlMount } from '../../src/sdk-control/api.js';
import { SdkControlClient } from '../../src/sdk-control/client.js';
import { repoRoot } from '../helpers/faults.js';
import { startServer, type TestServer } from '../helpers/server.js';

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();
const until = async (cond: () => boolean, what: string, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not met in ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
const rule = (over: Partial<SdkFaultRule> = {}): SdkFaultRule => ({
  id: 'f1',
  type: 'exception',
  percentage: 100,
  match: { point: 'payments.*' },
  expires_at: inMs(60_000),
  ...over,
});
const doc = (over: Partial<SdkControlDocument> = {}): SdkControlDocument => ({
  service: 'checkout',
  version: Date.now(),
  faults: [rule()],
  ...over,
});

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A control endpoint whose answer the test changes: `serve` writes the response. */
async function hostile(
  serve: (res: ServerResponse) => void,
): Promise<TestServer & { set(s: (res: ServerResponse) => void): void }> {
  let current = serve;
  const server = await startServer((_req, res) => current(res));
  cleanups.push(() => server.close());
  return Object.assign(server, {
    set(s: (res: ServerResponse) => void) {
      current = s;
    },
  });
}
const json = (d: unknown) => (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(d));
};

function subscribe(url: string, opts: Partial<ConstructorParameters<typeof Subscription>[1]> = {}) {
  const core = new FaultRegistry({ env: {} }).enable({ otel: false });
  const events: { ok: boolean; error?: string; applied?: boolean }[] = [];
  core.on('control', (e) => events.push(e));
  const sub = new Subscription(core, { service: 'checkout', url, intervalMs: 50, ...opts });
  cleanups.push(() => sub.stop({ clear: true }));
  return { core, sub, events };
}

test('a control server restarted on the same port: the SDK drops the rules the new server does not serve (item 16)', async () => {
  const manager = new ProxyManager();
  cleanups.push(() => manager.close());
  let api: ControlServer = await startControlServer({
    control: manager,
    port: 0,
    mounts: [sdkControlMount()],
  });
  const port = Number(new URL(api.url).port);
  await new SdkControlClient({ url: api.url }).put('checkout', 'drill-1', {
    type: 'exception',
    match: { point: 'payments.*' },
    ttl_ms: 600_000,
  });
  // A lease far longer than the test: only the restart may drop the rule.
  const { core, sub } = subscribe(api.url, { maxLeaseMs: 600_000 });
  await sub.ready;
  assert.deepEqual(
    core.rules().map((r) => r.id),
    ['drill-1'],
  );
  const before = { version: sub.version, epoch: sub.epoch };
  assert.ok(before.epoch, 'the server sends its epoch');

  await api.close();
  api = await startControlServer({ control: manager, port, mounts: [sdkControlMount()] });
  cleanups.push(() => api.close());
  await until(() => sub.version !== before.version, 'the SDK applied a document of the new server');
  assert.notEqual(sub.epoch, before.epoch);
  assert.ok((sub.version ?? 0) > (before.version ?? 0), 'an unknown service is not served version 0');
  assert.deepEqual(core.rules(), [], 'the rule the new server does not serve is gone');
  await assert.doesNotReject(core.point('payments.charge'));
});

test('a document from a new epoch replaces the rules whatever its version (an older server answering version 0)', async () => {
  const server = await hostile(json(doc({ version: 1_000, epoch: 'a' })));
  const { core, sub } = subscribe(server.url, { maxLeaseMs: 600_000 });
  await sub.ready;
  assert.equal(core.rules().length, 1);
  server.set(json(doc({ version: 0, epoch: 'b', faults: [] })));
  await until(() => sub.epoch === 'b', 'epoch b applied');
  assert.deepEqual(core.rules(), []);
  // Within one epoch, an older version is still ignored.
  server.set(json(doc({ version: 0, epoch: 'b', faults: [rule({ id: 'old' })] })));
  await sub.poll();
  assert.deepEqual(core.rules(), []);
});

test('a huge document is aborted at maxDocumentBytes and polling goes on (item 17)', async () => {
  let sent = 0;
  const server = await hostile((res) => {
    // Streams without end (400 MB in the attack): only the client's limit stops it.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"service":"checkout","version":1,"faults":[');
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (!res.destroyed && sent < 512 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  });
  const { core, sub, events } = subscribe(server.url, { maxDocumentBytes: 256 * 1024, intervalMs: 60_000 });
  await sub.ready;
  assert.match(sub.lastError ?? '', /more than 262144 bytes \(maxDocumentBytes\)/);
  assert.ok(sent < 64 * 1024 * 1024, `the server got to send only ${sent} bytes`);
  // A declared Content-Length above the limit is refused before reading.
  server.set((res) => {
    res.writeHead(200, { 'content-length': String(400 * 1024 * 1024) });
    res.write('{');
  });
  await sub.poll();
  assert.match(sub.lastError ?? '', /sent 419430400 bytes, more than 262144/);
  server.set(json(doc({ halted: true })));
  await sub.poll();
  assert.ok(core.halted, 'the next poll is served and its halt obeyed');
  assert.equal(events.at(-1)?.ok, true);
});

test('file mode reads at most maxDocumentBytes: /dev/zero is refused at the limit', async () => {
  const core = new FaultRegistry({ env: {} }).enable({ otel: false });
  const sub = new Subscription(core, {
    service: 'checkout',
    file: '/dev/zero',
    intervalMs: 60_000,
    maxDocumentBytes: 64 * 1024,
  });
  cleanups.push(() => sub.stop({ clear: true }));
  await sub.ready;
  assert.match(
    sub.lastError ?? '',
    /control file \/dev\/zero is larger than 65536 bytes \(maxDocumentBytes\)/,
  );
});

test('a response trickling one byte at a time hits the total deadline, and a later halt is obeyed (item 17)', async () => {
  const trickles: ServerResponse[] = [];
  const server = await hostile((res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    trickles.push(res);
    const timer = setInterval(() => res.write(' '), 20);
    res.on('close', () => clearInterval(timer));
  });
  // The socket's idle timeout (300 ms) never fires: a byte comes every 20 ms.
  const { core, sub } = subscribe(server.url, { requestTimeoutMs: 300 });
  await sub.ready;
  assert.match(sub.lastError ?? '', /did not answer in full within 300 ms/);
  server.set(json(doc({ halted: true, faults: [] })));
  await until(() => core.halted !== undefined, 'the halt is applied by a later poll');
  await until(() => trickles.every((r) => r.destroyed), 'every trickling response was dropped');
});

test('a version of 2^53-1 is refused; a halt is obeyed whatever its version (item 17)', async () => {
  const server = await hostile(json(doc({ version: Number.MAX_SAFE_INTEGER })));
  const { core, sub } = subscribe(server.url, { intervalMs: 60_000 });
  await sub.ready;
  assert.match(sub.lastError ?? '', /version 9007199254740991 is more than 86400000 ms ahead of the clock/);
  assert.deepEqual(core.rules(), [], 'the document is refused');
  server.set(json(doc({ version: 5 })));
  await sub.poll();
  assert.equal(core.rules().length, 1, 'a sane version after it applies');
  server.set(json(doc({ version: 2, halted: true, faults: [] })));
  await sub.poll();
  assert.ok(core.halted, 'an older halt document is obeyed');
  assert.deepEqual(core.rules(), []);
  server.set(json(doc({ version: Number.MAX_SAFE_INTEGER, halted: true })));
  await sub.poll();
  assert.ok(core.halted, 'a halt with an absurd version is obeyed too');
  server.set(json(doc({ version: 7, faults: [] })));
  await sub.poll();
  assert.equal(
    core.halted,
    undefined,
    'and a sane newer document lifts it (the absurd version was not kept)',
  );
});

test('an expiry in year 9999 lasts at most maxLeaseMs beyond the last poll that served it (item 17)', async () => {
  const lease = 1500;
  const far = '9999-12-31T00:00:00.000Z';
  const server = await hostile(json(doc({ faults: [rule({ expires_at: far })] })));
  const { core, sub } = subscribe(server.url, { maxLeaseMs: lease, intervalMs: 60_000 });
  await sub.ready;
  const [applied] = core.rules();
  assert.ok(applied && Date.parse(applied.expires_at) <= Date.now() + lease, 'the expiry is clamped');
  // While the server keeps serving it, each poll renews the lease.
  await new Promise((r) => setTimeout(r, lease + 200));
  await sub.poll();
  assert.equal(core.rules().length, 1, 'renewed by the poll');
  await server.close();
  await sub.poll();
  assert.ok(sub.lastError, 'the server is gone');
  await until(() => core.rules().length === 0, 'the rule lapses within the lease', lease + 10_000);
  await assert.doesNotReject(core.point('payments.charge'));
});

test('a latency of 3e9 ms is capped at 10 minutes instead of overflowing to 1 ms (item 17)', async () => {
  const huge = rule({ type: 'latency', latency_ms: 3e9 });
  assert.equal(delayFor(huge), MAX_SDK_DELAY_MS);
  assert.equal(delayFor(rule({ type: 'latency', latency_ms: 1e308, jitter_ms: 1e308 })), MAX_SDK_DELAY_MS);
  assert.equal(delayFor(rule({ type: 'timeout', latency_ms: 3e9 })), MAX_SDK_DELAY_MS);

  // Through a real control server, in a child (its pending 10-minute delay is killed with it).
  const server = await hostile(json(doc({ faults: [huge] })));
  const script = `
    import { FaultRegistry } from './src/sdk/core.ts';
    import { Subscription } from './src/sdk/subscribe.ts';
    const core = new FaultRegistry({ env: {} }).enable({ otel: false });
    const sub = new Subscription(core, { service: 'checkout', url: process.env.URL, intervalMs: 60000 });
    await sub.ready;
    console.log('rules ' + core.rules().length);
    core.point('payments.charge').then(() => console.log('done'));
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    env: { ...process.env, URL: server.url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  await until(() => out.includes('rules 1'), 'the child applied the rule', 20_000);
  // Uncapped, the call resolved after about 1 ms (an overflowed timer).
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(!out.includes('done'), 'the call is still delayed');
  child.kill('SIGKILL');
});

test('the control API refuses a latency beyond 10 minutes, naming the field', async () => {
  const manager = new ProxyManager();
  cleanups.push(() => manager.close());
  const api = await startControlServer({ control: manager, port: 0, mounts: [sdkControlMount()] });
  cleanups.push(() => api.close());
  await assert.rejects(
    new SdkControlClient({ url: api.url }).put('checkout', 'slow', {
      type: 'latency',
      latency_ms: 3e9,
      ttl_ms: 1000,
    }),
    /latency_ms: expected at most 600000 ms/,
  );
  // sdk.enable_fault refuses it before ledgering: test/integration/sdk-control.test.ts, 'bad arguments are refused'.
});

test('fuzzed control documents: every poll ends, values stay bounded, and a final halt is obeyed', async () => {
  let seed = 13;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const numbers = [0, 1, -1, 1.5, 3e9, 1e308, Number.MAX_SAFE_INTEGER, 2 ** 31, Date.now(), null, '5'];
  const fuzzRule = () => {
    const r: Record<string, unknown> = {
      id: pick(['a', 'b', '', 'x'.repeat(300)]),
      type: pick(['latency', 'timeout', 'exception', 'http_error', 'reset', 'nope']),
      expires_at: pick([inMs(5_000), '9999-12-31', 'garbage', inMs(-1000), '+275760-09-13T00:00:00Z']),
    };
    if (rand() < 0.7) r.latency_ms = pick(numbers);
    if (rand() < 0.5) r.jitter_ms = pick(numbers);
    if (rand() < 0.5) r.percentage = pick([0, 50, 100, 101, -5]);
    if (rand() < 0.3) r.status = pick([503, 99, 600, 200.5]);
    if (rand() < 0.2) r.extra = true;
    return r;
  };
  const fuzzDoc = () => {
    const d: Record<string, unknown> = {
      service: pick(['checkout', 'checkout', 'other']),
      version: pick(numbers),
      faults: Array.from({ length: Math.floor(rand() * 4) }, fuzzRule),
    };
    if (rand() < 0.2) d.halted = pick([true, false, 'yes']);
    if (rand() < 0.5) d.epoch = pick(['a', 'b', '', 'e'.repeat(200)]);
    return d;
  };
  const server = await hostile(json({}));
  const lease = 2000;
  const { core, sub, events } = subscribe(server.url, { maxLeaseMs: lease, intervalMs: 60_000 });
  await sub.ready;
  for (let i = 0; i < 300; i++) {
    const r = rand();
    if (r < 0.05) server.set((res) => res.end('{"service":'));
    else if (r < 0.1) server.set((res) => res.writeHead(500).end('boom'));
    else server.set(json(fuzzDoc()));
    await sub.poll();
    const now = Date.now();
    for (const applied of core.rules()) {
      assert.ok(Date.parse(applied.expires_at) <= now + lease, `expiry bounded: ${applied.expires_at}`);
      assert.ok(delayFor(applied) <= MAX_SDK_DELAY_MS);
    }
  }
  assert.equal(events.length, 301, 'every poll ended with one control event');
  assert.ok(events.some((e) => e.ok && e.applied));
  assert.ok(events.some((e) => !e.ok));
  server.set(json(doc({ version: 0, halted: true, faults: [] })));
  await sub.poll();
  assert.ok(core.halted, 'a halt is obeyed after anything the server sent');
  assert.deepEqual(core.rules(), []);
});
