/**
 * NetworkChaos -> `faultline.network` faults on the picked workloads.
 *   delay -> latency (jitter, correlation), duplicate, corrupt: netem, on
 *     every packet a workload sends (a netem qdisc shapes a whole interface,
 *     so a `target`, `externalTargets` or another direction is refused);
 *   loss -> loss (nftables: each packet dropped independently, so a
 *     correlation keeps its rate and loses its burstiness: warned),
 *     partition -> partition, bandwidth -> bandwidth: firewall faults, which
 *     take the direction themselves (to = egress, from = ingress);
 *   netem -> the parts it holds, each its own fault.
 * For the firewall faults `target` and `externalTargets` become
 * `targets.peers`: the agent scopes the fault to the traffic with each peer
 * address, once per direction.
 */
import { describe, join, list, type Notes, percent, record, string } from '../notes.js';
import {
  at,
  type Ctx,
  duration,
  faultAction,
  goMillis,
  int,
  type Piece,
  pct,
  remoteCluster,
  slug,
  type Timed,
} from './common.js';
import { asPeers, asTargets, type Picked, targetPick, targetsOf } from './selector.js';

export const NETWORK_ACTIONS = [
  'netem',
  'delay',
  'loss',
  'duplicate',
  'corrupt',
  'partition',
  'bandwidth',
] as const;
type Action = (typeof NETWORK_ACTIONS)[number];

export const NETWORK_FIELDS = [
  'selector',
  'mode',
  'value',
  'action',
  'device',
  'duration',
  'delay',
  'loss',
  'duplicate',
  'corrupt',
  'bandwidth',
  'direction',
  'target',
  'targetDevice',
  'externalTargets',
  'remoteCluster',
];

const SUBSPECS = ['delay', 'loss', 'duplicate', 'corrupt', 'bandwidth'] as const;
/** The sub-specs each action reads (netem: any of its four). */
const READS: Record<Action, readonly string[]> = {
  netem: ['delay', 'loss', 'duplicate', 'corrupt'],
  delay: ['delay'],
  loss: ['loss'],
  duplicate: ['duplicate'],
  corrupt: ['corrupt'],
  bandwidth: ['bandwidth'],
  partition: [],
};
const FIREWALL_DIRECTION = { to: 'egress', from: 'ingress', both: 'both' } as const;
type Direction = keyof typeof FIREWALL_DIRECTION;

/** One fault before its targets: the kind and its arguments; netem ones act on what a workload sends. */
interface Fault {
  func: 'latency' | 'loss' | 'duplicate' | 'corrupt' | 'bandwidth' | 'partition';
  args: Record<string, unknown>;
  netem: boolean;
}

interface Peers {
  target?: Picked;
  /** externalTargets without a port. */
  addresses: string[];
  /** externalTargets with a port, by port. */
  byPort: Map<number, string[]>;
}

export function networkChaos(ctx: Ctx, spec: Record<string, unknown>): Piece {
  const { notes } = ctx;
  notes.rest(spec, ctx.path, NETWORK_FIELDS, 'Chaos Mesh NetworkChaos');
  remoteCluster(ctx, spec);
  const source = targetsOf(ctx, spec);
  const actionPath = at(ctx, 'action');
  const action = spec.action === undefined ? 'delay' : string(notes, spec.action, actionPath);
  if (action === undefined) return { timeline: [], span: 0 };
  if (!NETWORK_ACTIONS.includes(action as Action)) {
    notes.refused(actionPath, `expected one of ${NETWORK_ACTIONS.join(', ')}, got ${JSON.stringify(action)}`);
    return { timeline: [], span: 0 };
  }
  const a = action as Action;
  for (const k of SUBSPECS) {
    if (spec[k] !== undefined && !READS[a].includes(k))
      notes.ignored(at(ctx, k), `action ${a} does not read ${k} (Chaos Mesh ignores it too)`);
  }
  for (const [k, what] of [
    ['device', 'device'],
    ['targetDevice', "target's device"],
  ] as const) {
    if (spec[k] !== undefined)
      notes.warned(
        at(ctx, k),
        `the ${what} is the workload's interface (its \`interface\` in the agent's workloads file, else its only non-loopback one): set it there`,
      );
  }

  const faults = faultsOf(ctx, spec, a);
  const dirPath = at(ctx, 'direction');
  const dir = spec.direction === undefined ? 'to' : string(notes, spec.direction, dirPath);
  if (dir !== undefined && !(dir in FIREWALL_DIRECTION)) {
    notes.refused(dirPath, `expected to, from or both, got ${JSON.stringify(dir)}`);
    return { timeline: [], span: 0 };
  }
  const peers = peersOf(ctx, spec, (dir ?? 'to') as Direction);
  const seconds = duration(ctx, spec);
  if (faults.length === 0) return { timeline: [], span: seconds };
  const d = (dir ?? 'to') as Direction;
  noteDirection(ctx, spec, d, faults, peers);

  const timeline: Timed[] = [];
  const base = slug(ctx.name);
  const add = (
    func: string,
    args: Record<string, unknown>,
    targets: Record<string, unknown>,
    suffix = '',
  ) => {
    const n = timeline.length ? `-${timeline.length + 1}` : '';
    timeline.push({
      at: 0,
      activity: faultAction(
        `${base}-${func}${suffix}${n}`,
        'network',
        func,
        { ...args, duration: seconds },
        targets,
      ),
    });
  };
  const hasPeers = peers.target !== undefined || peers.addresses.length > 0;
  const peerBlock = (addresses: string[], target = peers.target) => ({
    ...(target ? asPeers(target) : {}),
    ...(addresses.length ? { addresses } : {}),
  });

  for (const f of faults) {
    if (!f.netem) {
      const args = { ...f.args, direction: FIREWALL_DIRECTION[d] };
      if (hasPeers || peers.byPort.size === 0)
        add(f.func, args, {
          ...asTargets(source),
          ...(hasPeers ? { peers: peerBlock(peers.addresses) } : {}),
        });
      for (const [port, addrs] of peers.byPort)
        add(
          f.func,
          { ...args, port, protocol: 'all' },
          { ...asTargets(source), peers: peerBlock(addrs, undefined) },
          `-port-${port}`,
        );
      continue;
    }
    // netem acts on what a workload sends, to everyone: no peers (refused above when asked for).
    if (d === 'to' && !hasPeers && peers.byPort.size === 0) add(f.func, f.args, asTargets(source));
  }
  return { timeline, span: seconds };
}

function faultsOf(ctx: Ctx, spec: Record<string, unknown>, action: Action): Fault[] {
  const { notes } = ctx;
  const out: Fault[] = [];
  const sub = (k: string, required: boolean) => {
    const r = record(notes, spec[k], at(ctx, k));
    if (!r && required && spec[k] === undefined) notes.refused(at(ctx, k), `action ${action} needs ${k}`);
    return r;
  };
  const want = (k: string) => action === k || (action === 'netem' && spec[k] !== undefined);
  if (want('delay')) {
    const s = sub('delay', true);
    if (s) out.push(delay(ctx, s, join(ctx.path, 'delay')));
  }
  if (want('loss')) {
    const s = sub('loss', true);
    if (s) {
      const p = join(ctx.path, 'loss');
      notes.rest(s, p, ['loss', 'correlation'], 'Chaos Mesh loss');
      const loss = percent(notes, s.loss, join(p, 'loss'), 0.01, 100);
      if (s.loss === undefined) notes.refused(join(p, 'loss'), 'expected the percentage of packets lost');
      if (loss !== undefined) notes.mapped(join(p, 'loss'), 'arguments.percent');
      const corr =
        s.correlation === undefined ? undefined : pct(notes, s.correlation, join(p, 'correlation'));
      if (corr !== undefined && corr > 0)
        notes.warned(
          join(p, 'correlation'),
          `Faultline's loss drops each packet independently (nftables): the ${loss ?? ''}% rate is kept, the burstiness a ${corr}% correlation adds is not (netem's correlated loss would need sch_netem and the whole interface)`,
        );
      else if (corr !== undefined)
        notes.ignored(join(p, 'correlation'), '0: independent losses, as Faultline drops them');
      if (loss !== undefined) out.push({ func: 'loss', args: { percent: loss }, netem: false });
    }
  }
  for (const k of ['duplicate', 'corrupt'] as const) {
    if (!want(k)) continue;
    const s = sub(k, true);
    if (!s) continue;
    const p = join(ctx.path, k);
    notes.rest(s, p, [k, 'correlation'], `Chaos Mesh ${k}`);
    if (s[k] === undefined)
      notes.refused(
        join(p, k),
        `expected the percentage of packets ${k === 'duplicate' ? 'duplicated' : 'corrupted'}`,
      );
    const v = s[k] === undefined ? undefined : percent(notes, s[k], join(p, k), 0.01, 100);
    const corr = s.correlation === undefined ? undefined : pct(notes, s.correlation, join(p, 'correlation'));
    if (v === undefined) continue;
    notes.mapped(join(p, k), 'arguments.percent');
    if (corr !== undefined) notes.mapped(join(p, 'correlation'), 'arguments.correlation');
    out.push({ func: k, args: { percent: v, ...(corr ? { correlation: corr } : {}) }, netem: true });
  }
  if (action === 'bandwidth') {
    const s = sub('bandwidth', true);
    if (s) {
      const b = bandwidth(notes, s, join(ctx.path, 'bandwidth'));
      if (b) out.push({ func: 'bandwidth', args: b, netem: false });
    }
  }
  if (action === 'partition') {
    notes.mapped(
      at(ctx, 'action'),
      'faultline.network partition',
      "packets in scope are dropped, as Chaos Mesh's iptables DROP",
    );
    out.push({ func: 'partition', args: {}, netem: false });
  } else if (out.length) {
    notes.mapped(at(ctx, 'action'), out.map((f) => `faultline.network ${f.func}`).join(' + '));
  }
  const qdiscs = out.filter((f) => f.netem || f.func === 'latency');
  if (qdiscs.length > 1)
    notes.refused(
      at(ctx, 'action'),
      `netem with ${qdiscs.map((f) => f.func).join(' and ')}: each is a netem qdisc of its own on the workload's interface, and an interface has one root qdisc: split it into one NetworkChaos per part`,
    );
  return out;
}

function delay(ctx: Ctx, s: Record<string, unknown>, p: string): Fault {
  const { notes } = ctx;
  notes.rest(s, p, ['latency', 'jitter', 'correlation', 'reorder'], 'Chaos Mesh delay');
  if (s.latency === undefined) notes.refused(join(p, 'latency'), 'expected the delay, such as 100ms');
  const latency = s.latency === undefined ? undefined : goMillis(notes, s.latency, join(p, 'latency'));
  const jitter = s.jitter === undefined ? undefined : goMillis(notes, s.jitter, join(p, 'jitter'));
  const corr = s.correlation === undefined ? undefined : pct(notes, s.correlation, join(p, 'correlation'));
  const args: Record<string, unknown> = {};
  if (latency !== undefined) {
    if (latency > 60_000)
      notes.refused(join(p, 'latency'), "expected at most 60s (Faultline's latency limit)");
    else {
      args.delay = latency;
      notes.mapped(join(p, 'latency'), 'arguments.delay', 'milliseconds');
    }
  }
  if (jitter !== undefined) {
    if (jitter > 60_000) notes.refused(join(p, 'jitter'), 'expected at most 60s');
    else if (jitter > 0) {
      args.jitter = jitter;
      notes.mapped(join(p, 'jitter'), 'arguments.jitter', 'milliseconds, normally distributed');
    } else notes.ignored(join(p, 'jitter'), '0: no jitter');
  }
  if (corr !== undefined) {
    if (corr > 0 && jitter !== undefined && jitter > 0) {
      args.correlation = corr;
      notes.mapped(join(p, 'correlation'), 'arguments.correlation', "tc's `delay T J C%`");
    } else notes.ignored(join(p, 'correlation'), 'a delay correlation acts on the jitter, and there is none');
  }
  if (s.reorder !== undefined)
    notes.refused(
      join(p, 'reorder'),
      "Faultline's latency fault does not reorder packets (netem's reorder/gap): remove it to keep the delay",
    );
  return { func: 'latency', args, netem: true };
}

function bandwidth(notes: Notes, s: Record<string, unknown>, p: string): Record<string, unknown> | undefined {
  notes.rest(s, p, ['rate', 'limit', 'buffer', 'peakrate', 'minburst'], 'Chaos Mesh bandwidth');
  const rate = string(notes, s.rate, join(p, 'rate'));
  let ok = true;
  if (rate === undefined || !/^\d+(?:\.\d+)?(?:bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/i.test(rate.trim())) {
    notes.refused(
      join(p, 'rate'),
      `expected a rate such as 1mbit or 100kbps (tc's units: kbps is kilobytes/s), got ${describe(s.rate)}`,
    );
    ok = false;
  } else
    notes.mapped(join(p, 'rate'), 'arguments.rate', 'the same tc units (bps/kbps/mbps are bytes per second)');
  for (const k of ['limit', 'buffer'] as const) {
    if (s[k] === undefined) continue;
    if (int(notes, s[k], join(p, k), 0, 2 ** 32 - 1) === undefined) ok = false;
    else
      notes.ignored(
        join(p, k),
        k === 'limit'
          ? "the queue: Faultline's tbf queues 100 ms of traffic; the rate is what is enforced"
          : "the burst: Faultline's tbf allows max(20 ms of traffic, 4 frames); the rate is what is enforced",
      );
  }
  for (const k of ['peakrate', 'minburst'] as const) {
    if (s[k] !== undefined)
      notes.refused(
        join(p, k),
        `Faultline's bandwidth fault has no peak rate (tbf ${k}): remove it to limit the average rate only`,
      );
  }
  return ok ? { rate: rate!.trim() } : undefined;
}

/** `target` and `externalTargets` as peers; a port on an external target splits the firewall faults by port. */
function peersOf(ctx: Ctx, spec: Record<string, unknown>, dir: Direction): Peers {
  const { notes } = ctx;
  const out: Peers = { addresses: [], byPort: new Map() };
  if (spec.target !== undefined) {
    const t = record(notes, spec.target, at(ctx, 'target'));
    if (t) {
      out.target = targetPick(ctx, t, at(ctx, 'target'));
      notes.mapped(
        at(ctx, 'target'),
        'targets.peers',
        "the other end: each of its workloads' addresses (workloads file `addresses`)",
      );
    }
  }
  const path = at(ctx, 'externalTargets');
  const ext = spec.externalTargets === undefined ? undefined : list(notes, spec.externalTargets, path);
  if (!ext) return out;
  if (dir !== 'to') {
    notes.refused(path, 'externalTargets apply to direction to only (as in Chaos Mesh)');
    return out;
  }
  ext.forEach((e, i) => {
    const p = join(path, i);
    if (typeof e !== 'string' || e.length === 0 || e.length > 253) {
      notes.refused(p, `expected an address, CIDR or host name, optionally with :port, got ${describe(e)}`);
      return;
    }
    const m = /^([^:]+):(\d+)$/.exec(e);
    const host = m ? m[1]! : e;
    if (!/^[A-Za-z0-9.:/-]+$/.test(host)) {
      notes.refused(p, `expected an address, CIDR or host name, got ${JSON.stringify(e)}`);
      return;
    }
    if (m) {
      const port = Number(m[2]);
      if (port < 1 || port > 65535) {
        notes.refused(p, `expected a port from 1 to 65535, got ${m[2]}`);
        return;
      }
      out.byPort.set(port, [...(out.byPort.get(port) ?? []), host]);
      notes.mapped(p, 'targets.peers.addresses', `with arguments.port ${port} (a fault of its own per port)`);
    } else {
      out.addresses.push(host);
      notes.mapped(
        p,
        'targets.peers.addresses',
        /[a-z]/i.test(host) && !host.includes(':') ? 'a host name: the agent resolves it' : undefined,
      );
    }
  });
  return out;
}

function noteDirection(
  ctx: Ctx,
  spec: Record<string, unknown>,
  d: Direction,
  faults: Fault[],
  peers: Peers,
): void {
  const path = at(ctx, 'direction');
  const netem = faults.filter((f) => f.netem);
  const firewall = faults.some((f) => !f.netem);
  if (netem.length > 0) {
    // The agent refuses a netem fault with a peer (src/fleet/workloads.ts): it shapes the whole interface.
    const why = `${netem.map((f) => f.func).join(', ')} shapes every packet leaving the workload's interface (netem) and cannot be limited to some peers`;
    if (peers.target)
      ctx.notes.refused(
        at(ctx, 'target'),
        `${why}: remove target to affect all its outgoing traffic, or use loss/partition`,
      );
    if (peers.addresses.length > 0 || peers.byPort.size > 0)
      ctx.notes.refused(
        at(ctx, 'externalTargets'),
        `${why}: remove externalTargets to affect all its outgoing traffic`,
      );
    if (d !== 'to')
      ctx.notes.refused(
        path,
        `direction ${d}: netem acts on the packets a workload sends, to every peer: only to (the default) can be honoured`,
      );
  }
  const parts: string[] = [];
  if (firewall) parts.push(`arguments.direction ${FIREWALL_DIRECTION[d]}`);
  if (netem.length > 0 && d === 'to') parts.push("netem on the picked workloads' outgoing packets");
  if (parts.length === 0) return;
  if (spec.direction === undefined)
    ctx.notes.mapped(path, parts.join('; '), "absent: Chaos Mesh's default, to");
  else ctx.notes.mapped(path, parts.join('; '));
}
