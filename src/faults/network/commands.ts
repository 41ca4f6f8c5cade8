/**
 * Pure builders of the commands network faults run: every command is an
 * argument array (never a shell string), built here from validated values and
 * unit-tested as exact arrays. exec.ts runs them.
 *
 * What a fault produces, e.g. 25% loss on veth0 of namespace `a`, both ways:
 *   ip netns exec a nft add table inet faultline_1a2b3c4d ;
 *     add chain inet faultline_1a2b3c4d fl_in { type filter hook input priority -10 ; policy accept ; } ;
 *     add chain inet faultline_1a2b3c4d fl_out { type filter hook output priority -10 ; policy accept ; } ;
 *     add chain inet faultline_1a2b3c4d fl_fwd { type filter hook forward priority -10 ; policy accept ; } ;
 *     add rule inet faultline_1a2b3c4d fl_in iifname "veth0" numgen random mod 10000 < 2500 drop ;
 *     add rule inet faultline_1a2b3c4d fl_fwd iifname "veth0" numgen random mod 10000 < 2500 drop ;
 *     add rule inet faultline_1a2b3c4d fl_out oifname "veth0" numgen random mod 10000 < 2500 drop ;
 *     add rule inet faultline_1a2b3c4d fl_fwd oifname "veth0" iifname != "veth0" numgen ... drop
 * and its revert is `nft delete table inet faultline_1a2b3c4d`: one table per
 * fault, so nothing else is ever touched.
 *
 * Every packet is judged at most once per direction, and once in all when it
 * both leaves and arrives (placements()): a random verdict applied at two hooks
 * would compound (two 50% rules drop 75%).
 */
import { isIPv6 } from 'node:net';
import type { Exemption } from './exempt.js';
import { cidrFamily, type Family } from './scope.js';

export type Direction = 'ingress' | 'egress';
export type Protocol = 'tcp' | 'udp' | 'all';

export interface Match {
  source?: string | undefined;
  destination?: string | undefined;
  protocol?: Protocol | undefined;
  port?: number | undefined;
}

export type Verdict =
  | { type: 'drop' }
  | { type: 'reject' }
  | { type: 'loss'; percent: number }
  | { type: 'police'; bytesPerSecond: number; burstBytes: number };

export interface Rule {
  match: Match;
  verdict: Verdict;
}

/** The firewall rules of one fault: the same rules in each direction, scoped by interface. */
export interface RuleSet {
  tag: string;
  directions: Direction[];
  interface?: string | undefined;
  rules: Rule[];
  /** Peers whose traffic each chain accepts before the fault's rules (exempt.ts). */
  exempt?: readonly Exemption[] | undefined;
}

export const TAG_RE = /^[0-9a-f]{8}$/;

export const nftTable = (tag: string) => `faultline_${tag}`;
export const iptChain = (tag: string) => `FAULTLINE-${tag}`;
export const iptComment = (tag: string) => `faultline:${tag}`;
/** The qdisc handle (major number, hex) of a fault: from its tag, never 0 or ffff (reserved). */
export const qdiscHandle = (tag: string) =>
  ((Number.parseInt(tag.slice(0, 4), 16) % 0xfffe) + 1).toString(16);

/** Runs `argv` inside a network namespace (`ip netns exec`), or as is in the host's. */
export function inNamespace(namespace: string | undefined, argv: string[]): string[] {
  return namespace === undefined ? argv : ['ip', 'netns', 'exec', namespace, ...argv];
}

// ---- nftables -------------------------------------------------------------

/** An interface match placing a rule: `iifname "veth0"`, or `iifname != "lo"` when negated. */
export interface DevMatch {
  side: 'in' | 'out';
  name: string;
  negate?: boolean;
}

/** Where a rule set's rules go: one netfilter hook and the interface matches that scope them there. */
export interface Placement {
  hook: 'input' | 'output' | 'forward';
  dev: DevMatch[];
}

/**
 * The hooks a rule set judges packets at, so that each packet meets the rules
 * at most once per direction:
 *   - egress: output (packets the scope sends), and forward by `oifname` when an
 *     interface scopes it; a packet is sent or forwarded, never both;
 *   - ingress: input (packets delivered to the scope), and forward by `iifname`;
 *   - both: the same, except where one packet would cross both: what the scope
 *     sends itself arrives over lo after leaving through output, so input skips
 *     lo (and with interface lo, input adds nothing); a forwarded packet that
 *     enters and leaves by the interface is judged on the way in only.
 */
export function placements(set: Pick<RuleSet, 'directions' | 'interface'>): Placement[] {
  const iface = set.interface;
  const both = set.directions.includes('ingress') && set.directions.includes('egress');
  const out: Placement[] = [];
  for (const dir of set.directions) {
    if (dir === 'ingress') {
      if (!both) out.push({ hook: 'input', dev: iface === undefined ? [] : [{ side: 'in', name: iface }] });
      else if (iface === undefined)
        out.push({ hook: 'input', dev: [{ side: 'in', name: 'lo', negate: true }] });
      else if (iface !== 'lo') out.push({ hook: 'input', dev: [{ side: 'in', name: iface }] });
      if (iface !== undefined) out.push({ hook: 'forward', dev: [{ side: 'in', name: iface }] });
    } else {
      out.push({ hook: 'output', dev: iface === undefined ? [] : [{ side: 'out', name: iface }] });
      if (iface !== undefined) {
        const dev: DevMatch[] = [{ side: 'out', name: iface }];
        if (both) dev.push({ side: 'in', name: iface, negate: true });
        out.push({ hook: 'forward', dev });
      }
    }
  }
  return out;
}

// Chain names are not nft keywords (`fwd`, `input`... are).
type NftChain = 'fl_in' | 'fl_out' | 'fl_fwd';
const NFT_CHAIN: Record<Placement['hook'], NftChain> = {
  input: 'fl_in',
  output: 'fl_out',
  forward: 'fl_fwd',
};
const NFT_HOOKS: Placement['hook'][] = ['input', 'output', 'forward'];

/** The chains a rule set needs: one per hook its placements use. */
function nftChains(set: RuleSet): Placement['hook'][] {
  const used = new Set(placements(set).map((p) => p.hook));
  return NFT_HOOKS.filter((h) => used.has(h));
}

const nftDev = (d: DevMatch) => [
  d.side === 'in' ? 'iifname' : 'oifname',
  ...(d.negate ? ['!='] : []),
  `"${d.name}"`,
];

function nftMatch(m: Match): string[] {
  const out: string[] = [];
  for (const [field, value] of [
    ['saddr', m.source],
    ['daddr', m.destination],
  ] as const) {
    if (value !== undefined) out.push(cidrFamily(value) === 6 ? 'ip6' : 'ip', field, value);
  }
  const proto = m.protocol ?? 'all';
  if (proto !== 'all') out.push('meta', 'l4proto', proto);
  else if (m.port !== undefined) out.push('meta', 'l4proto', '{', 'tcp,', 'udp', '}');
  if (m.port !== undefined) out.push('th', 'dport', String(m.port));
  return out;
}

/** The statements of one rule; a reject of TCP and other traffic takes two rules (RST, ICMP). */
function nftVerdicts(m: Match, v: Verdict): string[][] {
  switch (v.type) {
    case 'drop':
      return [['drop']];
    case 'loss':
      // nft refuses `< 10000` (a value outside numgen's 0-9999): 100% is every packet.
      if (v.percent >= 100) return [['drop']];
      // 1/10000 steps: percentages with two decimals are exact.
      return [['numgen', 'random', 'mod', '10000', '<', String(Math.round(v.percent * 100)), 'drop']];
    case 'police':
      return [
        ['limit', 'rate', 'over', String(v.bytesPerSecond), 'bytes/second'].concat([
          'burst',
          String(v.burstBytes),
          'bytes',
          'drop',
        ]),
      ];
    case 'reject': {
      const proto = m.protocol ?? 'all';
      const icmp = ['reject', 'with', 'icmpx', 'type', 'port-unreachable'];
      if (proto === 'tcp') return [['reject', 'with', 'tcp', 'reset']];
      if (proto === 'udp') return [icmp];
      return [['meta', 'l4proto', 'tcp', 'reject', 'with', 'tcp', 'reset'], icmp];
    }
  }
}

const l4Of = (e: Exemption) =>
  e.protocol !== undefined ? [e.protocol] : e.port !== undefined ? ['tcp', 'udp'] : [];

/**
 * The accept rules of one exempt peer, the same in every chain: packets from
 * it (its address and port as source) and to it (as destination). Both in
 * every chain, because a peer on this host (NATS on 127.0.0.1) sends its
 * replies through output, and a peer elsewhere sends them through input.
 */
export function nftExemptRules(e: Exemption): string[][] {
  const fam = isIPv6(e.address) ? 'ip6' : 'ip';
  const l4 = l4Of(e);
  const proto =
    l4.length === 0
      ? []
      : l4.length === 1
        ? ['meta', 'l4proto', l4[0]!]
        : ['meta', 'l4proto', '{', 'tcp,', 'udp', '}'];
  return (
    [
      ['saddr', 'sport'],
      ['daddr', 'dport'],
    ] as const
  ).map(([addr, port]) => [
    fam,
    addr,
    e.address,
    ...proto,
    ...(e.port === undefined ? [] : ['th', port, String(e.port)]),
    'accept',
  ]);
}

/** Number of nft rules nftAddArgs() creates (verify-after-inject counts them). */
export function nftRuleCount(set: RuleSet): number {
  const perPlacement = set.rules.reduce((n, r) => n + nftVerdicts(r.match, r.verdict).length, 0);
  const exempt = (set.exempt ?? []).reduce((n, e) => n + nftExemptRules(e).length, 0);
  return perPlacement * placements(set).length + exempt * nftChains(set).length;
}

/** One `nft` invocation (one transaction: all or nothing) creating the fault's table. */
export function nftAddArgs(set: RuleSet): string[] {
  const t = nftTable(set.tag);
  const argv = ['nft', 'add', 'table', 'inet', t];
  for (const hook of nftChains(set)) {
    argv.push(';', 'add', 'chain', 'inet', t, NFT_CHAIN[hook], '{', 'type', 'filter', 'hook', hook);
    argv.push('priority', '-10', ';', 'policy', 'accept', ';', '}');
  }
  // Rules are appended in order: the exemptions come first in each chain, so an exempt
  // packet leaves this table accepted before any of the fault's rules sees it.
  for (const hook of nftChains(set)) {
    for (const e of set.exempt ?? []) {
      for (const r of nftExemptRules(e)) argv.push(';', 'add', 'rule', 'inet', t, NFT_CHAIN[hook], ...r);
    }
  }
  for (const place of placements(set)) {
    const dev = place.dev.flatMap(nftDev);
    for (const rule of set.rules) {
      for (const verdict of nftVerdicts(rule.match, rule.verdict)) {
        argv.push(
          ';',
          'add',
          'rule',
          'inet',
          t,
          NFT_CHAIN[place.hook],
          ...dev,
          ...nftMatch(rule.match),
          ...verdict,
        );
      }
    }
  }
  return argv;
}

export const nftDeleteArgs = (tag: string) => ['nft', 'delete', 'table', 'inet', nftTable(tag)];
export const nftListArgs = (tag: string) => ['nft', '-j', 'list', 'table', 'inet', nftTable(tag)];
/** One nft transaction deleting several faults' tables (`;` separates commands on nft's command line). */
export const nftDeleteManyArgs = (tags: readonly string[]) => [
  'nft',
  ...tags.flatMap((tag, i) => [...(i ? [';'] : []), 'delete', 'table', 'inet', nftTable(tag)]),
];
export const nftListTablesArgs = () => ['nft', 'list', 'tables'];

// ---- iptables (fallback when nft is missing) ------------------------------

const IPT_HOOK: Record<Placement['hook'], string> = { input: 'INPUT', output: 'OUTPUT', forward: 'FORWARD' };
export const iptBinary = (family: Family) => (family === 4 ? 'iptables' : 'ip6tables');

/** The families a rule set needs: those of its addresses, both when it names none. */
export function ruleFamilies(set: RuleSet): Family[] {
  const found = new Set<Family>();
  let unscoped = false;
  for (const r of set.rules) {
    const f = cidrFamily(r.match.source ?? r.match.destination ?? '');
    if (f === undefined) unscoped = true;
    else found.add(f);
  }
  if (unscoped) return [4, 6];
  return ([4, 6] as Family[]).filter((f) => found.has(f));
}

/** The jump rules from the built-in chains, without the -I/-D verb: `INPUT -i veth0 -m comment ... -j CHAIN`. */
export function iptJumps(tag: string, directions: Direction[], iface: string | undefined): string[][] {
  const tail = ['-m', 'comment', '--comment', iptComment(tag), '-j', iptChain(tag)];
  return placements({ directions, interface: iface }).map((p) => [
    IPT_HOOK[p.hook],
    ...p.dev.flatMap((d) => [...(d.negate ? ['!'] : []), d.side === 'in' ? '-i' : '-o', d.name]),
    ...tail,
  ]);
}

function iptRules(rule: Rule, family: Family): string[][] {
  const { match: m, verdict: v } = rule;
  const fam = cidrFamily(m.source ?? m.destination ?? '');
  if (fam !== undefined && fam !== family) return [];
  const addr: string[] = [];
  if (m.source !== undefined) addr.push('-s', m.source);
  if (m.destination !== undefined) addr.push('-d', m.destination);
  const proto = m.protocol ?? 'all';
  const protos: (string | undefined)[] =
    proto !== 'all' ? [proto] : m.port !== undefined ? ['tcp', 'udp'] : [undefined];
  const out: string[][] = [];
  for (const p of protos) {
    const pm = p === undefined ? [] : ['-p', p];
    const port = m.port === undefined ? [] : ['--dport', String(m.port)];
    switch (v.type) {
      case 'drop':
        out.push([...addr, ...pm, ...port, '-j', 'DROP']);
        break;
      case 'loss':
        out.push(
          [...addr, ...pm, ...port, '-m', 'statistic', '--mode', 'random'].concat([
            '--probability',
            (v.percent / 100).toFixed(4),
            '-j',
            'DROP',
          ]),
        );
        break;
      case 'reject':
        if (p === 'tcp') out.push([...addr, ...pm, ...port, '-j', 'REJECT', '--reject-with', 'tcp-reset']);
        else if (p === 'udp') out.push([...addr, ...pm, ...port, '-j', 'REJECT']);
        else {
          out.push([...addr, '-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset']);
          out.push([...addr, '-j', 'REJECT']);
        }
        break;
      case 'police':
        throw new Error('bandwidth policing needs nftables');
    }
  }
  return out;
}

/**
 * The RETURN rules of one exempt peer in a family's chain (none for the other
 * family): back to the calling chain, past the fault's rules, from and to the
 * peer (see nftExemptRules for why both in every hook).
 */
export function iptExemptRules(e: Exemption, family: Family): string[][] {
  if ((isIPv6(e.address) ? 6 : 4) !== family) return [];
  const protos: (string | undefined)[] = l4Of(e);
  if (protos.length === 0) protos.push(undefined);
  const out: string[][] = [];
  for (const [addr, port] of [
    ['-s', '--sport'],
    ['-d', '--dport'],
  ] as const) {
    for (const p of protos) {
      out.push([
        addr,
        e.address,
        ...(p === undefined ? [] : ['-p', p]),
        ...(e.port === undefined ? [] : [port, String(e.port)]),
        '-j',
        'RETURN',
      ]);
    }
  }
  return out;
}

/** The iptables commands of one family, in order: chain, its exemptions and rules, then the jumps (inserted first). */
export function iptAddCommands(set: RuleSet, family: Family): string[][] {
  const bin = iptBinary(family);
  const chain = iptChain(set.tag);
  const cmds: string[][] = [[bin, '-w', '-N', chain]];
  for (const e of set.exempt ?? []) {
    for (const r of iptExemptRules(e, family)) cmds.push([bin, '-w', '-A', chain, ...r]);
  }
  for (const rule of set.rules) {
    for (const r of iptRules(rule, family)) cmds.push([bin, '-w', '-A', chain, ...r]);
  }
  for (const [hook, ...rest] of iptJumps(set.tag, set.directions, set.interface)) {
    cmds.push([bin, '-w', '-I', hook!, '1', ...rest]);
  }
  return cmds;
}

/** Number of rules iptAddCommands() puts in the chain for `family`. */
export const iptRuleCount = (set: RuleSet, family: Family) =>
  set.rules.reduce((n, r) => n + iptRules(r, family).length, 0) +
  (set.exempt ?? []).reduce((n, e) => n + iptExemptRules(e, family).length, 0);

/** Reverting: the jumps (each until none is left), then the chain: nothing else is touched. */
export function iptRemoveCommands(
  tag: string,
  directions: Direction[],
  iface: string | undefined,
  family: Family,
): string[][] {
  const bin = iptBinary(family);
  const jumps = iptJumps(tag, directions, iface);
  // A fault injected before placements() judged each packet once placed plain jumps in every
  // direction's hooks: those are deleted too (a missing rule counts as deleted), or -X would fail.
  const tail = ['-m', 'comment', '--comment', iptComment(tag), '-j', iptChain(tag)];
  for (const dir of directions) {
    const dev = iface === undefined ? [] : [dir === 'ingress' ? '-i' : '-o', iface];
    const hook = IPT_HOOK[dir === 'ingress' ? 'input' : 'output'];
    for (const h of iface === undefined ? [hook] : [hook, 'FORWARD']) {
      const legacy = [h, ...dev, ...tail];
      if (!jumps.some((j) => j.join(' ') === legacy.join(' '))) jumps.push(legacy);
    }
  }
  const cmds = jumps.map((j) => [bin, '-w', '-D', ...j]);
  cmds.push([bin, '-w', '-F', iptChain(tag)], [bin, '-w', '-X', iptChain(tag)]);
  return cmds;
}

export const iptListChainArgs = (tag: string, family: Family) => [
  iptBinary(family),
  '-w',
  '-S',
  iptChain(tag),
];
export const iptListAllArgs = (family: Family) => [iptBinary(family), '-w', '-S'];

// ---- tc -------------------------------------------------------------------

export const tcShowArgs = (dev: string) => ['tc', '-j', 'qdisc', 'show', 'dev', dev];

export function tcAddRootArgs(
  dev: string,
  handle: string,
  kind: string,
  params: readonly string[],
): string[] {
  return ['tc', 'qdisc', 'add', 'dev', dev, 'root', 'handle', `${handle}:`, kind, ...params];
}

/** Deletes the root qdisc only if it still has our handle (tc refuses otherwise). */
export const tcDelRootArgs = (dev: string, handle: string) => [
  'tc',
  'qdisc',
  'del',
  'dev',
  dev,
  'root',
  'handle',
  `${handle}:`,
];

/** The classful root qdiscs that can keep exempt traffic out of a fault's netem/tbf (prio preferred). */
export type TcRoot = 'prio' | 'htb';

/**
 * The exempt band's class and the shaped band's: prio's band 0 (strict
 * priority, a plain fifo) and band 1; htb's classes 1 and 2.
 */
export const tcExemptClass = (handle: string) => `${handle}:1`;
export const tcShapedClass = (handle: string) => `${handle}:2`;

/**
 * The handle of the netem/tbf qdisc under the shaped class: from the tag's
 * other 16 bits, never 0, ffff or the root's handle (the tree is ours, so
 * only the root's handle and the ingress qdisc's ffff: can collide).
 */
export function tcChildHandle(tag: string): string {
  const root = Number.parseInt(qdiscHandle(tag), 16);
  let child = (Number.parseInt(tag.slice(4, 8), 16) % 0xfffe) + 1;
  if (child === root) child = (child % 0xfffe) + 1;
  return child.toString(16);
}

/**
 * Two bands, every priority mapped to band 1 (the shaped one). The priomap is
 * required: prio's default one names band 2, which two bands do not have.
 */
export const PRIO_PARAMS: readonly string[] = Object.freeze([
  'bands',
  '2',
  'priomap',
  ...Array<string>(16).fill('1'),
]);

/** A root qdisc fault whose exempt peers bypass the shaping: the whole tree tcTreeArgs() builds. */
export interface TcTree {
  dev: string;
  handle: string;
  child: string;
  root: TcRoot;
  qdisc: 'netem' | 'tbf';
  params: string[];
  exempt: readonly Exemption[];
}

/**
 * htb classes that do not shape: a rate no interface reaches, an explicit
 * quantum (the default one derived from such a rate is refused as too big),
 * and a burst of 64 KiB so that a GSO packet never waits for tokens.
 */
const HTB_OPEN = ['rate', '100gbit', 'burst', '65536', 'quantum', '65536'];

/**
 * The u32 filters sending an exempt peer's traffic to the exempt class:
 * packets to it (destination address and port) and from it (source), the
 * latter for a peer on this host, whose replies leave by the same interface
 * (lo). `ip dport` / `ip6 dport` read the port right after a header without
 * options / extension headers, which is what TCP and UDP packets carry.
 */
export function tcExemptFilters(dev: string, handle: string, e: Exemption): string[][] {
  const v6 = isIPv6(e.address);
  const [proto, pref, key, bits] = v6 ? ['ipv6', '2', 'ip6', '128'] : ['ip', '1', 'ip', '32'];
  const l4 = l4Of(e);
  const protos: (string | undefined)[] = l4.length === 1 ? l4 : [undefined];
  const out: string[][] = [];
  for (const [addr, port] of [
    ['dst', 'dport'],
    ['src', 'sport'],
  ] as const) {
    for (const p of protos) {
      out.push([
        'tc',
        'filter',
        'add',
        'dev',
        dev,
        'parent',
        `${handle}:`,
        'protocol',
        proto,
        // One preference per protocol: tc refuses two protocols under one preference.
        'prio',
        pref,
        'u32',
        'match',
        key,
        addr,
        `${e.address}/${bits}`,
        ...(e.port === undefined ? [] : ['match', key, port, String(e.port), '0xffff']),
        ...(p === undefined ? [] : ['match', key, 'protocol', p === 'tcp' ? '6' : '17', '0xff']),
        'flowid',
        tcExemptClass(handle),
      ]);
    }
  }
  return out;
}

/**
 * The commands of a tc fault with exempt peers, in order: a classful root
 * (prio whose priomap sends every priority to band 1, or htb defaulting to
 * class 2), the netem/tbf under the shaped class, then the filters taking
 * exempt traffic to the unshaped class. Deleting the root removes it all.
 */
export function tcTreeArgs(t: TcTree): string[][] {
  const h = t.handle;
  const cmds: string[][] = [];
  if (t.root === 'prio') {
    cmds.push(tcAddRootArgs(t.dev, h, 'prio', PRIO_PARAMS));
  } else {
    cmds.push(tcAddRootArgs(t.dev, h, 'htb', ['default', '2']));
    for (const cls of [tcExemptClass(h), tcShapedClass(h)]) {
      cmds.push(['tc', 'class', 'add', 'dev', t.dev, 'parent', `${h}:`, 'classid', cls, 'htb', ...HTB_OPEN]);
    }
  }
  cmds.push(
    ['tc', 'qdisc', 'add', 'dev', t.dev, 'parent', tcShapedClass(h), 'handle', `${t.child}:`, t.qdisc].concat(
      t.params,
    ),
  );
  for (const e of t.exempt) cmds.push(...tcExemptFilters(t.dev, h, e));
  return cmds;
}

/** Number of u32 filters tcTreeArgs() adds (verify-after-inject counts them). */
export const tcFilterCount = (t: Pick<TcTree, 'dev' | 'handle' | 'exempt'>) =>
  t.exempt.reduce((n, e) => n + tcExemptFilters(t.dev, t.handle, e).length, 0);

export const tcFilterShowArgs = (dev: string, handle: string) => [
  'tc',
  '-j',
  'filter',
  'show',
  'dev',
  dev,
  'parent',
  `${handle}:`,
];

/** tbf parameters: the rate, a burst of max(20 ms of traffic, 4 full frames), 100 ms of queue. */
export function tbfParams(bitsPerSecond: number): string[] {
  const burst = Math.max(Math.ceil(bitsPerSecond / 8 / 50), 4 * 1514);
  return ['rate', `${bitsPerSecond}bit`, 'burst', String(burst), 'latency', '100ms'];
}

export interface NetemSpec {
  delayMs?: number | undefined;
  jitterMs?: number | undefined;
  /** Percent (0-100) each delay's random part depends on the previous one's (tc `delay T J C%`). */
  delayCorrelation?: number | undefined;
  lossPercent?: number | undefined;
  lossCorrelation?: number | undefined;
  duplicatePercent?: number | undefined;
  duplicateCorrelation?: number | undefined;
  corruptPercent?: number | undefined;
  corruptCorrelation?: number | undefined;
}

/** `25%` as tc writes it, or nothing when there is no correlation (0 is tc's default). */
const corr = (c: number | undefined) => (c !== undefined && c > 0 ? [`${c}%`] : []);

/**
 * netem's parameters, e.g. Chaos Mesh's seed delay (500ms, jitter 100ms, correlation 100):
 *   delay 500ms 100ms 100% distribution normal
 * A delay's correlation acts on its jitter, so it is written only with a jitter
 * (tc reads a third number after the delay as the jitter, not the correlation).
 */
export function netemParams(s: NetemSpec): string[] {
  const p: string[] = [];
  if (s.delayMs !== undefined) {
    p.push('delay', `${s.delayMs}ms`);
    if (s.jitterMs !== undefined && s.jitterMs > 0) {
      p.push(`${s.jitterMs}ms`, ...corr(s.delayCorrelation), 'distribution', 'normal');
    }
  }
  if (s.lossPercent !== undefined) p.push('loss', `${s.lossPercent}%`, ...corr(s.lossCorrelation));
  if (s.duplicatePercent !== undefined)
    p.push('duplicate', `${s.duplicatePercent}%`, ...corr(s.duplicateCorrelation));
  if (s.corruptPercent !== undefined)
    p.push('corrupt', `${s.corruptPercent}%`, ...corr(s.corruptCorrelation));
  return p;
}

/** The netem probe: a throwaway ifb device in the host namespace, a netem qdisc on it, then deleted. */
export const probeLinkAddArgs = (dev: string) => ['ip', 'link', 'add', dev, 'type', 'ifb'];
export const probeLinkDelArgs = (dev: string) => ['ip', 'link', 'del', dev];
export const linkShowArgs = (dev: string) => ['ip', 'link', 'show', 'dev', dev];

// ---- rates ----------------------------------------------------------------

const RATE_UNITS: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  bps: 8,
  kbps: 8e3,
  mbps: 8e6,
  gbps: 8e9,
};
export const RATE_RE = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/i;

/** tc's rate syntax (`1mbit`, `500kbit`, `2mbps` = bytes) in bits per second, or undefined. */
export function parseRate(text: string): number | undefined {
  const m = RATE_RE.exec(text.trim());
  if (!m) return undefined;
  const bits = Math.round(Number(m[1]) * (RATE_UNITS[m[2]!.toLowerCase()] ?? Number.NaN));
  return Number.isFinite(bits) && bits >= 8000 && bits <= 100e9 ? bits : undefined;
}
