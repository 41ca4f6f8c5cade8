/**
 * AWS FIS templates -> Faultline experiments: the seeds (test/fixtures/manifests/seeds/), AWS's own
 * examples (test/fixtures/manifests/aws-fis/, each with its URL), the startAfter graph, and malformed
 * templates, each refused naming the field. Translated experiments are checked against ExperimentSchema.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ExperimentSchema } from '../../src/core/schema.js';
import { checkTolerance } from '../../src/engine/tolerances/index.js';
import { type ManifestSet, translateManifests } from '../../src/manifests/index.js';

const FIX = new URL('../fixtures/manifests/', import.meta.url);
const load = (name: string): ManifestSet =>
  translateManifests(parseAllDocuments(readFileSync(new URL(name, FIX), 'utf8')).map((d) => d.toJS()));
const fromJson = (doc: unknown) => translateManifests([doc]);

type Act = {
  name: string;
  provider: { module?: string; func?: string; arguments?: Record<string, unknown> };
  targets?: Record<string, unknown>;
  pauses?: { before?: number; after?: number };
};
const method = (s: ManifestSet) => s.experiment.method as Act[];
const refused = (s: ManifestSet, path: string) => s.refused.find((n) => n.path === path);

function runnable(s: ManifestSet): void {
  const r = ExperimentSchema.safeParse(s.experiment);
  assert.ok(r.success, `the translated experiment validates: ${JSON.stringify(r.error?.issues)}`);
}

test('seed 001 (CloudFormation spelling): terminate-instances refused by name, with the equivalent', () => {
  const s = load('seeds/001-fis-terminate.yaml');
  assert.equal(s.translations[0]?.format, 'aws-fis');
  const n = refused(s, 'Actions.terminateInstances.ActionId');
  assert.ok(n, 'the action id is refused');
  assert.match(n.why!, /aws:ec2:terminate-instances/);
  assert.match(n.why!, /faultline\.process kill of the host's workloads \(mode all\)/);
  assert.equal(s.refused.length, 1, 'nothing else is refused');
  // The rest still maps: target on agents by label, COUNT(1), the alarm as a safeguard.
  assert.ok(s.notes.some((x) => x.path === 'Targets.Instances.SelectionMode' && x.fate === 'mapped'));
  const [guard] = s.experiment.safeguards as { provider: { arguments: Record<string, unknown> } }[];
  assert.equal(guard?.provider.arguments.query, '${alarm_payment_error_rate_high}');
});

test('seed 002 (boto3 dict as JSON): stop-task maps to a SIGTERM of 50% of the product-service workloads', () => {
  const s = load('seeds/002-fis-ecs-stop-task.json');
  assert.deepEqual(s.refused, []);
  runnable(s);
  const [a] = method(s);
  assert.equal(method(s).length, 1);
  assert.deepEqual(a!.provider, {
    type: 'faultline',
    module: 'faultline.process',
    func: 'kill',
    arguments: { signal: 'SIGTERM' },
  });
  assert.deepEqual(a!.targets, {
    on: 'workloads',
    mode: 'fixed-percent',
    value: 50,
    selector: { matchLabels: { Service: 'product-service' } },
  });
  assert.ok(s.notes.some((n) => n.path === 'roleArn' && n.fate === 'warned'));
  assert.ok(s.notes.some((n) => n.path === 'tags' && n.fate === 'ignored'));
  const conf = s.experiment.configuration as Record<string, unknown>;
  assert.deepEqual(conf.alarm_stop_condition_1, { type: 'env', key: 'ALARM_STOP_CONDITION_1' });
});

test('the alarm safeguard: firing (a sample above 0) breaks the tolerance, an empty result holds', async () => {
  const s = load('seeds/002-fis-ecs-stop-task.json');
  const [guard] = s.experiment.safeguards as { tolerance: unknown }[];
  const holds = async (output: unknown) =>
    (
      await checkTolerance(guard!.tolerance as never, output, {
        vars: {},
        runProbe: async () => undefined,
      })
    ).met;
  assert.equal(await holds([]), true);
  assert.equal(await holds([{ metric: {}, value: 0 }]), true);
  assert.equal(await holds([{ metric: { alertname: 'x' }, value: 1 }]), false);
});

test("AWS's SSM CPU stress example: stress.cpu for 120 s on the agent labelled with the instance id", () => {
  const s = load('aws-fis/ssm-cpu-stress.json');
  assert.deepEqual(s.refused, []);
  runnable(s);
  const [a] = method(s);
  assert.equal(a!.provider.func, 'cpu');
  assert.deepEqual(a!.provider.arguments, { duration: 120 });
  assert.deepEqual(a!.targets, {
    on: 'agents',
    mode: 'all',
    selector: { matchExpressions: [{ key: 'instance-id', operator: 'In', values: ['i-0123456789abcdef0'] }] },
  });
  assert.equal(a!.pauses?.after, 120);
  assert.ok(s.notes.some((n) => n.path.endsWith('InstallDependencies') && n.fate === 'ignored'));
  assert.equal(s.experiment.safeguards, undefined, 'source none is no safeguard');
});

test("AWS CLI's example: reboot-instances refused by name with its equivalent", () => {
  const s = load('aws-fis/cli-reboot.json');
  assert.match(refused(s, 'actions.reboot.actionId')?.why ?? '', /reboot-instances.*SIGTERM/);
});

test('CloudFormation template with a startAfter graph: starts at 0, 60, 60 (wait) and 90 s', () => {
  const s = load('aws-fis/cfn-ecs-dag.yaml');
  assert.deepEqual(s.refused, []);
  runnable(s);
  const m = method(s);
  assert.deepEqual(
    m.map((a) => [a.name, a.provider.func, a.pauses?.after]),
    [
      ['Stress', 'cpu', 60],
      ['Loss', 'loss', 30],
      ['Kill', 'kill', 90],
    ],
  );
  assert.deepEqual(m[1]!.provider.arguments, { percent: 25, direction: 'egress', duration: 120 });
  assert.deepEqual(m[2]!.provider.arguments, { name: 'node', signal: 'SIGKILL', mode: 'all' });
  assert.deepEqual(m[0]!.targets, {
    on: 'workloads',
    mode: 'fixed',
    value: 2,
    selector: { matchLabels: { app: 'checkout', env: 'staging' } },
  });
  // Notes point at the placed actions.
  const kill = s.notes.find((n) => n.path === 'Resources.Template.Properties.Actions.Kill.ActionId');
  assert.equal(kill?.to, 'method[2].provider');
});

const base = () => ({
  description: 'x',
  targets: { T: { resourceType: 'aws:ecs:task', resourceTags: { app: 'a' }, selectionMode: 'ALL' } },
  actions: {
    A: { actionId: 'aws:ecs:task-cpu-stress', parameters: { duration: 'PT1M' }, targets: { Tasks: 'T' } },
  } as Record<string, unknown>,
});

test('malformed templates are refused naming the field', () => {
  const cases: [string, (d: ReturnType<typeof base>) => void, string, RegExp][] = [
    [
      'PERCENT(150)',
      (d) => (d.targets.T.selectionMode = 'PERCENT(150)'),
      'targets.T.selectionMode',
      /1 to 100/,
    ],
    [
      'PT-bad',
      (d) => ((d.actions.A as { parameters: object }).parameters = { duration: 'PT-bad' }),
      'actions.A.parameters.duration',
      /ISO 8601/,
    ],
    [
      'unknown actionId',
      (d) => ((d.actions.A as { actionId: string }).actionId = 'aws:ec2:explode'),
      'actions.A.actionId',
      /unknown actionId/,
    ],
    [
      'tag not a label',
      (d) => (d.targets.T.resourceTags = { 'aws:cloudformation:stack': 'x' } as never),
      'targets.T.resourceTags["aws:cloudformation:stack"]',
      /not a valid label key/,
    ],
    ['unknown field', (d) => ((d as Record<string, unknown>).bogus = 1), 'bogus', /unknown field/],
    [
      'unknown target',
      (d) => ((d.actions.A as { targets: object }).targets = { Tasks: 'Nope' }),
      'actions.A.targets.Tasks',
      /one of targets/,
    ],
  ];
  for (const [what, mutate, path, why] of cases) {
    const d = base();
    mutate(d);
    const n = refused(fromJson(d), path);
    assert.ok(n, `${what}: ${path} refused (got ${JSON.stringify(fromJson(d).refused)})`);
    assert.match(n.why!, why, what);
  }
});

test('a startAfter cycle is refused naming it', () => {
  const d = base();
  d.actions = {
    A: { actionId: 'aws:fis:wait', parameters: { duration: 'PT1M' }, startAfter: ['B'] },
    B: { actionId: 'aws:fis:wait', parameters: { duration: 'PT1M' }, startAfter: ['A'] },
  };
  const s = fromJson(d);
  const n = s.refused.find((x) => /startAfter$/.test(x.path));
  assert.match(n?.why ?? '', /a cycle: .*A -> B|B -> A/);
});

test('not an FIS template: a Chaos Mesh or Kubernetes document is left to its own format', () => {
  assert.notEqual(
    translateManifests([{ apiVersion: 'v1', kind: 'Pod', actions: {}, targets: {} }]).translations[0]?.format,
    'aws-fis',
  );
});
