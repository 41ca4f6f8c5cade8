/** Controls: hook points and order, levels, scope, automatic, refs, settings (global) controls, interrupts. */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Experiment } from '../../src/core/schema.js';
import { runExperiment } from '../../src/lib/run.js';
import { resolvePython } from '../../src/python/interpreter.js';
import { tempHome } from '../helpers/home.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/engine/', import.meta.url));
const calls = () => (globalThis as { __faultlineCalls?: string[] }).__faultlineCalls ?? [];
const probe = (name: string) => ({
  type: 'probe' as const,
  name,
  tolerance: true,
  provider: { type: 'node' as const, module: './probes.mjs', func: 'echo', arguments: { value: true } },
});
const ctl = (label: string, extra: Record<string, unknown> = {}) => ({
  name: label,
  provider: { type: 'node' as const, module: './recording-control.mjs', arguments: { label } },
  ...extra,
});

let home: Awaited<ReturnType<typeof tempHome>>;
before(async () => {
  home = await tempHome();
});
after(() => home.cleanup());
beforeEach(() => {
  (globalThis as { __faultlineCalls?: string[] }).__faultlineCalls = [];
});

const exp = (extra: Partial<Experiment> = {}): Experiment => ({
  title: 't',
  description: 'd',
  'steady-state-hypothesis': { title: 'h', probes: [probe('p')] },
  method: [probe('m')],
  rollbacks: [probe('r')],
  ...extra,
});

test('a top-level control sees every hook point, in Chaos Toolkit order', async () => {
  const j = await runExperiment(exp({ controls: [ctl('top')] }), {
    baseDir: FIXTURES,
    home: home.home,
    rollbackStrategy: 'always',
  });
  assert.equal(j.status, 'completed');
  assert.deepEqual(calls(), [
    'top:beforeExperiment',
    'top:beforeHypothesis',
    'top:beforeActivity:p',
    'top:afterActivity:p',
    'top:afterHypothesis',
    'top:beforeMethod',
    'top:beforeActivity:m',
    'top:afterActivity:m',
    'top:afterMethod',
    'top:beforeHypothesis',
    'top:beforeActivity:p',
    'top:afterActivity:p',
    'top:afterHypothesis',
    'top:beforeRollback',
    'top:beforeActivity:r',
    'top:afterActivity:r',
    'top:afterRollback',
    'top:afterExperiment',
  ]);
});

test('automatic: false limits a control to the experiment level; scope limits before/after', async () => {
  await runExperiment(
    exp({ controls: [ctl('exp-only', { automatic: false }), ctl('after-only', { scope: 'after' })] }),
    {
      baseDir: FIXTURES,
      home: home.home,
    },
  );
  const c = calls();
  assert.deepEqual(
    c.filter((x) => x.startsWith('exp-only')),
    ['exp-only:beforeExperiment', 'exp-only:afterExperiment'],
  );
  assert.ok(c.filter((x) => x.startsWith('after-only')).every((x) => x.includes(':after')));
});

test("global controls run before the experiment's; activity controls and refs apply to their activity only", async () => {
  const e = exp({
    controls: [ctl('top', { automatic: false })],
    method: [{ ...probe('m'), controls: [ctl('own'), { name: 'again', ref: 'top' }] }, probe('n')],
  });
  await runExperiment(e, {
    baseDir: FIXTURES,
    home: home.home,
    controls: [ctl('global', { automatic: false })],
  });
  const c = calls();
  assert.equal(c[0], 'global:beforeExperiment');
  assert.equal(c[1], 'top:beforeExperiment');
  assert.ok(c.includes('own:beforeActivity:m'));
  assert.ok(c.includes('top:beforeActivity:m'), 'a ref pulls in the top-level control');
  assert.ok(!c.includes('own:beforeActivity:n'));
});

test('a failing control is ignored; configure may change the configuration', async () => {
  const failing = {
    ...ctl('broken'),
    provider: { ...ctl('broken').provider, arguments: { label: 'broken', failIn: 'beforeMethod' } },
  };
  const j = await runExperiment(
    exp({
      configuration: { configured_by: 'nobody' },
      controls: [failing],
      method: [
        { type: 'probe', name: 'cfg', provider: { type: 'node', module: './probes.mjs', func: 'config' } },
      ],
    }),
    { baseDir: FIXTURES, home: home.home },
  );
  assert.equal(j.status, 'completed');
  assert.deepEqual(j.run[0]!.output, { configured_by: 'broken' });
});

test('a control can interrupt the run at experiment level', async () => {
  const j = await runExperiment(
    exp({ controls: [{ name: 'stop', provider: { type: 'node', module: './interrupt-control.mjs' } }] }),
    { baseDir: FIXTURES, home: home.home },
  );
  assert.equal(j.status, 'interrupted');
  assert.match(j.faultline.reason ?? '', /stopped by the test control/);
});

test('an unknown python control is a warning naming the module, and the run carries on (as in Chaos Toolkit)', {
  skip: resolvePython() ? false : 'no python3 on this machine',
}, async () => {
  const warnings: string[] = [];
  const journal = await runExperiment(
    exp({ controls: [{ name: 'x', provider: { type: 'python', module: 'chaosaddons.controls.nope' } }] }),
    {
      baseDir: FIXTURES,
      home: home.home,
      onEvent: (e) => {
        if (e.type === 'log' && e.level === 'warn') warnings.push(e.message);
      },
    },
  );
  assert.equal(journal.status, 'completed');
  assert.ok(
    warnings.some((m) => /control 'x'.*chaosaddons\.controls\.nope.*carries on/.test(m)),
    warnings.join(' | '),
  );
});
