/**
 * The seed's API (ChaosEngine + BlastRadiusLimiter) over real fetches to a
 * server on port 0: the traffic cap, automatic rollback on an error-rate
 * spike, an SLO breach and a latency spike measured by the SDK itself, on the
 * limiter's timeout and the fault's duration, manual rollback and the kill switch.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BlastRadiusLimiter, ChaosEngine, parseDuration } from '../../src/sdk/chaos-engine.js';
import { FaultRegistry } from '../../src/sdk/core.js';
import { faultDispatcher } from '../../src/sdk/undici.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
before(async () => {
  server = await startServer((_req, res) => {
    res.writeHead(200);
    res.end('paid');
  });
});
after(() => server.close());

const fresh = () => new FaultRegistry({ env: {} }).enable({ otel: false });

/** A checkout handler (wrapped, so the SDK sees its outcome) that calls the payment gateway with fetch. */
function checkout(core: FaultRegistry) {
  const dispatcher = faultDispatcher(core);
  return core.wrap('checkout.handle', async () => {
    const res = await fetch(`${server.url}/v1/charge`, { dispatcher } as RequestInit);
    await res.text();
    if (res.status >= 500) throw new Error(`payment failed: ${res.status}`);
    return res.status;
  });
}

test('durations parse', () => {
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration(1500), 1500);
  assert.throws(() => parseDuration('2 minutes'), /duration/);
});

test("the seed's experiment: 503 at 40% capped to the limiter's 5%, on the target's hosts and points", async () => {
  const core = fresh();
  const engine = new ChaosEngine(core);
  const limiter = new BlastRadiusLimiter({
    maxTrafficPercent: 5,
    autoRollbackOn: ['SLO_BREACH', 'ERROR_RATE_SPIKE'],
    timeoutMs: 300_000,
  });
  engine.configure({
    target: 'payment-gateway',
    namespace: 'prod-checkout',
    fault: { type: 'HTTP_ERROR', code: 503, percentage: 40, duration: '2m' },
  });
  const injection = await engine.inject(limiter);
  assert.equal(injection.effectivePercentage, 5);
  assert.deepEqual(
    injection.rules.map((r) => r.match?.host ?? r.match?.point),
    [
      'payment-gateway',
      'payment-gateway.prod-checkout',
      'payment-gateway.prod-checkout.svc',
      'payment-gateway.prod-checkout.svc.cluster.local',
      'payment-gateway',
      'payment-gateway.*',
    ],
  );
  assert.ok(injection.rules.every((r) => r.status === 503 && r.percentage === 5));
  assert.ok(Math.abs(injection.expiresAt.getTime() - Date.now() - 120_000) < 2000);
  let hit = 0;
  for (let i = 0; i < 4000; i++) {
    try {
      await core.point('payment-gateway.charge');
    } catch {
      hit += 1;
    }
  }
  assert.ok(hit / 4000 > 0.035 && hit / 4000 < 0.065, `capped share ${hit / 4000}`);
  await assert.rejects(engine.inject(limiter), /in force/);
  await limiter.rollback();
  const ended = await injection.done;
  assert.equal(ended.reason, 'MANUAL');
  assert.equal(core.rules().length, 0);
  await core.point('payment-gateway.charge');
});

test('ERROR_RATE_SPIKE: failures of the wrapped handler roll the fault back by themselves', async () => {
  const core = fresh();
  const handle = checkout(core);
  const limiter = new BlastRadiusLimiter({
    maxTrafficPercent: 100,
    autoRollbackOn: ['ERROR_RATE_SPIKE'],
    timeoutMs: 30_000,
    minSamples: 10,
    checkIntervalMs: 20,
  });
  const rollbacks: string[] = [];
  core.on('rollback', (e) => rollbacks.push(e.reason));
  const injection = await new ChaosEngine(core)
    .configure({
      target: '127.0.0.1',
      fault: { type: 'HTTP_ERROR', code: 503, percentage: 100, duration: '2m' },
    })
    .inject(limiter);
  let failures = 0;
  while (!injection.ended) {
    try {
      await handle();
    } catch {
      failures += 1;
    }
    if (failures > 5000) assert.fail('no rollback');
  }
  const ended = await injection.done;
  assert.equal(ended.reason, 'ERROR_RATE_SPIKE');
  assert.match(ended.detail, /error rate 100\.0%/);
  assert.ok(failures >= 10);
  assert.deepEqual(rollbacks, ['ERROR_RATE_SPIKE']);
  assert.equal(limiter.lastRollback?.reason, 'ERROR_RATE_SPIKE');
  assert.equal(await handle(), 200, 'rolled back: payments go through');
});

test('SLO_BREACH: injected latency pushes the handler p95 over the SLO', async () => {
  const core = fresh();
  const handle = checkout(core);
  const limiter = new BlastRadiusLimiter({
    maxTrafficPercent: 100,
    autoRollbackOn: ['SLO_BREACH'],
    slo: { successRate: 0.99, p95LatencyMs: 40 },
    windowMs: 2000,
    minSamples: 5,
    checkIntervalMs: 20,
  });
  const injection = await new ChaosEngine(core)
    .configure({ target: '127.0.0.1', fault: { type: 'LATENCY', latencyMs: 60, duration: '1m' } })
    .inject(limiter);
  for (let i = 0; i < 200 && !injection.ended; i++) await handle();
  const ended = await injection.done;
  assert.equal(ended.reason, 'SLO_BREACH');
  assert.match(ended.detail, /p95 latency .* > SLO 40 ms/);
});

test('LATENCY_SPIKE and services reporting their own outcomes with record()', async () => {
  const core = fresh();
  const limiter = new BlastRadiusLimiter({
    maxTrafficPercent: 10,
    autoRollbackOn: ['LATENCY_SPIKE'],
    maxP95LatencyMs: 100,
    minSamples: 5,
    checkIntervalMs: 20,
  });
  const injection = await new ChaosEngine(core)
    .configure({ target: 'search', fault: { type: 'LATENCY', latencyMs: 500, duration: '1m' } })
    .inject(limiter);
  for (let i = 0; i < 10; i++) limiter.record(true, 300);
  const ended = await injection.done;
  assert.equal(ended.reason, 'LATENCY_SPIKE');
});

test("rollback on the limiter's timeout and at the end of the fault's duration", async () => {
  const core = fresh();
  const engine = new ChaosEngine(core).configure({
    target: 'inventory',
    fault: { type: 'EXCEPTION', percentage: 100, duration: '2m' },
  });
  let t0 = performance.now();
  const a = await engine.inject(new BlastRadiusLimiter({ maxTrafficPercent: 100, timeoutMs: 120 }));
  await assert.rejects(core.point('inventory'));
  const endA = await a.done;
  assert.equal(endA.reason, 'TIMEOUT');
  assert.ok(performance.now() - t0 >= 110);
  await core.point('inventory');

  engine.configure({ target: 'inventory', fault: { type: 'EXCEPTION', duration: '100ms' } });
  t0 = performance.now();
  const b = await engine.inject();
  await assert.rejects(core.point('inventory.reserve'));
  assert.equal((await b.done).reason, 'DURATION');
  assert.ok(performance.now() - t0 >= 90);
  await core.point('inventory.reserve');
});

test('the kill switch and engine.rollback() end injections; refusals', async () => {
  const core = fresh();
  const engine = new ChaosEngine(core).configure({ target: 'x', fault: { type: 'RESET' } });
  const a = await engine.inject();
  core.killSwitch();
  assert.equal((await a.done).reason, 'KILL_SWITCH');
  await assert.rejects(engine.inject(), /kill switch/);
  core.rearm();
  const b = await engine.inject();
  await engine.rollback();
  assert.equal((await b.done).reason, 'MANUAL');

  const off = new FaultRegistry({ env: {} });
  await assert.rejects(
    new ChaosEngine(off).configure({ target: 'x', fault: { type: 'RESET' } }).inject(),
    /not enabled/,
  );
  const elsewhere = new FaultRegistry({ env: {} }).enable({ otel: false, namespace: 'staging' });
  await assert.rejects(
    new ChaosEngine(elsewhere)
      .configure({ target: 'x', namespace: 'prod', fault: { type: 'RESET' } })
      .inject(),
    /namespace staging/,
  );
  assert.throws(
    () => new ChaosEngine(core).configure({ target: 'x', fault: { type: 'SMOKE' as 'RESET' } }),
    /fault.type/,
  );
  assert.throws(
    () => new BlastRadiusLimiter({ maxTrafficPercent: 5, autoRollbackOn: ['LATENCY_SPIKE'] }),
    /maxP95LatencyMs/,
  );
});
