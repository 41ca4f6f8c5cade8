/**
 * Litmus manifests (src/manifests/litmus/): the seeds (001 ChaosEngine pod-delete + httpProbe, 004
 * the chaos.litmus.io dialect) and examples from Litmus' own charts and documentation translate to
 * the expected actions, targets and probes with no refused note, and the generated experiment
 * passes Faultline's validation; malformed ones are refused naming the field.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { validateExperiment } from '../../src/lib/validate.js';
import { translateManifests } from '../../src/manifests/index.js';
import { splitCommand } from '../../src/manifests/litmus/probes.js';

const FIX = 'test/fixtures/manifests';
const load = (file: string) =>
  parseAllDocuments(readFileSync(`${FIX}/${file}`, 'utf8')).map((d) => d.toJSON() as unknown);
const translate = (file: string) => translateManifests(load(file));
const fromYaml = (text: string) => translateManifests(parseAllDocuments(text).map((d) => d.toJSON()));

type Act = {
  name: string;
  provider: {
    type: string;
    module?: string;
    func?: string;
    arguments?: Record<string, unknown>;
    url?: string;
  };
  targets?: Record<string, unknown>;
  pauses?: { before?: number; after?: number };
  tolerance?: unknown;
  frequency?: number;
};

async function assertValid(experiment: Record<string, unknown>) {
  const r = await validateExperiment(experiment);
  // The arguments the agent fills from the workload (process selector, SDK service) are absent on purpose.
  const errors = r.issues.filter((i) => (i as { severity?: string }).severity !== 'warning');
  assert.deepEqual(errors, [], JSON.stringify(errors, null, 1));
}

test('seed 001: pod-delete every 10 s for 30 s on one payment workload, the httpProbe as an Edge hypothesis', async () => {
  const set = translate('seeds/001-litmus-pod-delete.yaml');
  assert.deepEqual(set.refused, []);
  const method = set.experiment.method as Act[];
  assert.equal(method.length, 3);
  for (const a of method) {
    assert.equal(a.provider.module, 'faultline.process');
    assert.equal(a.provider.func, 'kill');
    assert.deepEqual(a.provider.arguments, { signal: 'SIGKILL' });
    assert.deepEqual(a.targets, {
      on: 'workloads',
      namespaces: ['payment'],
      selector: { matchLabels: { app: 'payment-service' } },
      mode: 'fixed',
      value: 1,
    });
    assert.equal(a.pauses?.after, 10);
  }
  const probes = (set.experiment['steady-state-hypothesis'] as { probes: Act[] }).probes;
  assert.equal(probes.length, 1);
  assert.equal(probes[0]!.provider.type, 'http');
  assert.equal(probes[0]!.provider.url, '${payment_service_url}/health');
  assert.equal(probes[0]!.tolerance, 200);
  assert.deepEqual(set.experiment.configuration, { payment_service_url: 'http://payment-service:8080' });
  // No mode in the seed: noted, read as Edge; TARGET_PODS '1' read as a count, noted.
  assert.ok(set.notes.some((n) => n.fate === 'warned' && n.path.endsWith('probe[0].mode')));
  assert.ok(set.notes.some((n) => n.fate === 'warned' && /TARGET_PODS holds pod names/.test(n.why ?? '')));
  await assertValid(set.experiment);
});

test('seed 004 (chaos.litmus.io dialect): http_error 503 at 40% for 120 s on the requests to the workload, SLO_CHECK as a Prometheus safeguard', async () => {
  const set = translate('seeds/004-litmus-payment-503.yaml');
  assert.deepEqual(set.refused, []);
  const [a] = set.experiment.method as Act[];
  assert.equal(a!.provider.module, 'faultline.http');
  assert.equal(a!.provider.func, 'fault');
  assert.deepEqual(a!.provider.arguments, { type: 'http_error', status: 503, percentage: 40, duration: 120 });
  assert.deepEqual(a!.targets, {
    on: 'workloads',
    namespaces: ['prod-checkout'],
    selector: { matchLabels: { app: 'payment-gateway' } },
    mode: 'one',
  });
  const [g] = set.experiment.safeguards as Act[];
  assert.equal(g!.provider.module, 'faultline.prometheus');
  assert.deepEqual(g!.provider.arguments, {
    query: 'checkout_success_rate',
    url: '${prometheus_url}',
    as: 'number',
  });
  assert.deepEqual(g!.tolerance, { type: 'jsonpath', path: '$[?(@ >= 0.95)]' });
  assert.equal(
    (set.experiment.configuration as Record<string, unknown>).prometheus_url,
    'http://localhost:9090',
  );
  assert.ok((set.experiment.tags as string[]).includes('experiment-id:PAY-503-2024-Q4'));
  const t = set.translations[0] as { blastRadius?: unknown };
  assert.deepEqual(t.blastRadius, { max_targets: 5 });
  await assertValid(set.experiment);
});

test("Litmus' chart engines: pod-delete (defaults), node-cpu-hog on agents, pod-network-partition", async () => {
  const del = translate('litmus/chaos-charts-pod-delete.yaml');
  assert.deepEqual(del.refused, []);
  const kills = del.experiment.method as Act[];
  assert.equal(kills.length, 3, '30 s every 10 s');
  assert.deepEqual(kills[0]!.provider.arguments, { signal: 'SIGTERM' }, 'FORCE false');
  assert.deepEqual(kills[0]!.targets, {
    on: 'workloads',
    namespaces: ['default'],
    selector: {},
    mode: 'one',
  });
  await assertValid(del.experiment);

  const cpu = translate('litmus/chaos-charts-node-cpu-hog.yaml');
  assert.deepEqual(cpu.refused, []);
  const [hog] = cpu.experiment.method as Act[];
  assert.equal(hog!.provider.func, 'cpu');
  assert.deepEqual(hog!.provider.arguments, { workers: 1, load: 100, duration: 60 });
  assert.deepEqual(hog!.targets, { on: 'agents', selector: {}, mode: 'one' });
  await assertValid(cpu.experiment);

  const part = translate('litmus/chaos-charts-pod-network-partition.yaml');
  assert.deepEqual(part.refused, []);
  const [p] = part.experiment.method as Act[];
  assert.equal(p!.provider.func, 'partition');
  assert.deepEqual(p!.provider.arguments, { direction: 'both', duration: 60 });
});

test("Litmus' documented probes: Continuous httpProbe -> safeguard, Edge cmdProbe (argv) and promProbe -> hypothesis", async () => {
  const set = translate('litmus/litmus-docs-probes.yaml');
  assert.deepEqual(set.refused, []);
  const [g] = set.experiment.safeguards as Act[];
  assert.equal(g!.name, 'check-frontend-access-url');
  assert.equal(g!.frequency, 2);
  assert.equal(g!.provider.url, '${frontend_url}/health');
  assert.deepEqual(
    {
      timeout: (g!.provider as Record<string, unknown>).timeout,
      retries: (g!.provider as Record<string, unknown>).max_retries,
    },
    { timeout: 2, retries: 1 },
  );
  const probes = (set.experiment['steady-state-hypothesis'] as { probes: Act[] }).probes;
  assert.deepEqual(
    probes.map((p) => p.name),
    ['check-database-integrity', 'check-probe-success'],
  );
  assert.deepEqual(probes[0]!.provider, {
    type: 'process',
    path: 'cat',
    arguments: ['/var/lib/app/integrity'],
    timeout: 5,
  });
  assert.deepEqual(probes[0]!.tolerance, { type: 'regex', pattern: 'ok', target: 'stdout' });
  assert.deepEqual(probes[1]!.tolerance, { type: 'jsonpath', path: '$[?(@ >= 10)]' });
  assert.equal(
    (set.experiment.configuration as Record<string, unknown>).prometheus_k8s_url,
    'http://prometheus-k8s.monitoring.svc:9090',
  );
  await assertValid(set.experiment);
});

test('pod-http-latency, -status-code and -reset-peer fault the requests to the workload (faultline.http fault), TOXICITY as their share', async () => {
  const http = (name: string, env: string) => fromYaml(engine(env).replace('pod-network-loss', name));
  const latency = http(
    'pod-http-latency',
    "            - {name: LATENCY, value: '500'}\n            - {name: TOXICITY, value: '30'}\n            - {name: TARGET_SERVICE_PORT, value: '8080'}",
  );
  assert.deepEqual(latency.refused, []);
  const [l] = latency.experiment.method as Act[];
  assert.deepEqual([l!.provider.module, l!.provider.func], ['faultline.http', 'fault']);
  assert.deepEqual(l!.provider.arguments, { type: 'latency', latency_ms: 500, percentage: 30, duration: 60 });
  await assertValid(latency.experiment);
  const status = http(
    'pod-http-status-code',
    "            - {name: STATUS_CODE, value: '502'}\n            - {name: RESPONSE_BODY, value: 'down'}",
  );
  assert.deepEqual(status.refused, []);
  assert.deepEqual((status.experiment.method as Act[])[0]!.provider.arguments, {
    type: 'http_error',
    status: 502,
    body: 'down',
    percentage: 100,
    duration: 60,
  });
  await assertValid(status.experiment);
  const reset = http('pod-http-reset-peer', '            []');
  assert.deepEqual((reset.experiment.method as Act[])[0]!.provider.arguments, {
    type: 'reset',
    percentage: 100,
    duration: 60,
  });
});

test("the chart's pod-http-status-code template is refused: no namespace, empty STATUS_CODE", () => {
  const set = translate('litmus/chaos-charts-pod-http-status-code.yaml');
  assert.deepEqual(set.refused.map((n) => n.path).sort(), [
    'spec.appinfo.appns',
    'spec.experiments[0].spec.components.env[2].value',
  ]);
});

const engine = (env: string, extra = '') => `
apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata: {name: e, namespace: shop}
spec:
  appinfo: {appns: shop, applabel: 'app=cart'}
  experiments:
    - name: pod-network-loss
      spec:
        components:
          env:
${env}
${extra}`;

test('each env tunable maps; every experiment of the table translates with its defaults', async () => {
  const set = fromYaml(
    engine(
      "            - {name: NETWORK_PACKET_LOSS_PERCENTAGE, value: '25'}\n            - {name: DESTINATION_IPS, value: '10.0.0.7,10.0.0.8'}\n            - {name: PODS_AFFECTED_PERC, value: '50'}\n            - {name: RAMP_TIME, value: '5'}",
    ),
  );
  assert.deepEqual(set.refused, []);
  const [a] = set.experiment.method as Act[];
  assert.deepEqual(a!.provider.arguments, { percent: 25, duration: 60, direction: 'egress' });
  assert.deepEqual(a!.targets, {
    on: 'workloads',
    namespaces: ['shop'],
    selector: { matchLabels: { app: 'cart' } },
    mode: 'fixed-percent',
    value: 50,
    peers: { addresses: ['10.0.0.7', '10.0.0.8'] },
  });
  assert.equal(a!.pauses?.before, 5);
  assert.equal(a!.pauses?.after, 65, 'duration + ramp after');
  const { EXPERIMENT_NAMES } = await import('../../src/manifests/litmus/experiments.js');
  const refusedByDesign = new Set(['pod-http-status-code', 'pod-http-modify-body']);
  for (const name of EXPERIMENT_NAMES) {
    const s = fromYaml(`apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata: {name: e, namespace: shop}
spec:
  appinfo: {applabel: 'app=cart'}
  experiments: [{name: ${name}}]`);
    if (refusedByDesign.has(name)) assert.ok(s.refused.length > 0, name);
    else {
      assert.deepEqual(s.refused, [], name);
      assert.ok((s.experiment.method as Act[]).length >= 1, name);
    }
  }
});

test('malformed Litmus manifests are refused naming the field', () => {
  const cases: [string, string, RegExp][] = [
    [
      engine('            - {name: TOTAL_CHAOS_DURATION, value: soon}'),
      'spec.experiments[0].spec.components.env[0].value',
      /TOTAL_CHAOS_DURATION: expected a whole number/,
    ],
    [
      engine("            - {name: PODS_AFFECTED_PERC, value: '150'}"),
      'spec.experiments[0].spec.components.env[0].value',
      /PODS_AFFECTED_PERC: expected a whole number from 0 to 100, got "150"/,
    ],
    [
      engine("            - {name: NETWORK_LATENCY, value: '10'}"),
      'spec.experiments[0].spec.components.env[0].name',
      /NETWORK_LATENCY is not a tunable of pod-network-loss/,
    ],
    [
      engine('            []').replace('pod-network-loss', 'pod-teleport'),
      'spec.experiments[0].name',
      /"pod-teleport" is not an experiment Faultline translates/,
    ],
    [
      engine(
        '            []',
        '        probe:\n          - name: p\n            type: grpcProbe\n            mode: Edge\n            grpcProbe/inputs: {}',
      ),
      'spec.experiments[0].spec.probe[0].type',
      /expected one of httpProbe, cmdProbe, promProbe/,
    ],
    [
      engine(
        '            []',
        "        probe:\n          - name: p\n            type: httpProbe\n            mode: Sometimes\n            httpProbe/inputs: {url: 'http://a:1/', method: {get: {criteria: '==', responseCode: '200'}}}",
      ),
      'spec.experiments[0].spec.probe[0].mode',
      /expected one of SOT, EOT, Edge, Continuous, OnChaos/,
    ],
    [
      engine(
        '            []',
        '        probe:\n          - name: p\n            type: k8sProbe\n            mode: EOT\n            k8sProbe/inputs: {}',
      ),
      'spec.experiments[0].spec.probe[0].type',
      /k8sProbe reads and writes Kubernetes objects/,
    ],
    [
      engine(
        '            []',
        "        probe:\n          - name: p\n            type: cmdProbe\n            mode: SOT\n            cmdProbe/inputs: {command: 'df -h | grep /data', comparator: {type: string, criteria: contains, value: x}}",
      ),
      'spec.experiments[0].spec.probe[0]["cmdProbe/inputs"].command',
      /needs a shell \('\|'\)/,
    ],
    [
      engine('            []').replace("applabel: 'app=cart'", "applabel: 'app in (cart'"),
      'spec.appinfo.applabel',
      /without its/,
    ],
    [
      engine('            []').replace('kind: ChaosEngine', 'kind: ChaosResult'),
      'kind',
      /an output, not something to run/,
    ],
  ];
  for (const [text, path, why] of cases) {
    const set = fromYaml(text);
    const hit = set.refused.find((n) => n.path === path);
    assert.ok(hit, `${path} refused; got ${JSON.stringify(set.refused)}`);
    assert.match(hit.why ?? '', why);
  }
});

test('probe modes: SOT -> pre-check safeguard, EOT alone -> after-method-only, OnChaos -> safeguard with frequency', () => {
  const probe = (name: string, mode: string, extra = '') =>
    `          - name: ${name}\n            type: httpProbe\n            mode: ${mode}\n            httpProbe/inputs: {url: 'http://api:80/ok', method: {get: {criteria: '!=', responseCode: '500'}}}\n${extra}`;
  const set = fromYaml(
    engine(
      '            []',
      `        probe:\n${probe('pre', 'SOT')}${probe('post', 'EOT')}${probe('during', 'OnChaos', '            runProperties: {probePollingInterval: 3s, probeTimeout: 2s}\n')}`,
    ),
  );
  assert.deepEqual(set.refused, []);
  const guards = set.experiment.safeguards as Act[];
  assert.deepEqual(
    guards.map((g) => [g.name, g.frequency]),
    [
      ['pre', undefined],
      ['during', 3],
    ],
  );
  assert.deepEqual(guards[0]!.tolerance, { type: 'jsonpath', path: '$[?(@ != 500)]', target: 'status' });
  assert.deepEqual(set.experiment.runtime, { hypothesis: { strategy: 'after-method-only' } });
});

test('ChaosSchedule: repeat every 30 minutes in work hours on weekdays -> a cron schedule, the template translated', () => {
  const set = fromYaml(`apiVersion: litmuschaos.io/v1alpha1
kind: ChaosSchedule
metadata: {name: s, namespace: shop}
spec:
  schedule:
    repeat:
      properties: {minChaosInterval: {minute: {everyNthMinute: 30}}}
      workHours: {includedHours: 10-18}
      workDays: {includedDays: 'Mon,Tue,Wed,Thu,Fri'}
  engineTemplateSpec:
    appinfo: {applabel: 'app=cart'}
    experiments: [{name: pod-delete}]`);
  assert.deepEqual(set.refused, []);
  assert.deepEqual(set.schedules[0]?.timing, { cron: '*/30 10-18 * * 1,2,3,4,5', timezone: 'UTC' });
  assert.equal((set.experiment.method as Act[]).length, 3, 'pod-delete defaults: 15 s every 5 s');
});

test('cmdProbe commands become argv without a shell', () => {
  assert.deepEqual(splitCommand(`curl -s "http://a b/x" 'it''s'`), ['curl', '-s', 'http://a b/x', 'its']);
  assert.deepEqual(splitCommand('echo a\\ b'), ['echo', 'a b']);
  for (const line of ['a | b', 'echo $HOME', 'x > f', 'a && b', 'FOO=1 cmd', 'echo "$(id)"', 'ls *'])
    assert.ok(!Array.isArray(splitCommand(line)), line);
});
