/**
 * Chaos Mesh manifests -> Faultline experiments: the seeds (test/fixtures/manifests/seeds/),
 * Chaos Mesh's own examples (test/fixtures/manifests/chaos-mesh/, each with its URL), and
 * malformed ones, each refused naming the field. Every translated experiment is also checked
 * with Faultline's validation (lib/validate.ts) so what `convert` prints is runnable.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_FAULT_DURATION_S } from '../../src/activities/faults.js';
import { validateExperiment } from '../../src/lib/validate.js';
import { DEFAULT_DURATION_S } from '../../src/manifests/chaos-mesh/common.js';
import { type ManifestSet, translateManifests } from '../../src/manifests/index.js';
import { nextFire } from '../../src/schedule/index.js';

const SEEDS = new URL('../fixtures/manifests/seeds/', import.meta.url);
const EXAMPLES = new URL('../fixtures/manifests/chaos-mesh/', import.meta.url);

function load(url: URL): ManifestSet {
  return translateManifests(parseAllDocuments(readFileSync(url, 'utf8')).map((d) => d.toJS()));
}
const fromText = (text: string) => translateManifests(parseAllDocuments(text).map((d) => d.toJS()));
const seed = (name: string) => load(new URL(name, SEEDS));
const example = (name: string) => load(new URL(name, EXAMPLES));

type Act = {
  type: string;
  name: string;
  provider: { module?: string; func?: string; arguments?: Record<string, unknown>; url?: string };
  targets?: Record<string, unknown>;
  pauses?: { before?: number; after?: number };
  tolerance?: unknown;
};
const method = (s: ManifestSet) => s.experiment.method as Act[];
const refusedPaths = (s: ManifestSet) => s.refused.map((n) => n.path);

/** Faultline's own validation of the translated experiment (what the agent fills from the workload may be absent). */
async function runnable(s: ManifestSet): Promise<void> {
  const r = await validateExperiment(s.experiment);
  const errors = r.issues.filter((i) => (i as { severity?: string }).severity !== 'warning');
  assert.deepEqual(errors, [], JSON.stringify(errors, null, 1));
}

test('the fault actions default duration agrees with the activities (600 s)', () => {
  assert.equal(DEFAULT_DURATION_S, DEFAULT_FAULT_DURATION_S);
});

test('seed 000, indented: latency 500 ms ± 100 ms, correlation 100, 300 s on one production workload', async () => {
  const s = seed('000-network-delay.yaml');
  assert.deepEqual(s.refused, []);
  await runnable(s);
  const [a] = method(s);
  assert.equal(method(s).length, 1);
  assert.equal(a!.provider.module, 'faultline.network');
  assert.equal(a!.provider.func, 'latency');
  assert.deepEqual(a!.provider.arguments, { delay: 500, jitter: 100, correlation: 100, duration: 300 });
  assert.deepEqual(a!.targets, {
    on: 'workloads',
    namespaces: ['production'],
    selector: { matchLabels: { app: 'object-storage-service' } },
    mode: 'one',
  });
  assert.equal(a!.pauses?.after, 300);
  assert.deepEqual(s.schedules, []);
  for (const p of [
    'spec.delay.latency',
    'spec.delay.jitter',
    'spec.delay.correlation',
    'spec.duration',
    'spec.mode',
  ])
    assert.ok(
      s.notes.some((n) => n.path === p && n.fate === 'mapped'),
      `${p} is mapped`,
    );
});

test('seed 000, verbatim (indentation lost): refused with the hint that fields sit at the top level', () => {
  const s = seed('000-network-delay-verbatim.yaml');
  const hint = s.refused.find((n) => n.path === '');
  assert.ok(hint, 'a note on the document');
  assert.match(hint!.why ?? '', /top level.*indent them under metadata: and spec:/);
  assert.ok(refusedPaths(s).includes('spec'));
  assert.ok(refusedPaths(s).includes('latency'), 'the stray fields are refused by name');
  assert.deepEqual(method(s), []);
});

test('seed 001: partition both ways between payment and database workloads, every 10 minutes', async () => {
  const s = seed('001-network-partition.yaml');
  assert.deepEqual(s.refused, []);
  await runnable(s);
  const acts = method(s);
  assert.equal(acts.length, 1);
  assert.equal(acts[0]!.provider.func, 'partition');
  assert.deepEqual(acts[0]!.provider.arguments, { direction: 'both', duration: 30 });
  assert.deepEqual(acts[0]!.targets, {
    on: 'workloads',
    namespaces: ['payment'],
    selector: { matchLabels: { app: 'payment-service' } },
    mode: 'all',
    peers: { namespaces: ['database'], selector: { matchLabels: { app: 'postgres' } }, mode: 'all' },
  });
  assert.equal(s.schedules.length, 1);
  assert.deepEqual(s.schedules[0]!.timing, { cron: '@every 10m', timezone: 'UTC' });
  assert.equal(s.schedules[0]!.from, 'spec.scheduler.cron');
  const from = new Date('2026-01-01T00:00:00Z');
  const fire = nextFire(s.schedules[0]!.timing, 'seed-001', from, from);
  assert.ok(fire && fire.due.getTime() - from.getTime() === 600_000, 'the scheduler fires it 10 minutes on');
});

test('seed 002: pod-failure as a pause of 50% of product-service for 5m, and 25% loss toward payment-gateway', async () => {
  const s = seed('002-pod-failure-network-loss.yaml');
  assert.deepEqual(s.refused, []);
  await runnable(s);
  const [pause, loss] = method(s);
  assert.equal(pause!.provider.module, 'faultline.process');
  assert.equal(pause!.provider.func, 'pause');
  assert.deepEqual(pause!.provider.arguments, { mode: 'all', duration: 300 });
  assert.deepEqual(pause!.targets, {
    on: 'workloads',
    namespaces: ['production'],
    selector: { matchLabels: { app: 'product-service' } },
    mode: 'fixed-percent',
    value: 50,
  });
  assert.equal(loss!.provider.func, 'loss');
  assert.deepEqual(loss!.provider.arguments, { percent: 25, direction: 'egress', duration: 120 });
  // No selector.namespaces and no metadata.namespace: Chaos Mesh's default namespace.
  assert.deepEqual(loss!.targets, {
    on: 'workloads',
    namespaces: ['default'],
    selector: { matchLabels: { app: 'checkout-service' } },
    mode: 'all',
    peers: { namespaces: ['default'], selector: { matchLabels: { app: 'payment-gateway' } }, mode: 'all' },
  });
  assert.equal(loss!.pauses?.after, 300, 'the documents apply together: the method holds for the longest');
  const corr = s.notes.find((n) => n.path === 'spec.loss.correlation');
  assert.equal(corr?.fate, 'warned');
  assert.match(corr?.why ?? '', /rate is kept.*burstiness/);
  assert.deepEqual(
    s.schedules.map((x) => [x.document, x.timing]),
    [[0, { cron: '@every 1h', timezone: 'UTC' }]],
  );
  assert.ok(
    s.notes.some((n) => n.path === 'spec.action' && n.fate === 'mapped' && /SIGSTOP/.test(n.why ?? '')),
  );
});

test('seed 003: pod-kill of up to 30% of payment-service (SIGKILL, every process), every 2 hours', async () => {
  const s = seed('003-pod-kill.yaml');
  assert.deepEqual(s.refused, []);
  await runnable(s);
  const [kill] = method(s);
  assert.equal(kill!.provider.func, 'kill');
  assert.deepEqual(kill!.provider.arguments, { signal: 'SIGKILL', mode: 'all' });
  assert.deepEqual(kill!.targets, {
    on: 'workloads',
    namespaces: ['production'],
    selector: { matchLabels: { app: 'payment-service' } },
    mode: 'random-max-percent',
    value: 30,
  });
  assert.equal(kill!.pauses?.after, 60, 'the duration is watched after the kill');
  assert.deepEqual(s.schedules[0]?.timing, { cron: '@every 2h', timezone: 'UTC' });
});

test("Chaos Mesh's examples: each translates (or refuses exactly what Faultline cannot do)", async () => {
  const expected: Record<string, string[]> = {
    'burn-cpu.yaml': ['spec.stressors.cpu.options'],
    'cause-pod-oom.yaml': [],
    'container-kill-example.yaml': [],
    'dns-chaos-example.yaml': ['spec.action', 'spec.patterns'],
    'network-bandwidth-example.yaml': ['spec.bandwidth.peakrate', 'spec.bandwidth.minburst'],
    'network-corrupt-example.yaml': [],
    'network-delay-example.yaml': [],
    'network-delay-with-external-target-example.yaml': ['spec.externalTargets'],
    'network-delay-with-target-example.yaml': ['spec.target'],
    'network-duplicate-example.yaml': [],
    'network-loss-example.yaml': [],
    'network-netem-example.yaml': [],
    'network-partition-example.yaml': [],
    'network-partition-with-external-targets-example.yaml': [],
    'nginx-http-patch-response.yaml': ['spec.patch'],
    'pod-failure-example.yaml': [],
    'pod-kill-example.yaml': [],
    'schedule-podchaos.yaml': [],
    'statuscheck-example.yaml': [],
    'workflow-parallel.yaml': ['spec.templates[3].stressChaos.stressors.cpu.options'],
    'workflow-serial.yaml': ['spec.templates[4].stressChaos.stressors.cpu.options'],
    'workflow-status-check.yaml': [],
  };
  for (const [file, refused] of Object.entries(expected)) {
    const s = example(file);
    assert.deepEqual(refusedPaths(s), refused, file);
    if (refused.length === 0) await runnable(s);
    for (const n of s.notes) assert.ok(n.fate === 'mapped' || n.why, `${file}: ${n.path} says why`);
  }
});

test('example: delay with a target is refused (netem shapes the whole interface), the target named', () => {
  const s = example('network-delay-with-target-example.yaml');
  assert.match(s.refused[0]!.why ?? '', /latency shapes every packet.*cannot be limited to some peers/);
  assert.deepEqual(method(s), [], 'nothing wider than asked is run');
  const plain = example('network-delay-example.yaml');
  assert.deepEqual(method(plain)[0]!.provider.arguments, {
    delay: 90,
    jitter: 90,
    correlation: 25,
    duration: 10,
  });
});

test('example: container-kill is one kill per container name, through the workload containers', () => {
  const [a] = method(example('container-kill-example.yaml'));
  assert.deepEqual(a!.provider.arguments, { signal: 'SIGKILL', mode: 'all', containers: ['prometheus'] });
});

test('example: a partition toward external targets: one fault per port, addresses as peers', () => {
  const acts = method(example('network-partition-with-external-targets-example.yaml'));
  const peersOf = (a: Act) => (a.targets!.peers as { addresses: string[] }).addresses;
  assert.deepEqual(peersOf(acts[0]!), ['8.8.8.8', 'www.google.com', '8.8.0.0/16']);
  assert.deepEqual(
    acts.slice(1).map((a) => [a.provider.arguments?.port, a.provider.arguments?.protocol, peersOf(a)]),
    [
      [80, 'all', ['1.1.1.1']],
      [443, 'all', ['example.com']],
      [22, 'all', ['10.0.0.0/8']],
    ],
  );
  assert.ok(acts.every((a) => a.provider.arguments?.direction === 'egress'));
});

test('example: netem with delay and loss: a latency and an nftables loss', () => {
  const acts = method(example('network-netem-example.yaml'));
  assert.deepEqual(
    acts.map((a) => a.provider.func),
    ['latency', 'loss'],
  );
});

test('example: Schedule of pod-kill @every 5s, Forbid, historyLimit 5', () => {
  const s = example('schedule-podchaos.yaml');
  assert.deepEqual(s.schedules[0], {
    from: 'spec.schedule',
    timing: { cron: '@every 5s', timezone: 'UTC' },
    concurrencyPolicy: 'forbid',
    historyLimit: 5,
    document: 0,
  });
  assert.equal(method(s)[0]!.provider.func, 'kill');
});

test('example: memory stress of workers x size in MiB', () => {
  const [a] = method(example('cause-pod-oom.yaml'));
  assert.equal(a!.provider.func, 'memory');
  assert.deepEqual(a!.provider.arguments, { mb: Math.ceil(10e9 / 2 ** 20), duration: 30 });
});

test('example workflow status-check: a continuous HTTP safeguard beside the delay', () => {
  const s = example('workflow-status-check.yaml');
  const sg = s.experiment.safeguards as Act[] & { frequency?: number }[];
  assert.equal(sg.length, 1);
  assert.equal(sg[0]!.provider.url, 'http://123.123.123.123');
  assert.equal(sg[0]!.tolerance, 200);
  assert.equal(method(s)[0]!.provider.func, 'latency');
  assert.equal(method(s)[0]!.provider.arguments?.duration, 20, "bounded by the template's deadline");
});

test('workflow serial (options removed): steps spaced by each child span, @every unrolled within its deadline', async () => {
  const text = readFileSync(new URL('workflow-serial.yaml', EXAMPLES), 'utf8').replace(
    /\n\s*options: .*\n/,
    '\n',
  );
  const s = fromText(text);
  assert.deepEqual(s.refused, []);
  await runnable(s);
  const acts = method(s);
  // stress (no duration: the 20s deadline), suspend 10s, delay 20s, suspend 5s, pod-kill @every 2s for 40s.
  assert.equal(acts[0]!.provider.func, 'cpu');
  assert.equal(acts[0]!.provider.arguments?.duration, 20);
  assert.equal(acts[1]!.provider.func, 'latency');
  assert.equal(acts[1]!.pauses?.before, 30);
  const kills = acts.filter((a) => a.provider.func === 'kill');
  assert.equal(kills.length, 20);
  assert.equal(acts[2]!.pauses?.before, 25);
  assert.ok(kills.slice(1).every((k) => k.pauses?.before === 2));
  assert.equal(acts.at(-1)!.pauses?.after, 2, 'the last firing period is held');
});

const doc = (spec: string, kind = 'NetworkChaos') =>
  `apiVersion: chaos-mesh.org/v1alpha1\nkind: ${kind}\nmetadata:\n  name: bad\nspec:\n${spec}`;

test('malformed manifests are refused naming the field and what was expected', () => {
  const cases: [string, string, string, RegExp][] = [
    [
      'unknown kind',
      doc('  action: x\n', 'IOChaos'),
      'kind',
      /Faultline translates the Chaos Mesh kinds PodChaos, NetworkChaos/,
    ],
    [
      'a duration that does not parse',
      doc(
        '  action: delay\n  mode: one\n  selector: {labelSelectors: {app: a}}\n  delay: {latency: 10ms}\n  duration: soon\n',
      ),
      'spec.duration',
      /expected a duration such as 30s.*"soon"/,
    ],
    [
      'a latency that is not a duration',
      doc('  action: delay\n  mode: one\n  selector: {labelSelectors: {app: a}}\n  delay: {latency: fast}\n'),
      'spec.delay.latency',
      /expected a duration such as 100ms.*"fast"/,
    ],
    [
      'a percentage over 100',
      doc('  action: loss\n  mode: one\n  selector: {labelSelectors: {app: a}}\n  loss: {loss: "150"}\n'),
      'spec.loss.loss',
      /expected a percentage from 0.01 to 100, got "150"/,
    ],
    [
      'a mode value over 100',
      doc(
        '  action: partition\n  mode: fixed-percent\n  value: "150"\n  selector: {labelSelectors: {app: a}}\n',
      ),
      'spec.value',
      /from 1 to 100/,
    ],
    [
      'an unknown field',
      doc('  action: partition\n  mode: one\n  selector: {labelSelectors: {app: a}}\n  blastRadius: 3\n'),
      'spec.blastRadius',
      /unknown field/,
    ],
    [
      'a wrong type',
      doc('  action: partition\n  mode: one\n  selector: [app]\n'),
      'spec.selector',
      /expected an object, got a list/,
    ],
    [
      'an unknown mode',
      doc('  action: partition\n  mode: some\n  selector: {labelSelectors: {app: a}}\n'),
      'spec.mode',
      /expected one of one, all, fixed, fixed-percent, random-max-percent/,
    ],
    [
      'an annotation selector',
      doc('  action: partition\n  mode: one\n  selector: {annotationSelectors: {a: b}}\n'),
      'spec.selector.annotationSelectors',
      /labels, not annotations/,
    ],
    [
      'a cron that does not parse',
      doc(
        '  schedule: "every day"\n  type: PodChaos\n  concurrencyPolicy: Forbid\n  podChaos: {action: pod-kill, mode: one, selector: {labelSelectors: {app: a}}}\n',
        'Schedule',
      ),
      'spec.schedule',
      /expected a cron/,
    ],
    [
      'a reorder',
      doc(
        '  action: delay\n  mode: one\n  selector: {labelSelectors: {app: a}}\n  delay: {latency: 10ms, reorder: {reorder: "5", gap: 1}}\n',
      ),
      'spec.delay.reorder',
      /does not reorder/,
    ],
  ];
  for (const [what, text, path, why] of cases) {
    const s = fromText(text);
    const n = s.refused.find((r) => r.path === path);
    assert.ok(n, `${what}: ${path} refused (got ${JSON.stringify(s.refused)})`);
    assert.match(n!.why ?? '', why, what);
  }
});

test('metadata labels and annotations are warned (Kubernetes plumbing), never refused', () => {
  const s = fromText(
    doc('  action: partition\n  mode: one\n  selector: {labelSelectors: {app: a}}\n').replace(
      '  name: bad\n',
      '  name: bad\n  labels: {team: x}\n  annotations: {a: b}\n',
    ),
  );
  assert.deepEqual(s.refused, []);
  assert.deepEqual(
    s.notes.filter((n) => n.fate === 'warned').map((n) => n.path),
    ['metadata.labels', 'metadata.annotations'],
  );
});

test('selectors: pods as ns/name, nodes as agents, nodeSelectors as agentSelector, expressions kept', async () => {
  const s = fromText(
    doc(
      '  action: partition\n  mode: fixed\n  value: "2"\n  selector:\n    pods: {shop: [cart, web]}\n    nodes: [host-a]\n    nodeSelectors: {zone: a}\n    expressionSelectors: [{key: tier, operator: In, values: [web]}]\n',
    ),
  );
  assert.deepEqual(s.refused, []);
  assert.deepEqual(method(s)[0]!.targets, {
    on: 'workloads',
    names: ['shop/cart', 'shop/web'],
    agentNames: ['host-a'],
    agentSelector: { matchLabels: { zone: 'a' } },
    selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] },
    mode: 'fixed',
    value: 2,
  });
  await runnable(s);
});

test('a loss toward a target takes the direction itself (to = egress, from = ingress, both); netem refuses from', () => {
  const base =
    '  mode: all\n  selector: {namespaces: [a], labelSelectors: {app: src}}\n  target: {mode: all, selector: {namespaces: [b], labelSelectors: {app: dst}}}\n';
  for (const [dir, want] of [
    ['to', 'egress'],
    ['from', 'ingress'],
    ['both', 'both'],
  ] as const) {
    const s = fromText(doc(`  action: loss\n  loss: {loss: "10"}\n${base}  direction: ${dir}\n`));
    assert.deepEqual(s.refused, []);
    assert.equal(method(s)[0]!.provider.arguments?.direction, want);
    assert.deepEqual((method(s)[0]!.targets as { peers: { namespaces: string[] } }).peers.namespaces, ['b']);
  }
  const delay = fromText(
    doc(
      '  action: delay\n  mode: all\n  selector: {labelSelectors: {app: a}}\n  delay: {latency: 5ms}\n  direction: from\n',
    ),
  );
  assert.ok(refusedPaths(delay).includes('spec.direction'));
});

test('HTTPChaos -> faultline.http fault: delay -> latency, replace.code -> http_error with path, method and a header matched; abort -> reset of every request', () => {
  const set = (head: string, actions: string) =>
    fromText(
      doc(
        `  mode: all\n  selector: {labelSelectors: {app: a}}\n  target: Response\n  port: 80\n${head}${actions}  duration: 30s\n`,
        'HTTPChaos',
      ),
    );
  const matched = '  path: /api/*\n  method: GET\n';
  const http = (actions: string, head = matched) => method(set(head, actions))[0]!;
  assert.equal(http('  delay: 2s\n').provider.arguments?.latency_ms, 2000);
  const err = http('  replace: {code: 503}\n');
  assert.equal(err.provider.module, 'faultline.http');
  assert.equal(err.provider.func, 'fault');
  assert.deepEqual(err.provider.arguments, {
    type: 'http_error',
    status: 503,
    match: { path: '/api/*', method: 'GET' },
    duration: 30,
  });
  const header = http('  delay: 1s\n', '  request_headers: {X-User: a.b}\n');
  assert.deepEqual(header.provider.arguments?.match, { header: { name: 'x-user', value: '^a\\.b$' } });
  assert.ok(
    refusedPaths(set('  request_headers: {a: x, b: y}\n', '  delay: 1s\n')).includes('spec.request_headers'),
  );
  // The proxy resets whole connections: an abort takes every request, or is refused when a match narrows it.
  assert.deepEqual(http('  abort: true\n', '  path: "*"\n').provider.arguments, {
    type: 'reset',
    duration: 30,
  });
  const narrowed = set(matched, '  abort: true\n');
  assert.ok(refusedPaths(narrowed).includes('spec.abort'));
  assert.equal(method(narrowed).length, 0);
});
