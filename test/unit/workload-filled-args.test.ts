/**
 * A fault action aimed at workloads (`targets: {on: workloads, ...}`) leaves out what the agent
 * fills from the workload (netns, interface, process finder, SDK service): validation lets that
 * absence pass, but still reports a filled field given with a wrong value, and an action aimed at
 * agents (or run locally) still needs them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filledByWorkload } from '../../src/core/workload.js';
import { validateExperiment } from '../../src/lib/validate.js';

const action = (func: string, args: Record<string, unknown>, targets?: Record<string, unknown>) => ({
  type: 'action',
  name: `a-${func}`,
  provider: {
    type: 'faultline',
    module: func === 'kill' ? 'faultline.process' : 'faultline.network',
    func,
    arguments: args,
  },
  ...(targets ? { targets } : {}),
});
const workloads = {
  on: 'workloads',
  namespaces: ['payment'],
  selector: { matchLabels: { app: 'api' } },
  mode: 'all',
};
const validate = (method: unknown[]) =>
  validateExperiment({ title: 't', description: 'd', method }, { env: {} }).then((r) => r.issues);

test('an action aimed at workloads may leave out the interface and the process finder', async () => {
  const issues = await validate([
    action('latency', { delay: 500, jitter: 100, duration: 5 }, workloads),
    action('kill', { signal: 'SIGKILL', mode: 'all' }, workloads),
    action('loss', { percent: 25, duration: 5 }, { namespaces: ['payment'], selector: {}, mode: 'one' }),
  ]);
  assert.deepEqual(issues, []);
});

test('the same actions aimed at agents, or run here, still need them', async () => {
  const agents = { selector: { matchLabels: { host: 'a' } }, mode: 'all' };
  const issues = await validate([
    action('latency', { delay: 500 }, agents),
    action('kill', { signal: 'SIGKILL' }),
  ]);
  const paths = issues.map((i) => String(i.path));
  assert.ok(paths.includes('method[0].provider.arguments.interface'), paths.join(' '));
  assert.ok(
    paths.some((p) => p.startsWith('method[1].provider.arguments')),
    paths.join(' '),
  );
});

test('a filled field given with a wrong value is still refused', async () => {
  const issues = await validate([action('latency', { delay: 5, interface: 'not a name!' }, workloads)]);
  assert.equal(issues.length, 1);
  assert.equal(String(issues[0]!.path), 'method[0].provider.arguments.interface');
});

test('filledByWorkload: only absent filled fields and the missing process selector', () => {
  assert.equal(filledByWorkload({}, ['interface'], 'expected an interface name'), true);
  assert.equal(filledByWorkload({ interface: 'x y' }, ['interface'], 'expected an interface name'), false);
  assert.equal(filledByWorkload({}, ['delay'], 'expected a number'), false);
  assert.equal(filledByWorkload({}, [], 'expected one of pid, pidfile, name, pattern'), true);
  assert.equal(filledByWorkload({}, [], 'expected count or percentage, not both'), false);
});

test('a hand-written `on: workloads` in YAML (read as 1.1, where a bare on is true) still picks workloads', async () => {
  const { parseText } = await import('../../src/core/parse.js');
  const { TargetsSchema, onWorkloads } = await import('../../src/core/fleet.js');
  const parsed = parseText(
    'on: workloads\nnamespaces: [payment]\nselector: {}\nmode: all\n',
    'yaml',
    't.yaml',
  );
  assert.ok(Object.hasOwn(parsed.value as object, 'true'), 'YAML 1.1 reads the key as true');
  const targets = TargetsSchema.parse(parsed.value);
  assert.equal(targets.on, 'workloads');
  assert.equal(onWorkloads(targets), true);
});
