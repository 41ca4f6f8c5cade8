/** The network faults' command builders (exact argument arrays) and argument validation. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  inNamespace,
  iptAddCommands,
  iptJumps,
  iptRemoveCommands,
  netemParams,
  nftAddArgs,
  nftDeleteArgs,
  nftDeleteManyArgs,
  nftRuleCount,
  parseRate,
  placements,
  qdiscHandle,
  ruleFamilies,
  tbfParams,
  tcAddRootArgs,
  tcDelRootArgs,
} from '../../src/faults/network/commands.js';
import {
  bandwidthKind,
  dnsKind,
  latencyKind,
  lossKind,
  partitionKind,
} from '../../src/faults/network/index.js';

test('nftables: one table per fault, chains per direction, the loss rule per chain', () => {
  const set = {
    tag: '1a2b3c4d',
    directions: ['ingress', 'egress'] as const,
    interface: 'veth0',
    rules: [{ match: {}, verdict: { type: 'loss' as const, percent: 25 } }],
  };
  const T = 'faultline_1a2b3c4d';
  const chain = (name: string, hook: string) =>
    [';', 'add', 'chain', 'inet', T, name, '{', 'type', 'filter', 'hook', hook].concat([
      'priority',
      '-10',
      ';',
      'policy',
      'accept',
      ';',
      '}',
    ]);
  const loss = ['numgen', 'random', 'mod', '10000', '<', '2500', 'drop'];
  assert.deepEqual(nftAddArgs({ ...set, directions: [...set.directions] }), [
    'nft',
    'add',
    'table',
    'inet',
    T,
    ...chain('fl_in', 'input'),
    ...chain('fl_out', 'output'),
    ...chain('fl_fwd', 'forward'),
    ';',
    'add',
    'rule',
    'inet',
    T,
    'fl_in',
    'iifname',
    '"veth0"',
    ...loss,
    ';',
    'add',
    'rule',
    'inet',
    T,
    'fl_fwd',
    'iifname',
    '"veth0"',
    ...loss,
    ';',
    'add',
    'rule',
    'inet',
    T,
    'fl_out',
    'oifname',
    '"veth0"',
    ...loss,
    ';',
    'add',
    'rule',
    'inet',
    T,
    'fl_fwd',
    'oifname',
    '"veth0"',
    // Forwarded in and out by veth0 (hairpin): judged on the way in only.
    'iifname',
    '!=',
    '"veth0"',
    ...loss,
  ]);
  assert.equal(nftRuleCount({ ...set, directions: [...set.directions] }), 4);
  assert.deepEqual(nftDeleteArgs('1a2b3c4d'), ['nft', 'delete', 'table', 'inet', T]);
  // A halt deletes many tables in one transaction: commands separated by ';' on one command line.
  assert.deepEqual(nftDeleteManyArgs(['1a2b3c4d', '0000ffff']), [
    'nft',
    'delete',
    'table',
    'inet',
    T,
    ';',
    'delete',
    'table',
    'inet',
    'faultline_0000ffff',
  ]);
});

test('each packet is judged once per direction, and once in all when it both leaves and arrives', () => {
  const at = (directions: ('ingress' | 'egress')[], iface?: string) =>
    placements({ directions, interface: iface }).map((p) =>
      `${p.hook} ${p.dev.map((d) => `${d.side}${d.negate ? '!=' : '='}${d.name}`).join(' ')}`.trim(),
    );
  // One direction: one hook per path a packet can take (sent or forwarded, delivered or forwarded).
  assert.deepEqual(at(['egress']), ['output']);
  assert.deepEqual(at(['ingress']), ['input']);
  assert.deepEqual(at(['egress'], 'veth0'), ['output out=veth0', 'forward out=veth0']);
  assert.deepEqual(at(['ingress'], 'veth0'), ['input in=veth0', 'forward in=veth0']);
  // Both: what the scope sends itself (over lo) was judged as it left, so input skips lo...
  assert.deepEqual(at(['ingress', 'egress']), ['input in!=lo', 'output']);
  // ...and with interface lo, input adds nothing: every packet arriving on lo left on lo.
  assert.deepEqual(at(['ingress', 'egress'], 'lo'), [
    'forward in=lo',
    'output out=lo',
    'forward out=lo in!=lo',
  ]);
  assert.deepEqual(at(['ingress', 'egress'], 'veth0'), [
    'input in=veth0',
    'forward in=veth0',
    'output out=veth0',
    'forward out=veth0 in!=veth0',
  ]);

  const loss = { match: {}, verdict: { type: 'loss' as const, percent: 50 } };
  const argv = nftAddArgs({ tag: '0000abcd', directions: ['ingress', 'egress'], rules: [loss] });
  const rules = argv
    .join(' ')
    .split(' ; ')
    .filter((c) => c.startsWith('add rule'));
  assert.deepEqual(rules, [
    'add rule inet faultline_0000abcd fl_in iifname != "lo" numgen random mod 10000 < 5000 drop',
    'add rule inet faultline_0000abcd fl_out numgen random mod 10000 < 5000 drop',
  ]);
  assert.equal(nftRuleCount({ tag: '0000abcd', directions: ['ingress', 'egress'], rules: [loss] }), 2);
  assert.equal(
    nftRuleCount({ tag: '0000abcd', directions: ['ingress', 'egress'], interface: 'lo', rules: [loss] }),
    3,
  );
  assert.ok(!argv.includes('fl_fwd'), 'no forward chain without an interface');
  // iptables says the same with its own syntax.
  const j = ['-m', 'comment', '--comment', 'faultline:0000abcd', '-j', 'FAULTLINE-0000abcd'];
  assert.deepEqual(iptJumps('0000abcd', ['ingress', 'egress'], undefined), [
    ['INPUT', '!', '-i', 'lo', ...j],
    ['OUTPUT', ...j],
  ]);
  // Revert also deletes the plain jumps an earlier version placed, so its faults still come off.
  assert.deepEqual(iptRemoveCommands('0000abcd', ['ingress', 'egress'], undefined, 4), [
    ['iptables', '-w', '-D', 'INPUT', '!', '-i', 'lo', ...j],
    ['iptables', '-w', '-D', 'OUTPUT', ...j],
    ['iptables', '-w', '-D', 'INPUT', ...j],
    ['iptables', '-w', '-F', 'FAULTLINE-0000abcd'],
    ['iptables', '-w', '-X', 'FAULTLINE-0000abcd'],
  ]);
  assert.deepEqual(iptJumps('0000abcd', ['ingress', 'egress'], 'eth1').at(-1), [
    'FORWARD',
    '-o',
    'eth1',
    '!',
    '-i',
    'eth1',
    ...j,
  ]);
});

test('nftables: scoped reject of all protocols is a TCP reset rule and an ICMP rule', () => {
  const argv = nftAddArgs({
    tag: '00000001',
    directions: ['egress'],
    rules: [
      { match: { destination: '10.0.0.0/24', source: '10.1.0.1', port: 53 }, verdict: { type: 'reject' } },
    ],
  });
  const T = 'faultline_00000001';
  const m = [
    'ip',
    'saddr',
    '10.1.0.1',
    'ip',
    'daddr',
    '10.0.0.0/24',
    'meta',
    'l4proto',
    '{',
    'tcp,',
    'udp',
    '}',
  ].concat(['th', 'dport', '53']);
  assert.deepEqual(argv.slice(argv.indexOf('rule') - 2), [
    ';',
    'add',
    'rule',
    'inet',
    T,
    'fl_out',
    ...m,
    'meta',
    'l4proto',
    'tcp',
    'reject',
    'with',
    'tcp',
    'reset',
    ';',
    'add',
    'rule',
    'inet',
    T,
    'fl_out',
    ...m,
    'reject',
    'with',
    'icmpx',
    'type',
    'port-unreachable',
  ]);
  const v6 = nftAddArgs({
    tag: '00000002',
    directions: ['ingress'],
    rules: [
      {
        match: { source: '2001:db8::/32', protocol: 'udp' },
        verdict: { type: 'police', bytesPerSecond: 125000, burstBytes: 24224 },
      },
    ],
  });
  assert.deepEqual(v6.slice(-15), [
    'ip6',
    'saddr',
    '2001:db8::/32',
    'meta',
    'l4proto',
    'udp',
    'limit',
    'rate',
    'over',
    '125000',
    'bytes/second',
    'burst',
    '24224',
    'bytes',
    'drop',
  ]);
});

test('iptables fallback: a FAULTLINE-<tag> chain, tagged jumps inserted first, removal of just those', () => {
  const set = {
    tag: 'deadbeef',
    directions: ['ingress' as const],
    interface: 'eth1',
    rules: [
      { match: { destination: '10.0.0.1', port: 80 }, verdict: { type: 'loss' as const, percent: 12.5 } },
    ],
  };
  assert.deepEqual(ruleFamilies(set), [4]);
  const j = ['-m', 'comment', '--comment', 'faultline:deadbeef', '-j', 'FAULTLINE-deadbeef'];
  const stat = ['-m', 'statistic', '--mode', 'random', '--probability', '0.1250', '-j', 'DROP'];
  assert.deepEqual(iptAddCommands(set, 4), [
    ['iptables', '-w', '-N', 'FAULTLINE-deadbeef'],
    ['iptables', '-w', '-A', 'FAULTLINE-deadbeef', '-d', '10.0.0.1', '-p', 'tcp', '--dport', '80', ...stat],
    ['iptables', '-w', '-A', 'FAULTLINE-deadbeef', '-d', '10.0.0.1', '-p', 'udp', '--dport', '80', ...stat],
    ['iptables', '-w', '-I', 'INPUT', '1', '-i', 'eth1', ...j],
    ['iptables', '-w', '-I', 'FORWARD', '1', '-i', 'eth1', ...j],
  ]);
  assert.deepEqual(iptRemoveCommands('deadbeef', ['ingress'], 'eth1', 4), [
    ['iptables', '-w', '-D', 'INPUT', '-i', 'eth1', ...j],
    ['iptables', '-w', '-D', 'FORWARD', '-i', 'eth1', ...j],
    ['iptables', '-w', '-F', 'FAULTLINE-deadbeef'],
    ['iptables', '-w', '-X', 'FAULTLINE-deadbeef'],
  ]);
  assert.deepEqual(ruleFamilies({ ...set, rules: [{ match: {}, verdict: { type: 'drop' } }] }), [4, 6]);
  // An IPv6 rule has no IPv4 rules: the IPv4 chain holds nothing of it.
  assert.deepEqual(
    iptAddCommands(
      {
        tag: 'deadbeef',
        directions: ['egress'],
        rules: [{ match: { destination: '::1' }, verdict: { type: 'drop' } }],
      },
      6,
    ),
    [
      ['ip6tables', '-w', '-N', 'FAULTLINE-deadbeef'],
      ['ip6tables', '-w', '-A', 'FAULTLINE-deadbeef', '-d', '::1', '-j', 'DROP'],
      ['ip6tables', '-w', '-I', 'OUTPUT', '1', ...j],
    ],
  );
});

test('tc: root qdisc add/delete by handle, tbf and netem parameters, namespaces', () => {
  assert.equal(qdiscHandle('00000000'), '1');
  assert.equal(qdiscHandle('fffe1234'), '1', 'never ffff');
  assert.equal(qdiscHandle('abcd0000'), 'abce');
  assert.deepEqual(tcAddRootArgs('veth0', 'abce', 'tbf', tbfParams(1_000_000)), [
    'tc',
    'qdisc',
    'add',
    'dev',
    'veth0',
    'root',
    'handle',
    'abce:',
    'tbf',
    'rate',
    '1000000bit',
    'burst',
    '6056',
    'latency',
    '100ms',
  ]);
  assert.deepEqual(tbfParams(100e6).slice(2, 4), ['burst', '250000']);
  assert.deepEqual(tcDelRootArgs('veth0', 'abce'), [
    'tc',
    'qdisc',
    'del',
    'dev',
    'veth0',
    'root',
    'handle',
    'abce:',
  ]);
  assert.deepEqual(netemParams({ delayMs: 100, jitterMs: 10 }), [
    'delay',
    '100ms',
    '10ms',
    'distribution',
    'normal',
  ]);
  assert.deepEqual(netemParams({ lossPercent: 5, duplicatePercent: 1, corruptPercent: 0.5 }), [
    'loss',
    '5%',
    'duplicate',
    '1%',
    'corrupt',
    '0.5%',
  ]);
  assert.deepEqual(inNamespace('chaos-a', ['nft', 'list', 'tables']), [
    'ip',
    'netns',
    'exec',
    'chaos-a',
    'nft',
    'list',
    'tables',
  ]);
  assert.deepEqual(inNamespace(undefined, ['tc']), ['tc']);
});

test('rates in tc syntax', () => {
  assert.equal(parseRate('1mbit'), 1_000_000);
  assert.equal(parseRate('500kbit'), 500_000);
  assert.equal(parseRate('2mbps'), 16_000_000);
  assert.equal(parseRate('1.5Mbit'), 1_500_000);
  assert.equal(parseRate('1kbit'), undefined, 'below 8kbit');
  assert.equal(parseRate('1 mbit'), undefined);
  assert.equal(parseRate('fast'), undefined);
});

function issues(
  kind: { args: { safeParse(a: unknown): { success: boolean; error?: unknown } } },
  args: unknown,
) {
  const r = kind.args.safeParse(args) as {
    success: boolean;
    error?: { issues: { path: PropertyKey[]; message: string }[] };
  };
  return r.success ? [] : r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('validation names the field and says what was expected', () => {
  assert.deepEqual(
    issues(lossKind, { percent: 25, namespace: 'chaos-a', interface: 'veth0', port: '8080' }),
    [],
  );
  assert.deepEqual(issues(lossKind, { percent: 0 }), ['percent: expected a percentage from 0.01 to 100']);
  assert.deepEqual(issues(lossKind, { percent: 10, namespace: '../etc' }), [
    'namespace: expected an `ip netns` name (letters, digits, _ . -; at most 63 characters)',
  ]);
  assert.deepEqual(issues(partitionKind, { interface: 'eth0; rm -rf /' }), [
    'interface: expected an interface name such as eth0 (at most 15 characters: letters, digits, _ . @ -)',
  ]);
  assert.deepEqual(issues(partitionKind, { destination: '10.0.0.300' }), [
    'destination: expected an IPv4/IPv6 address or CIDR such as 10.0.0.0/24',
  ]);
  assert.deepEqual(issues(partitionKind, { source: '10.0.0.0/33' }), [
    'source: expected an IPv4/IPv6 address or CIDR such as 10.0.0.0/24',
  ]);
  assert.deepEqual(issues(partitionKind, { port: 70000 }), ['port: expected a port number from 1 to 65535']);
  assert.deepEqual(issues(partitionKind, { action: 'block' }), ["action: expected 'drop' or 'reject'"]);
  assert.deepEqual(issues(partitionKind, { duration: 30 }), [': Unrecognized key: "duration"']);
  assert.deepEqual(issues(bandwidthKind, { rate: '1 megabit' }), [
    "rate: expected a rate such as '1mbit', '500kbit' or '2mbps' (bytes), from 8kbit to 100gbit",
  ]);
  assert.deepEqual(issues(latencyKind, { interface: 'eth0', delay: 'slow' }), [
    "delay: expected milliseconds: a number, or a string such as '100ms' or '0.5s'",
  ]);
  assert.deepEqual(issues(latencyKind, { delay: 100 }), [
    'interface: expected an interface name such as eth0',
  ]);
  assert.deepEqual(issues(dnsKind, { resolvers: '1.1.1.1,8.8.8.8' }), []);
  assert.deepEqual(issues(dnsKind, { resolvers: ['1.1.1.1', 'dns.google'] }), [
    'resolvers.1: expected an IPv4/IPv6 address or CIDR such as 10.0.0.0/24',
  ]);
});

test('targets for `faultline status` and the blast radius', async () => {
  const a = lossKind.args.parse({
    percent: 25,
    namespace: 'chaos-a',
    interface: 'veth0',
    direction: 'egress',
  });
  assert.equal(lossKind.target(a), 'loss 25% ns=chaos-a dev=veth0 egress');
  assert.deepEqual(await lossKind.resolveTargets!(a), {
    targets: [{ type: 'network', name: 'chaos-a:veth0', namespace: 'chaos-a' }],
  });
  const p = partitionKind.args.parse({
    destination: '10.0.0.7',
    port: 5432,
    protocol: 'tcp',
    action: 'reject',
  });
  assert.equal(partitionKind.target(p), 'partition (reject) both to 10.0.0.7:5432 tcp');
  assert.deepEqual(await partitionKind.resolveTargets!(p), {
    targets: [{ type: 'network', name: 'host:all', host: '10.0.0.7', port: 5432 }],
  });
  const b = bandwidthKind.args.parse({ interface: 'eth0', rate: '1mbit' });
  assert.equal(bandwidthKind.target(b), 'bandwidth 1mbit (shaped) dev=eth0 egress');
});
