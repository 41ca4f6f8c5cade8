/**
 * Workloads on the fleet, the pure parts: the workloads file (every bad field
 * named with its line and column), what each fault family takes from a
 * workload (applyWorkload), peers split by direction, and selecting workloads
 * across agents by namespaces, labels, names and agent filters, with the
 * "matches nothing" description.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import { summarize, type Workload, WorkloadSchema } from '../../src/core/workload.js';
import {
  describeSeenWorkloads,
  describeWorkloadFilter,
  type HostingAgent,
  matchWorkloads,
  pickTargets,
} from '../../src/fleet/select.js';
import {
  applyWorkload,
  linkListArgs,
  parseLinks,
  parseWorkloads,
  splitDirections,
} from '../../src/fleet/workloads.js';

const wl = (w: Record<string, unknown>): Workload => WorkloadSchema.parse(w);

const api = wl({
  name: 'api',
  namespace: 'payment',
  labels: { app: 'api', tier: 'backend' },
  processes: { pidfile: '/run/api.pid' },
  netns: 'pay-api',
  addresses: ['10.0.0.2'],
  sdk: { service: 'api', control_url: 'http://127.0.0.1:8474' },
  containers: { envoy: { name: 'envoy' } },
});
const front = wl({
  name: 'front',
  namespace: 'web',
  labels: { app: 'front' },
  addresses: ['10.0.0.3'],
  proxy: { api_url: 'http://127.0.0.1:8474', name: 'front' },
});

const noIface = async (): Promise<string> => {
  throw new Error('no interface lookup expected');
};

describe('the workloads file', () => {
  test('a valid YAML file, with defaults', () => {
    const f = parseWorkloads(
      'workloads:\n  - name: api\n    labels: {app: api}\n    processes: {name: node}\n',
      'w.yaml',
    );
    assert.equal(f.workloads[0]?.namespace, 'default');
    assert.deepEqual(f.workloads[0]?.addresses, []);
  });

  test('bad fields are named with their path, line and column', () => {
    const text = [
      'workloads:',
      '  - name: Bad_Name',
      '    processes: {pidfile: /a, name: b}',
      '    labels: {app: "has space"}',
      '    ports: [70000]',
    ].join('\n');
    assert.throws(
      () => parseWorkloads(text, 'bad.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof FaultlineError);
        assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
        assert.equal(err.exitCode, 2);
        assert.match(err.message, /bad\.yaml:2:\d+: workloads\[0\]\.name: expected a workload name/);
        assert.match(err.message, /workloads\[0\]\.processes: expected exactly one of pidfile/);
        assert.match(err.message, /workloads\[0\]\.labels\.app: expected a label value/);
        assert.match(err.message, /bad\.yaml:5:\d+: workloads\[0\]\.ports\[0\]/);
        return true;
      },
    );
  });

  test('unknown keys, twice the same workload, a cgroup path with ..', () => {
    assert.throws(() => parseWorkloads('workloads:\n  - name: a\n    nets: x\n', 'w.yaml'), /nets/);
    assert.throws(
      () => parseWorkloads('{"workloads":[{"name":"a"},{"name":"a"}]}', 'w.json'),
      /workloads\[1\]\.name: default\/a twice/,
    );
    assert.throws(
      () => parseWorkloads('workloads:\n  - name: a\n    processes: {cgroup: a/../b}\n', 'w.yaml'),
      /without \.\./,
    );
  });
});

describe('parseLinks', () => {
  test('non-loopback interfaces, the @peer suffix dropped', () => {
    const text = [
      '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT',
      '7: eth0@if8: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP',
      '9: veth-x: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN',
    ].join('\n');
    assert.deepEqual(parseLinks(text), ['eth0', 'veth-x']);
    assert.deepEqual(linkListArgs('ns1'), ['ip', '-n', 'ns1', '-o', 'link', 'show']);
    assert.deepEqual(linkListArgs(undefined), ['ip', '-o', 'link', 'show']);
  });
});

describe('applyWorkload', () => {
  test('process kinds get the finder and mode all', async () => {
    const r = await applyWorkload('process-kill', { signal: 'SIGKILL' }, api);
    assert.deepEqual(r, {
      kind: 'process-kill',
      args: { signal: 'SIGKILL', pidfile: '/run/api.pid', mode: 'all' },
    });
    const chosen = await applyWorkload('process-pause', { mode: 'oldest', count: 1 }, api);
    assert.equal(chosen.args.mode, 'oldest');
    const random = await applyWorkload('process-kill-random', {}, api);
    assert.equal(random.args.mode, undefined);
  });

  test('a named container uses its own finder; an unknown one is refused listing the known', async () => {
    const r = await applyWorkload('process-kill', { containers: ['envoy'] }, api);
    assert.deepEqual(r.args, { name: 'envoy', mode: 'all' });
    await assert.rejects(
      applyWorkload('process-kill', { containers: ['nope'] }, api),
      /its containers: envoy/,
    );
  });

  test("a cgroup finder becomes the process faults' cgroup selector (every process it lists)", async () => {
    const w = wl({ name: 'cg', processes: { cgroup: 'system.slice/x.service' } });
    const { args } = await applyWorkload('process-kill', {}, w);
    assert.equal(args.cgroup, 'system.slice/x.service');
    assert.equal(args.mode, 'all');
  });

  test('a workload without processes refuses process faults, naming it', async () => {
    await assert.rejects(applyWorkload('process-pause', {}, front), (err: unknown) => {
      assert.ok(err instanceof FaultlineError);
      assert.equal(err.code, 'FAULTLINE_ERR_POLICY');
      assert.match(err.message, /workload web\/front: has no processes/);
      return true;
    });
    await assert.rejects(applyWorkload('process-kill', { pid: 7 }, api), /arguments\.pid: the workload/);
  });

  test('network kinds get the netns; netem kinds the interface too', async () => {
    const loss = await applyWorkload('network-loss', { percent: 10 }, api, { findInterface: noIface });
    assert.deepEqual(loss.args, { percent: 10, namespace: 'pay-api' });
    const lat = await applyWorkload('network-latency', { delay: 500 }, api, {
      findInterface: async () => 'eth0',
    });
    assert.deepEqual(lat.args, { delay: 500, namespace: 'pay-api', interface: 'eth0' });
    const hostNs = await applyWorkload('network-partition', {}, front);
    assert.deepEqual(hostNs.args, {});
    await assert.rejects(applyWorkload('network-loss', { percent: 1, namespace: 'other' }, api), /namespace/);
  });

  test('a peer scopes firewall faults by direction; netem kinds refuse a peer', async () => {
    const out = await applyWorkload('network-partition', { direction: 'egress' }, api, { peer: '10.0.0.3' });
    assert.deepEqual(out.args, { direction: 'egress', destination: '10.0.0.3', namespace: 'pay-api' });
    const inn = await applyWorkload('network-loss', { direction: 'ingress', percent: 5 }, api, {
      peer: '10.0.0.3',
    });
    assert.equal(inn.args.source, '10.0.0.3');
    await assert.rejects(
      applyWorkload('network-partition', {}, api, { peer: '10.0.0.3' }),
      /once per direction/,
    );
    await assert.rejects(
      applyWorkload('network-latency', { delay: 1 }, api, { peer: '10.0.0.3', findInterface: noIface }),
      /cannot be limited to one peer/,
    );
    assert.deepEqual(splitDirections('network-partition', {}), ['egress', 'ingress']);
    assert.deepEqual(splitDirections('network-loss', { direction: 'ingress' }), ['ingress']);
    assert.deepEqual(splitDirections('process-kill', {}), [undefined]);
  });

  test('sdk faults: the workload sdk, else its proxy toxics, else a refusal', async () => {
    const sdk = await applyWorkload('sdk-enable-fault', { type: 'latency', latency_ms: 100 }, api);
    assert.deepEqual(sdk.args, {
      type: 'latency',
      latency_ms: 100,
      service: 'api',
      api_url: 'http://127.0.0.1:8474',
    });
    const delay = await applyWorkload(
      'sdk-enable-fault',
      { type: 'latency', latency_ms: 5000, percentage: 10 },
      front,
    );
    assert.deepEqual(delay, {
      kind: 'proxy-toxic',
      args: {
        api_url: 'http://127.0.0.1:8474',
        proxy: 'front',
        toxic: { type: 'http_delay', attributes: { delay: 5000, jitter: 0, percentage: 10 } },
      },
    });
    const abort = await applyWorkload(
      'sdk-enable-fault',
      { type: 'http_error', status: 503, percentage: 5 },
      front,
    );
    assert.deepEqual(abort.args.toxic, { type: 'http_abort', attributes: { status: 503, percentage: 5 } });
    await assert.rejects(
      applyWorkload('sdk-enable-fault', { type: 'exception' }, front),
      /latency and http_error/,
    );
    const bare = wl({ name: 'bare' });
    await assert.rejects(
      applyWorkload('sdk-enable-fault', { type: 'latency' }, bare),
      /neither an sdk nor a proxy/,
    );
  });

  test('kinds a workload does not take are refused', async () => {
    await assert.rejects(applyWorkload('marker-file', {}, api), /not a fault a workload takes/);
  });
});

describe('selecting workloads', () => {
  const agents: HostingAgent[] = [
    { name: 'a1', labels: { zone: 'a' }, workloads: [summarize(api), summarize(front)] },
    {
      name: 'a2',
      labels: { zone: 'b' },
      workloads: [
        summarize(wl({ name: 'api', namespace: 'payment', labels: { app: 'api', tier: 'backend' } })),
      ],
    },
    { name: 'a3', labels: { zone: 'b' } },
  ];
  const names = (hs: ReturnType<typeof matchWorkloads>) =>
    hs.map((h) => `${h.agent.name}:${h.workload.namespace}/${h.workload.name}`);

  test('namespaces and labels pick across agents', () => {
    assert.deepEqual(
      names(matchWorkloads(agents, { namespaces: ['payment'], selector: { matchLabels: { app: 'api' } } })),
      ['a1:payment/api', 'a2:payment/api'],
    );
    assert.deepEqual(names(matchWorkloads(agents, { selector: {} })), [
      'a1:payment/api',
      'a1:web/front',
      'a2:payment/api',
    ]);
    assert.deepEqual(names(matchWorkloads(agents, { names: ['web/front'] })), ['a1:web/front']);
    assert.deepEqual(names(matchWorkloads(agents, { names: ['api'], agentNames: ['a2'] })), [
      'a2:payment/api',
    ]);
    assert.deepEqual(
      names(
        matchWorkloads(agents, {
          selector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] },
          agentSelector: { matchLabels: { zone: 'a' } },
        }),
      ),
      ['a1:payment/api'],
    );
  });

  test('modes pick among the matching workloads', () => {
    const all = matchWorkloads(agents, { selector: {} });
    assert.equal(pickTargets(all, { mode: 'all' }).length, 3);
    assert.equal(pickTargets(all, { mode: 'one' }).length, 1);
    assert.equal(pickTargets(all, { mode: 'fixed-percent', value: 67 }).length, 2);
  });

  test('a filter that matches nothing is described with what the fleet has', () => {
    const t = { namespaces: ['nope'], selector: { matchLabels: { app: 'x' } } };
    assert.equal(matchWorkloads(agents, t).length, 0);
    assert.equal(describeWorkloadFilter(t), "namespaces [nope], labels 'app=x'");
    const seen = describeSeenWorkloads(agents);
    assert.match(seen, /payment: api\{app=api,tier=backend\}/);
    assert.match(seen, /web: front\{app=front\}/);
    assert.match(describeSeenWorkloads([agents[2]!]), /no alive agent hosts any workload/);
  });
});
