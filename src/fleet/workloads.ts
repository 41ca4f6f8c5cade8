import { extname } from 'node:path';
import { FaultlineError } from '../core/errors.js';
import { parseText } from '../core/parse.js';
import { formatPath } from '../core/positions.js';
import { readSourceFile } from '../core/read-source.js';
import {
  type ProcessFinder,
  type Workload,
  type WorkloadsFile,
  WorkloadsFileSchema,
  workloadRef,
} from '../core/workload.js';
import { runOk } from '../faults/network/exec.js';

/** Kinds whose arguments name processes (src/faults/process/). */
const PROCESS_KINDS = new Set(['process-kill', 'process-kill-random', 'process-pause']);
/** netem kinds: a qdisc on one interface, egress only, no address scope. */
const NETEM_KINDS = new Set(['network-latency', 'network-duplicate', 'network-corrupt']);
/** Firewall-rule kinds: `namespace` and the source/destination/direction scope. */
const RULE_KINDS = new Set(['network-partition', 'network-loss', 'network-bandwidth', 'network-dns']);
const SDK_KIND = 'sdk-enable-fault';
const HTTP_KIND = 'http-fault';
const PROXY_TOXIC_KIND = 'proxy-toxic';

/** The workloads file, validated: every issue named by its path, with its line and column where known. */
export function parseWorkloads(text: string, source: string): WorkloadsFile {
  const format = extname(source).toLowerCase() === '.json' ? 'json' : 'yaml';
  const parsed = parseText(text, format, source);
  const r = WorkloadsFileSchema.safeParse(parsed.value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const path = i.path.filter((p): p is string | number => typeof p !== 'symbol');
    const pos = parsed.positionOf(path);
    return {
      path: formatPath(path),
      message: i.message,
      ...(pos ? { line: pos.line, column: pos.column } : {}),
    };
  });
  const lines = issues.map(
    (i) => `${source}${i.line ? `:${i.line}:${i.column}` : ''}: ${i.path || '(top)'}: ${i.message}`,
  );
  throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `workloads file: ${lines.join('; ')}`, { issues });
}

/** Reads and validates `--workloads FILE` (bounded read; YAML, or JSON by its extension). */
export async function loadWorkloads(path: string): Promise<Workload[]> {
  const text = await readSourceFile(path, 'Workloads file');
  return parseWorkloads(text, path).workloads;
}

/** The interfaces `ip -o link show` lists, loopback left out (`2: eth0@if7: <...>` -> eth0). */
export function parseLinks(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)(?:@[^:\s]+)?:\s+<([^>]*)>/.exec(line);
    if (!m) continue;
    if (m[1] === 'lo' || m[2]!.split(',').includes('LOOPBACK')) continue;
    out.push(m[1]!);
  }
  return out;
}

/** The argv listing a namespace's links (never a shell string). */
export const linkListArgs = (netns: string | undefined): string[] =>
  netns === undefined ? ['ip', '-o', 'link', 'show'] : ['ip', '-n', netns, '-o', 'link', 'show'];

/** The only non-loopback interface of the workload's namespace; refused when there are none or several. */
export async function onlyInterface(w: Workload): Promise<string> {
  const links = parseLinks((await runOk(linkListArgs(w.netns))).stdout);
  if (links.length === 1) return links[0]!;
  throw refusal(
    w,
    links.length === 0
      ? `no interface but loopback in ${w.netns ? `netns ${w.netns}` : "the host's namespace"}`
      : `several interfaces (${links.join(', ')}) and no \`interface\` saying which to shape`,
  );
}

function refusal(w: Pick<Workload, 'namespace' | 'name'>, lacks: string): FaultlineError {
  return new FaultlineError('FAULTLINE_ERR_POLICY', `workload ${workloadRef(w)}: ${lacks}`);
}

export interface AppliedFault {
  kind: string;
  args: Record<string, unknown>;
}

export interface ApplyOptions {
  /** One peer address: the fault acts on the traffic with it only. */
  peer?: string;
  /** Finds the interface netem kinds shape when the workload names none (default onlyInterface). */
  findInterface?: (w: Workload) => Promise<string>;
}

/**
 * `kind` (a ledger kind name, `network-loss`) with `args` made to act on
 * `workload`: see the file's comment for what each family takes. Throws a
 * FAULTLINE_ERR_POLICY refusal naming the workload when it cannot take the kind,
 * FAULTLINE_ERR_VALIDATION when the arguments contradict it.
 */
export async function applyWorkload(
  kind: string,
  args: Readonly<Record<string, unknown>>,
  workload: Workload,
  options: ApplyOptions = {},
): Promise<AppliedFault> {
  if (PROCESS_KINDS.has(kind)) {
    if (options.peer !== undefined) throw refusal(workload, `${kind} takes no peers`);
    return { kind, args: await processArgs(kind, args, workload, options) };
  }
  if (NETEM_KINDS.has(kind)) {
    if (options.peer !== undefined) {
      throw refusal(
        workload,
        `${kind} shapes every packet leaving an interface (netem) and cannot be limited to one peer (${options.peer}): use network.loss, network.partition or a proxy toxic`,
      );
    }
    const iface =
      (args.interface as string | undefined) ??
      workload.interface ??
      (await (options.findInterface ?? onlyInterface)(workload));
    return { kind, args: { ...withNamespace(args, workload), interface: iface } };
  }
  if (RULE_KINDS.has(kind)) {
    const out: Record<string, unknown> = withNamespace(args, workload);
    if (workload.interface !== undefined && out.interface === undefined) out.interface = workload.interface;
    // A bandwidth limit on the whole workload shapes its interface (tbf), as Chaos Mesh does on a pod's
    // eth0; scoped to a peer it polices that traffic with nftables instead.
    if (kind === 'network-bandwidth' && options.peer === undefined && out.interface === undefined) {
      out.interface = await (options.findInterface ?? onlyInterface)(workload);
    }
    if (options.peer !== undefined) Object.assign(out, peerScope(kind, out, options.peer));
    return { kind, args: out };
  }
  if (kind === HTTP_KIND) {
    if (options.peer !== undefined) throw refusal(workload, `${kind} takes no peers`);
    return { kind, args: httpArgs(args, workload) };
  }
  if (kind === SDK_KIND) {
    if (options.peer !== undefined) throw refusal(workload, `${kind} takes no peers`);
    return sdkFault(args, workload);
  }
  if (kind.startsWith('network-')) return { kind, args: withNamespace(args, workload) };
  throw refusal(
    workload,
    `${kind} is not a fault a workload takes (process, network, http and sdk faults do; send it to agents with on: agents)`,
  );
}

function withNamespace(args: Readonly<Record<string, unknown>>, w: Workload): Record<string, unknown> {
  const out: Record<string, unknown> = { ...args };
  if (out.namespace !== undefined && w.netns !== undefined && out.namespace !== w.netns) {
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `arguments.namespace: '${String(out.namespace)}' is not the netns of workload ${workloadRef(w)} (${w.netns}): leave it out`,
    );
  }
  if (w.netns !== undefined) out.namespace = w.netns;
  return out;
}

/**
 * The peer as the scope of a firewall fault: `destination` leaving the
 * workload, `source` arriving at it. One direction per fault: the controller
 * splits `both` (splitDirections).
 */
function peerScope(kind: string, args: Record<string, unknown>, peer: string): Record<string, unknown> {
  const direction = (args.direction as string | undefined) ?? 'both';
  if (direction === 'both') {
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `${kind}: a fault with a peer is placed once per direction (egress, ingress), not 'both'`,
    );
  }
  const field = direction === 'egress' ? 'destination' : 'source';
  if (args[field] !== undefined && args[field] !== peer) {
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `arguments.${field}: the peer ${peer} sets it for direction ${direction}: leave it out`,
    );
  }
  return { direction, [field]: peer };
}

/**
 * The directions a fault with peers is placed in, one fault each: the
 * firewall kinds' `direction` (default both) split; [undefined] for the
 * others (one fault, its arguments untouched).
 */
export function splitDirections(
  kind: string,
  args: Readonly<Record<string, unknown>>,
): (string | undefined)[] {
  if (!RULE_KINDS.has(kind)) return [undefined];
  const d = (args.direction as string | undefined) ?? 'both';
  return d === 'both' ? ['egress', 'ingress'] : [d];
}

const FINDER_FIELDS = ['pid', 'pidfile', 'name', 'pattern', 'cgroup'] as const;

async function processArgs(
  kind: string,
  args: Readonly<Record<string, unknown>>,
  w: Workload,
  _options: ApplyOptions,
): Promise<Record<string, unknown>> {
  const { containers, ...rest } = args as { containers?: unknown } & Record<string, unknown>;
  let finder: ProcessFinder | undefined = w.processes;
  if (containers !== undefined) {
    if (!Array.isArray(containers) || containers.length !== 1 || typeof containers[0] !== 'string') {
      throw new FaultlineError(
        'FAULTLINE_ERR_VALIDATION',
        'arguments.containers: expected a list of one container name (a fault per container: send one each)',
      );
    }
    const name = containers[0];
    finder = w.containers?.[name];
    if (!finder) {
      const known = Object.keys(w.containers ?? {});
      throw refusal(
        w,
        `has no container '${name}' (${known.length ? `its containers: ${known.join(', ')}` : 'it lists no containers'})`,
      );
    }
  }
  if (!finder)
    throw refusal(w, `has no processes (its entry gives no \`processes\`): ${kind} cannot act on it`);
  const given = FINDER_FIELDS.filter((f) => rest[f] !== undefined);
  if (given.length > 0) {
    throw new FaultlineError(
      'FAULTLINE_ERR_VALIDATION',
      `arguments.${given[0]}: the workload ${workloadRef(w)} says how its processes are found: leave it out`,
    );
  }
  const out: Record<string, unknown> = { ...rest };
  if (finder.cgroup !== undefined) out.cgroup = finder.cgroup;
  else if (finder.pidfile !== undefined) out.pidfile = finder.pidfile;
  else if (finder.name !== undefined) out.name = finder.name;
  else if (finder.pattern !== undefined) out.pattern = finder.pattern;
  // A pod's fault acts on the whole pod: every matching process unless the arguments choose.
  if (
    kind !== 'process-kill-random' &&
    out.mode === undefined &&
    out.count === undefined &&
    out.percentage === undefined
  ) {
    out.mode = 'all';
  }
  return out;
}

/** http.fault for a workload: the proxy in front of it, which its entry names. */
function httpArgs(args: Readonly<Record<string, unknown>>, w: Workload): Record<string, unknown> {
  if (!w.proxy) {
    throw refusal(
      w,
      'has no proxy: HTTP faults from Istio/Chaos Mesh/Litmus act on requests to the workload: give it a proxy in its --workloads entry (proxy: {api_url, name}, a `faultline proxy` in front of its service)',
    );
  }
  for (const [field, value] of [
    ['api_url', w.proxy.api_url],
    ['proxy', w.proxy.name],
  ] as const) {
    if (args[field] !== undefined && args[field] !== value) {
      throw new FaultlineError(
        'FAULTLINE_ERR_VALIDATION',
        `arguments.${field}: the workload ${workloadRef(w)} names its proxy (${value}): leave it out`,
      );
    }
  }
  return { ...args, api_url: w.proxy.api_url, proxy: w.proxy.name };
}

/** sdk.enable_fault for a workload: its SDK, or its proxy's HTTP toxics. */
function sdkFault(args: Readonly<Record<string, unknown>>, w: Workload): AppliedFault {
  if (w.sdk) {
    return { kind: SDK_KIND, args: { ...args, service: w.sdk.service, api_url: w.sdk.control_url } };
  }
  if (!w.proxy) throw refusal(w, 'has neither an sdk nor a proxy: HTTP faults cannot reach it');
  const type = args.type as string | undefined;
  const percentage = (args.percentage as number | undefined) ?? 100;
  let toxic: { type: string; attributes: Record<string, unknown> };
  if (type === 'latency') {
    toxic = {
      type: 'http_delay',
      attributes: {
        delay: Math.round(Number(args.latency_ms ?? 0)),
        jitter: Math.round(Number(args.jitter_ms ?? 0)),
        percentage,
      },
    };
  } else if (type === 'http_error') {
    toxic = {
      type: 'http_abort',
      attributes: { status: Number(args.status ?? 500), percentage },
    };
  } else {
    throw refusal(
      w,
      `has only a proxy, whose HTTP toxics do latency and http_error, not '${String(type)}' (give the workload an sdk)`,
    );
  }
  return { kind: PROXY_TOXIC_KIND, args: { api_url: w.proxy.api_url, proxy: w.proxy.name, toxic } };
}
