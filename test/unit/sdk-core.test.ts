/**
 * The SDK's core without sockets: matching, percentages, every fault type at
 * points and wrapped functions, inertness, the kill switch (call, env, file),
 * fail-open, events and the OpenTelemetry span event.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type CallInfo,
  compileMatch,
  type FaultEvent,
  FaultRegistry,
  globToRegExp,
} from '../../src/sdk/core.js';
import { InjectedFault } from '../../src/sdk/errors.js';

const enabled = (env: NodeJS.ProcessEnv = {}) => new FaultRegistry({ env }).enable({ otel: false });
const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('globs: * spans anything, everything else is literal', () => {
  assert.ok(globToRegExp('*.internal', true).test('a.b.internal'));
  assert.ok(!globToRegExp('*.internal', true).test('internal'));
  assert.ok(globToRegExp('/v1/charge*', false).test('/v1/charge/123'));
  assert.ok(!globToRegExp('/v1/charge', false).test('/v1/chargeX'));
  assert.ok(globToRegExp('a.b', false).test('a.b') && !globToRegExp('a.b', false).test('axb'));
  assert.ok(globToRegExp('PAYMENTS.*', true).test('payments.local'));
});

test('matching by host, port, path, method, point and labels; absent fields never match', () => {
  const http: CallInfo = {
    kind: 'fetch',
    host: 'payments.internal',
    port: '8080',
    path: '/v1/charge',
    method: 'POST',
  };
  const m = (match: Parameters<typeof compileMatch>[0], call: CallInfo, labels?: Record<string, string>) =>
    compileMatch(match)(call, labels);
  assert.ok(m({ host: 'payments.*' }, http));
  assert.ok(m({ host: 'PAYMENTS.internal' }, http), 'host is case-insensitive');
  assert.ok(m({ host: 'payments.internal:8080' }, http));
  assert.ok(!m({ host: 'payments.internal:9090' }, http));
  assert.ok(m({ path: '/v1/*', method: 'post' }, http));
  assert.ok(!m({ path: '/v2/*' }, http));
  assert.ok(!m({ method: 'GET' }, http));
  assert.ok(!m({ point: '*' }, http), 'an HTTP call has no point');
  const point: CallInfo = { kind: 'point', point: 'db.orders.insert' };
  assert.ok(m({ point: 'db.*' }, point));
  assert.ok(!m({ host: '*' }, point), 'a point has no host');
  assert.ok(m({ labels: { tenant: 'acme' } }, point, { tenant: 'acme', region: 'eu' }));
  assert.ok(!m({ labels: { tenant: 'acme' } }, point, { tenant: 'other' }));
  assert.ok(!m({ labels: { tenant: 'acme' } }, point, undefined));
  assert.ok(m(undefined, point), 'no match: every call');
});

test('SDK labels apply to every call; call labels override them', async () => {
  const core = enabled();
  core.enable({ labels: { service: 'checkout', region: 'eu' }, otel: false });
  core.addRule({ type: 'exception', match: { labels: { service: 'checkout', region: 'us' } } });
  await core.point('p'); // region eu: no match
  await assert.rejects(core.point('p', { region: 'us' }), InjectedFault);
});

test('percentage: 40% of 2,000 calls within ±4%', async () => {
  const core = enabled();
  core.addRule({ type: 'exception', percentage: 40, match: { point: 'payments.charge' } });
  let failed = 0;
  for (let i = 0; i < 2000; i++) {
    try {
      await core.point('payments.charge');
    } catch (e) {
      assert.ok(e instanceof InjectedFault);
      failed += 1;
    }
  }
  const share = failed / 2000;
  assert.ok(share >= 0.36 && share <= 0.44, `share ${share}`);
});

test('every fault type at a point and through wrap', async () => {
  const core = enabled();
  const fn = core.wrap('db.query', async (x: number) => x * 2, { db: 'orders' });
  assert.equal(await fn(2), 4);

  const id = core.addRule({ type: 'latency', latency_ms: 60, jitter_ms: 10, match: { point: 'db.*' } });
  let t0 = performance.now();
  assert.equal(await fn(3), 6);
  assert.ok(performance.now() - t0 >= 45, 'latency with jitter');
  t0 = performance.now();
  await core.point('db.x');
  assert.ok(performance.now() - t0 >= 45);
  core.removeRule(id);

  core.addRule({
    id: 'ex',
    type: 'exception',
    message: 'boom',
    match: { point: 'db.query', labels: { db: 'orders' } },
  });
  await assert.rejects(
    fn(1),
    (e: unknown) =>
      e instanceof InjectedFault &&
      e.code === 'FAULTLINE_INJECTED' &&
      e.message === 'boom' &&
      e.ruleId === 'ex',
  );
  core.removeRule('ex');

  core.addRule({ type: 'reset', match: { point: 'db.query' } });
  await assert.rejects(
    core.point('db.query'),
    (e: unknown) => e instanceof InjectedFault && e.code === 'ECONNRESET',
  );
  core.clearRules();

  core.addRule({ type: 'timeout', latency_ms: 50, match: { point: 'db.query' } });
  t0 = performance.now();
  await assert.rejects(fn(1), (e: unknown) => e instanceof InjectedFault && e.code === 'ETIMEDOUT');
  assert.ok(performance.now() - t0 >= 45, 'timeout hangs latency_ms first');
  core.clearRules();

  core.addRule({ type: 'http_error', status: 429, body: 'slow down', match: { point: 'db.query' } });
  await assert.rejects(
    fn(1),
    (e: unknown) => e instanceof InjectedFault && e.status === 429 && e.body === 'slow down',
  );
  core.clearRules();
  assert.equal(await fn(5), 10);
});

test('expires_at bounds a rule; invalid rules are refused with the field', async () => {
  const core = enabled();
  core.addRule({ type: 'exception', ttlMs: 80 });
  await assert.rejects(core.point('a'));
  await new Promise((r) => setTimeout(r, 100));
  await core.point('a');
  assert.equal(core.rules().length, 0);
  assert.throws(() => core.addRule({ type: 'latency', percentage: 140 }), /percentage/);
  assert.throws(() => core.addRule({ type: 'nope' as 'latency' }), /type/);
});

test('inert when not enabled: rules are kept, hooks pass through', async () => {
  const core = new FaultRegistry({ env: {} });
  core.addRule({ type: 'exception' });
  assert.equal(core.hot, false);
  await core.point('x');
  const fn = core.wrap('y', async () => 'ok');
  assert.equal(await fn(), 'ok');
  core.enable({ otel: false });
  await assert.rejects(core.point('x'));
  core.disable();
  await core.point('x');
});

test('kill switch: the call drops every rule and refuses new ones until rearm()', async () => {
  const core = enabled();
  const kills: string[] = [];
  core.on('kill', (e) => kills.push(e.reason));
  core.addRule({ type: 'exception' });
  core.killSwitch();
  await core.point('x');
  assert.equal(core.rules().length, 0);
  assert.throws(() => core.addRule({ type: 'exception' }), /kill switch/);
  assert.equal(kills.length, 1);
  core.rearm();
  core.addRule({ type: 'exception' });
  await assert.rejects(core.point('x'));
});

test('kill switch: FAULTLINE_SDK_KILL (at enable and while running)', async () => {
  const env: NodeJS.ProcessEnv = { FAULTLINE_SDK_KILL: '1' };
  const core = new FaultRegistry({ env }).enable({ otel: false, killPollMs: 20 });
  assert.match(core.killed ?? '', /FAULTLINE_SDK_KILL/);
  assert.throws(() => core.addRule({ type: 'exception' }));
  delete env.FAULTLINE_SDK_KILL;
  await until(() => core.killed === undefined);
  core.addRule({ type: 'exception' });
  env.FAULTLINE_SDK_KILL = 'true';
  await until(() => core.killed !== undefined);
  await core.point('x');
  core.disable();
});

test('kill switch: a kill file drops every rule within the poll interval', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-sdk-'));
  const file = join(dir, 'kill');
  try {
    const core = new FaultRegistry({ env: { FAULTLINE_SDK_KILL_FILE: file } }).enable({
      otel: false,
      killPollMs: 20,
    });
    core.addRule({ type: 'exception' });
    await assert.rejects(core.point('x'));
    writeFileSync(file, '');
    await until(() => core.killed !== undefined);
    await core.point('x');
    assert.equal(core.rules().length, 0);
    rmSync(file);
    await until(() => core.killed === undefined);
    core.addRule({ type: 'exception' });
    await assert.rejects(core.point('x'));
    core.disable();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fail open: an error inside the SDK lets the call through untouched and is reported', async () => {
  const core = enabled();
  const errors: string[] = [];
  core.on('error', (e) => errors.push(e.where));
  core.addRule({ type: 'exception', percentage: 50 });
  const random = Math.random;
  Math.random = () => {
    throw new Error('entropy ran out');
  };
  try {
    await core.point('x');
    const fn = core.wrap('y', async (a: number) => a + 1);
    assert.equal(await fn(1), 2);
  } finally {
    Math.random = random;
  }
  assert.deepEqual(errors, ['point', 'wrap']);
  // A listener that throws does not reach the caller either.
  core.clearRules();
  core.addRule({ type: 'latency', latency_ms: 0 });
  core.on('fault', () => {
    throw new Error('listener bug');
  });
  await core.point('x');
  assert.ok(errors.includes('fault listener'));
});

test('events: every fault is reported with rule, type, point, labels and time', async () => {
  const core = enabled();
  const events: FaultEvent[] = [];
  core.on('fault', (e) => events.push(e));
  core.addRule({ id: 'r1', type: 'latency', latency_ms: 1, match: { point: 'cache.get' } });
  await core.point('cache.get', { key: 'k' });
  assert.equal(events.length, 1);
  const e = events[0]!;
  assert.equal(e.ruleId, 'r1');
  assert.equal(e.type, 'latency');
  assert.equal(e.source, 'code');
  assert.equal(e.injectionPoint, 'point');
  assert.equal(e.point, 'cache.get');
  assert.deepEqual(e.labels, { key: 'k' });
  assert.ok(!Number.isNaN(Date.parse(e.time)));
});

test('OpenTelemetry: a span event on the active span (API passed in)', async () => {
  const added: { name: string; attrs?: Record<string, unknown> }[] = [];
  let active = true;
  const otel = {
    trace: {
      getActiveSpan: () =>
        active
          ? { addEvent: (name: string, attrs?: Record<string, unknown>) => added.push({ name, attrs }) }
          : undefined,
    },
  };
  const core = new FaultRegistry({ env: {} }).enable({ otel });
  core.addRule({ id: 'otel', type: 'exception' });
  await assert.rejects(core.point('p'));
  assert.equal(added.length, 1);
  assert.equal(added[0]?.name, 'faultline.fault');
  assert.equal(added[0]?.attrs?.['faultline.rule_id'], 'otel');
  assert.equal(added[0]?.attrs?.['faultline.point'], 'p');
  active = false;
  await assert.rejects(core.point('p'));
  assert.equal(added.length, 1, 'no active span: no span event');
  // With OTel off, enable() still works.
  const plain = enabled();
  plain.enable();
  plain.addRule({ type: 'exception' });
  await assert.rejects(plain.point('p'), InjectedFault);
});

test('FAULTLINE_SDK=1 enables the SDK at load; without it the entry point is inert', async () => {
  const { spawnSync } = await import('node:child_process');
  const script = "import('./src/sdk/index.ts').then((m) => console.log(m.isEnabled()))";
  const run = (env: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    }).stdout.trim();
  assert.equal(run({ FAULTLINE_SDK: '1' }), 'true');
  assert.equal(run({ FAULTLINE_SDK: '' }), 'false');
});
