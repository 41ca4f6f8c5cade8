/**
 * Exempt peers (the fleet agent's NATS and DNS): the process-level list and
 * its validation, fault arguments that cannot reach it, and the exact
 * nft / iptables / tc argument arrays built with exemptions.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import type { UndoRecord } from '../../src/core/fault.js';
import {
  iptAddCommands,
  iptExemptRules,
  iptRuleCount,
  nftAddArgs,
  nftExemptRules,
  nftRuleCount,
  qdiscHandle,
  tcChildHandle,
  tcExemptFilters,
  tcFilterCount,
  tcTreeArgs,
} from '../../src/faults/network/commands.js';
import {
  type Exemption,
  networkExemptions,
  readExemptions,
  setNetworkExemptions,
} from '../../src/faults/network/exempt.js';
import { networkKinds } from '../../src/faults/network/index.js';
import { readQdiscRecord } from '../../src/faults/network/qdisc.js';
import { readRulesRecord } from '../../src/faults/network/rules.js';

afterEach(() => setNetworkExemptions([]));

const NATS: Exemption = { address: '10.1.2.3', port: 4222, protocol: 'tcp' };
const DNS6: Exemption = { address: 'fd00::53', port: 53 };

test('setNetworkExemptions: validated, deduplicated, frozen; [] clears', () => {
  assert.deepEqual(networkExemptions(), []);
  setNetworkExemptions([NATS, DNS6, { ...NATS }, { address: '10.9.9.9' }]);
  assert.deepEqual(networkExemptions(), [NATS, DNS6, { address: '10.9.9.9' }]);
  assert.ok(Object.isFrozen(networkExemptions()));
  assert.throws(() => (networkExemptions() as Exemption[]).push(NATS));
  setNetworkExemptions([]);
  assert.deepEqual(networkExemptions(), []);
});

test('setNetworkExemptions: a bad entry names its index and field, and the previous list stays', () => {
  setNetworkExemptions([NATS]);
  const cases: [unknown, string, RegExp][] = [
    [{ address: '10.0.0.0/24' }, 'exemptions[0].address', /address literal/],
    [{ address: 'nats.example' }, 'exemptions[0].address', /address literal/],
    [{ address: 'fe80::1%eth0' }, 'exemptions[0].address', /no zone/],
    [{ address: '10.0.0.1', port: 0 }, 'exemptions[0].port', /1 to 65535/],
    [{ address: '10.0.0.1', port: 70000 }, 'exemptions[0].port', /1 to 65535/],
    [{ address: '10.0.0.1', port: 42.5 }, 'exemptions[0].port', /1 to 65535/],
    [{ address: '10.0.0.1', port: '4222' }, 'exemptions[0].port', /1 to 65535/],
    [{ address: '10.0.0.1', protocol: 'icmp' }, 'exemptions[0].protocol', /'tcp' or 'udp'/],
    [{ address: '10.0.0.1', command: 'rm -rf /' }, 'exemptions[0]', /command/],
  ];
  for (const [entry, path, message] of cases) {
    assert.throws(
      () => setNetworkExemptions([NATS, entry] as Exemption[]),
      (err: unknown) => {
        assert.ok(err instanceof FaultlineError);
        assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
        const want = path.replace('[0]', '[1]');
        assert.ok(
          err.issues.some((i) => i.path === want && message.test(`${i.message} ${err.message}`)),
          `${JSON.stringify(entry)}: ${err.message}`,
        );
        assert.ok(!/\n\s+at /.test(err.message), 'no stack trace in the message');
        return true;
      },
    );
  }
  assert.throws(() => setNetworkExemptions(Array(65).fill(NATS)), /at most 64/);
  assert.deepEqual(networkExemptions(), [NATS], 'a refused list changes nothing');
});

test('no fault argument can set or clear the exemptions: every network kind refuses unknown keys', () => {
  setNetworkExemptions([NATS]);
  for (const kind of networkKinds) {
    for (const key of ['exempt', 'exemptions', 'exempt_peers']) {
      const base =
        kind.kind === 'network-latency'
          ? { interface: 'eth0', delay: 10 }
          : kind.kind === 'network-bandwidth'
            ? { rate: '1mbit' }
            : kind.kind === 'network-dns' || kind.kind === 'network-partition'
              ? {}
              : { interface: 'eth0', percent: 10 };
      assert.ok(kind.args.safeParse(base).success, `${kind.kind}: the base arguments are valid`);
      const r = kind.args.safeParse({ ...base, [key]: [] });
      assert.equal(r.success, false, `${kind.kind} refuses ${key}`);
    }
  }
  assert.deepEqual(networkExemptions(), [NATS]);
});

test('nft: accept rules from and to each peer, IPv4/IPv6, with and without port or protocol', () => {
  assert.deepEqual(nftExemptRules(NATS), [
    ['ip', 'saddr', '10.1.2.3', 'meta', 'l4proto', 'tcp', 'th', 'sport', '4222', 'accept'],
    ['ip', 'daddr', '10.1.2.3', 'meta', 'l4proto', 'tcp', 'th', 'dport', '4222', 'accept'],
  ]);
  assert.deepEqual(nftExemptRules(DNS6), [
    ['ip6', 'saddr', 'fd00::53', 'meta', 'l4proto', '{', 'tcp,', 'udp', '}', 'th', 'sport', '53', 'accept'],
    ['ip6', 'daddr', 'fd00::53', 'meta', 'l4proto', '{', 'tcp,', 'udp', '}', 'th', 'dport', '53', 'accept'],
  ]);
  assert.deepEqual(nftExemptRules({ address: '10.9.9.9' }), [
    ['ip', 'saddr', '10.9.9.9', 'accept'],
    ['ip', 'daddr', '10.9.9.9', 'accept'],
  ]);
  assert.deepEqual(nftExemptRules({ address: '::1', protocol: 'udp' }), [
    ['ip6', 'saddr', '::1', 'meta', 'l4proto', 'udp', 'accept'],
    ['ip6', 'daddr', '::1', 'meta', 'l4proto', 'udp', 'accept'],
  ]);
});

test('nft: the exemptions come first in every chain, and are counted for verify-after-inject', () => {
  const set = {
    tag: '1a2b3c4d',
    directions: ['ingress' as const, 'egress' as const],
    interface: 'veth0',
    rules: [{ match: {}, verdict: { type: 'drop' as const } }],
  };
  const plain = nftAddArgs(set);
  const exempt = nftAddArgs({ ...set, exempt: [NATS] });
  const T = 'faultline_1a2b3c4d';
  // Each rule starts `; add rule`: the fault's first rule starts two places before `rule`.
  const start = plain.indexOf('rule') - 2;
  // Chains unchanged, then the exempt rules per chain (fl_in, fl_out, fl_fwd), then the fault's rules unchanged.
  assert.deepEqual(exempt.slice(0, start), plain.slice(0, start));
  const added: string[] = [];
  for (const chain of ['fl_in', 'fl_out', 'fl_fwd']) {
    for (const r of nftExemptRules(NATS)) added.push(';', 'add', 'rule', 'inet', T, chain, ...r);
  }
  assert.deepEqual(exempt.slice(start, start + added.length), added);
  assert.deepEqual(exempt.slice(start + added.length), plain.slice(start));
  assert.equal(nftRuleCount({ ...set, exempt: [NATS] }), nftRuleCount(set) + 6);
  // Egress only: one chain, two accept rules per peer.
  const egress = { ...set, directions: ['egress' as const], interface: undefined };
  assert.equal(nftRuleCount({ ...egress, exempt: [NATS, DNS6] }), nftRuleCount(egress) + 4);
  assert.deepEqual(nftAddArgs({ ...set, exempt: [] }), plain);
});

test('iptables: RETURN rules of the family first in the chain, tcp and udp for a port without protocol', () => {
  assert.deepEqual(iptExemptRules(NATS, 4), [
    ['-s', '10.1.2.3', '-p', 'tcp', '--sport', '4222', '-j', 'RETURN'],
    ['-d', '10.1.2.3', '-p', 'tcp', '--dport', '4222', '-j', 'RETURN'],
  ]);
  assert.deepEqual(iptExemptRules(NATS, 6), []);
  assert.deepEqual(iptExemptRules(DNS6, 6), [
    ['-s', 'fd00::53', '-p', 'tcp', '--sport', '53', '-j', 'RETURN'],
    ['-s', 'fd00::53', '-p', 'udp', '--sport', '53', '-j', 'RETURN'],
    ['-d', 'fd00::53', '-p', 'tcp', '--dport', '53', '-j', 'RETURN'],
    ['-d', 'fd00::53', '-p', 'udp', '--dport', '53', '-j', 'RETURN'],
  ]);
  assert.deepEqual(iptExemptRules({ address: '10.9.9.9' }, 4), [
    ['-s', '10.9.9.9', '-j', 'RETURN'],
    ['-d', '10.9.9.9', '-j', 'RETURN'],
  ]);
  const set = {
    tag: '1a2b3c4d',
    directions: ['egress' as const],
    rules: [{ match: {}, verdict: { type: 'drop' as const } }],
    exempt: [NATS, DNS6],
  };
  const cmds = iptAddCommands(set, 4);
  assert.deepEqual(cmds.slice(0, 4), [
    ['iptables', '-w', '-N', 'FAULTLINE-1a2b3c4d'],
    [
      'iptables',
      '-w',
      '-A',
      'FAULTLINE-1a2b3c4d',
      '-s',
      '10.1.2.3',
      '-p',
      'tcp',
      '--sport',
      '4222',
      '-j',
      'RETURN',
    ],
    [
      'iptables',
      '-w',
      '-A',
      'FAULTLINE-1a2b3c4d',
      '-d',
      '10.1.2.3',
      '-p',
      'tcp',
      '--dport',
      '4222',
      '-j',
      'RETURN',
    ],
    ['iptables', '-w', '-A', 'FAULTLINE-1a2b3c4d', '-j', 'DROP'],
  ]);
  assert.equal(iptRuleCount(set, 4), 3);
  assert.equal(iptRuleCount(set, 6), 5);
});

test('tc: prio and htb trees, the netem/tbf under the shaped band, u32 filters per peer', () => {
  const tag = '1a2b3c4d';
  const h = qdiscHandle(tag);
  const c = tcChildHandle(tag);
  assert.notEqual(h, c);
  assert.match(c, /^[0-9a-f]{1,4}$/);
  const tree = {
    dev: 'veth0',
    handle: h,
    child: c,
    root: 'prio' as const,
    qdisc: 'netem' as const,
    params: ['delay', '300ms'],
    exempt: [NATS],
  };
  const filter = (dir: 'dst' | 'src', port: 'dport' | 'sport') => [
    ...['tc', 'filter', 'add', 'dev', 'veth0', 'parent', `${h}:`, 'protocol', 'ip', 'prio', '1', 'u32'],
    ...['match', 'ip', dir, '10.1.2.3/32', 'match', 'ip', port, '4222', '0xffff'],
    ...['match', 'ip', 'protocol', '6', '0xff', 'flowid', `${h}:1`],
  ];
  assert.deepEqual(tcTreeArgs(tree), [
    ['tc', 'qdisc', 'add', 'dev', 'veth0', 'root', 'handle', `${h}:`, 'prio', 'bands', '2', 'priomap'].concat(
      Array(16).fill('1'),
    ),
    ['tc', 'qdisc', 'add', 'dev', 'veth0', 'parent', `${h}:2`, 'handle', `${c}:`, 'netem', 'delay', '300ms'],
    filter('dst', 'dport'),
    filter('src', 'sport'),
  ]);
  const open = ['htb', 'rate', '100gbit', 'burst', '65536', 'quantum', '65536'];
  assert.deepEqual(tcTreeArgs({ ...tree, root: 'htb', qdisc: 'tbf', params: ['rate', '1000000bit'] }), [
    ['tc', 'qdisc', 'add', 'dev', 'veth0', 'root', 'handle', `${h}:`, 'htb', 'default', '2'],
    ['tc', 'class', 'add', 'dev', 'veth0', 'parent', `${h}:`, 'classid', `${h}:1`, ...open],
    ['tc', 'class', 'add', 'dev', 'veth0', 'parent', `${h}:`, 'classid', `${h}:2`, ...open],
    [
      'tc',
      'qdisc',
      'add',
      'dev',
      'veth0',
      'parent',
      `${h}:2`,
      'handle',
      `${c}:`,
      'tbf',
      'rate',
      '1000000bit',
    ],
    filter('dst', 'dport'),
    filter('src', 'sport'),
  ]);
  // IPv6, a port for tcp and udp (no protocol match), and an address alone.
  const head6 = [
    'tc',
    'filter',
    'add',
    'dev',
    'veth0',
    'parent',
    `${h}:`,
    'protocol',
    'ipv6',
    'prio',
    '2',
    'u32',
  ];
  assert.deepEqual(tcExemptFilters('veth0', h, DNS6), [
    [
      ...head6,
      'match',
      'ip6',
      'dst',
      'fd00::53/128',
      'match',
      'ip6',
      'dport',
      '53',
      '0xffff',
      'flowid',
      `${h}:1`,
    ],
    [
      ...head6,
      'match',
      'ip6',
      'src',
      'fd00::53/128',
      'match',
      'ip6',
      'sport',
      '53',
      '0xffff',
      'flowid',
      `${h}:1`,
    ],
  ]);
  const head4 = [
    'tc',
    'filter',
    'add',
    'dev',
    'veth0',
    'parent',
    `${h}:`,
    'protocol',
    'ip',
    'prio',
    '1',
    'u32',
  ];
  assert.deepEqual(tcExemptFilters('veth0', h, { address: '10.9.9.9' }), [
    [...head4, 'match', 'ip', 'dst', '10.9.9.9/32', 'flowid', `${h}:1`],
    [...head4, 'match', 'ip', 'src', '10.9.9.9/32', 'flowid', `${h}:1`],
  ]);
  assert.deepEqual(tcExemptFilters('veth0', h, { address: '10.9.9.9', protocol: 'udp' })[0], [
    ...head4,
    ...['match', 'ip', 'dst', '10.9.9.9/32', 'match', 'ip', 'protocol', '17', '0xff', 'flowid', `${h}:1`],
  ]);
  assert.equal(tcFilterCount({ dev: 'veth0', handle: h, exempt: [NATS, DNS6, { address: '10.9.9.9' }] }), 6);
});

test('undo records: exemptions are read back validated; a record without them is unchanged', () => {
  const rules = { backend: 'nftables', tag: '1a2b3c4d', directions: ['egress'] };
  assert.deepEqual(readRulesRecord({ ...rules }), rules);
  assert.deepEqual(readRulesRecord({ ...rules, exempt: [NATS] }).exempt, [NATS]);
  assert.throws(
    () => readRulesRecord({ ...rules, exempt: [{ address: '1.2.3.4; flush ruleset' }] }),
    /exempt/,
  );
  assert.throws(() => readRulesRecord({ ...rules, exempt: 'x' }), /exempt/);
  const q = { tag: '1a2b3c4d', interface: 'veth0', handle: qdiscHandle('1a2b3c4d'), qdisc: 'netem' };
  assert.deepEqual(readQdiscRecord({ ...q }), q);
  const tree = { ...q, root: 'prio', child: tcChildHandle('1a2b3c4d'), exempt: [NATS] };
  assert.deepEqual(readQdiscRecord(tree), tree);
  assert.throws(() => readQdiscRecord({ ...tree, root: 'cbq' }), /root/);
  assert.throws(() => readQdiscRecord({ ...tree, child: q.handle }), /child/);
  assert.throws(() => readQdiscRecord({ ...tree, child: undefined } as unknown as UndoRecord), /exempt tree/);
  assert.throws(() => readQdiscRecord({ ...tree, exempt: [] }), /exempt/);
  assert.throws(() => readQdiscRecord({ ...tree, exempt: [{ address: 'x' }] }), /exempt/);
  assert.deepEqual(readExemptions([{ ...NATS }, NATS]), [NATS]);
});

test('nft: loss 100% is a plain drop (nft refuses numgen < 10000), so a 100% loss fault injects', () => {
  const args = nftAddArgs({
    tag: '1a2b3c4d',
    directions: ['egress'],
    rules: [{ match: {}, verdict: { type: 'loss', percent: 100 } }],
  });
  assert.deepEqual(args.slice(-7), [';', 'add', 'rule', 'inet', 'faultline_1a2b3c4d', 'fl_out', 'drop']);
  assert.ok(!args.includes('numgen'));
});
