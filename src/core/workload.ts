/**
 * Workloads (issue #19): what an agent hosts, named and labelled the way
 * Kubernetes names and labels pods, so the selectors other tools write
 * (Chaos Mesh's `namespaces` + `labelSelectors`, Litmus' `appns`/`applabel`,
 * AWS FIS `ResourceTags`) find targets on plain hosts. An agent reads them
 * from its `--workloads FILE`; its record carries a summary of each
 * (WorkloadSummary) so a controller can select workloads across the fleet, and
 * the agent alone resolves a workload to processes and a network namespace
 * when a fault names it (src/fleet/workloads.ts).
 *
 * The file (YAML or JSON):
 *
 *   workloads:
 *     - name: payment-service
 *       namespace: payment
 *       labels: {app: payment-service, tier: backend}
 *       processes: {pidfile: /run/payment.pid}   # or name / pattern / cgroup
 *       containers:                               # optional: Chaos Mesh containerNames
 *         sidecar: {name: envoy}
 *       netns: payment                            # `ip netns` name; absent: the host's namespace
 *       addresses: [10.0.0.2]                     # where others reach it (partition targets)
 *       ports: [8080]
 *       http: {url: http://10.0.0.2:8080}         # its HTTP endpoint (probes, Istio hosts)
 *       sdk: {service: payment, control_url: http://127.0.0.1:8474}   # its in-process SDK
 *       proxy: {api_url: http://127.0.0.1:8474, name: payment}        # a Faultline proxy in front of it
 */
import { z } from 'zod';
import { KEY_PATTERN, VALUE_PATTERN } from './fleet.js';

/** A Kubernetes name (RFC 1123 label): what `namespace` and workload names follow. */
export const K8S_NAME_PATTERN = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
export const DEFAULT_WORKLOAD_NAMESPACE = 'default';

const K8sName = (what: string) =>
  z
    .string({ error: `expected a ${what} (lowercase letters, digits and -, at most 63)` })
    .regex(K8S_NAME_PATTERN, {
      error: `expected a ${what} (lowercase letters, digits and -, at most 63, starting and ending alphanumeric)`,
    });

export const WorkloadNameSchema = K8sName('workload name');
export const NamespaceNameSchema = K8sName('namespace');

const Labels = z.record(
  z
    .string()
    .regex(KEY_PATTERN, { error: 'expected a label key (letters, digits, -, _, ., optional prefix/)' }),
  z.string().regex(VALUE_PATTERN, { error: 'expected a label value (letters, digits, -, _, ., at most 63)' }),
);

/**
 * How to find a workload's processes: exactly one way. `cgroup` is a path
 * under /sys/fs/cgroup (cgroup v2) whose `cgroup.procs` lists them; the others
 * are the process faults' own selectors (src/faults/process/select.ts).
 */
export const ProcessFinderSchema = z
  .strictObject({
    pidfile: z.string().min(1).optional().describe('a file holding the main process id'),
    name: z.string().min(1).max(15).optional().describe('exact process name (/proc/<pid>/comm)'),
    pattern: z.string().min(1).max(1024).optional().describe('regex (RE2) over the full command line'),
    cgroup: z
      .string()
      .regex(/^[A-Za-z0-9_.@:/-]{1,512}$/, {
        error: 'expected a cgroup path such as system.slice/payment.service',
      })
      .refine((p) => !p.split('/').includes('..'), { error: 'expected a cgroup path without ..' })
      .optional()
      .describe('cgroup v2 path under /sys/fs/cgroup whose cgroup.procs lists the processes'),
  })
  .refine((f) => [f.pidfile, f.name, f.pattern, f.cgroup].filter((v) => v !== undefined).length === 1, {
    error: 'expected exactly one of pidfile, name, pattern or cgroup',
  });
export type ProcessFinder = z.output<typeof ProcessFinderSchema>;

const HttpUrl = z
  .string()
  .url({ error: 'expected an http(s) URL' })
  .refine((u) => /^https?:\/\//i.test(u), { error: 'expected an http(s) URL' });

export const WorkloadSchema = z.strictObject({
  name: WorkloadNameSchema,
  namespace: NamespaceNameSchema.default(DEFAULT_WORKLOAD_NAMESPACE),
  labels: Labels.default({}),
  /** Absent: the workload has no processes Faultline may signal (process and pod faults refuse it). */
  processes: ProcessFinderSchema.optional(),
  containers: z.record(K8sName('container name'), ProcessFinderSchema).optional(),
  netns: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/, { error: 'expected an `ip netns` name' })
    .optional()
    .describe("`ip netns` name of the workload's network; absent: the host's namespace"),
  interface: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$/, { error: 'expected an interface name such as eth0' })
    .optional()
    .describe(
      "the interface netem faults shape (e.g. the veth inside netns); absent: the namespace's only non-loopback one",
    ),
  addresses: z
    .array(
      z.string().refine((a) => /^[0-9a-fA-F:.]+(?:\/\d{1,3})?$/.test(a), { error: 'expected an IP address' }),
    )
    .default([]),
  ports: z.array(z.number().int().min(1).max(65535)).default([]),
  http: z.strictObject({ url: HttpUrl }).optional(),
  sdk: z.strictObject({ service: z.string().min(1).max(128), control_url: HttpUrl }).optional(),
  proxy: z.strictObject({ api_url: HttpUrl, name: z.string().min(1).max(128) }).optional(),
});
export type Workload = z.output<typeof WorkloadSchema>;

export const WorkloadsFileSchema = z
  .strictObject({ workloads: z.array(WorkloadSchema).max(1000) })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.workloads.forEach((w, i) => {
      const key = `${w.namespace}/${w.name}`;
      if (seen.has(key))
        ctx.addIssue({ code: 'custom', path: ['workloads', i, 'name'], message: `${key} twice` });
      seen.add(key);
    });
  });
export type WorkloadsFile = z.output<typeof WorkloadsFileSchema>;

/** What an agent's record tells controllers about a workload (selection and display; no process details). */
export const WorkloadSummarySchema = z.object({
  name: z.string(),
  namespace: z.string(),
  labels: z.record(z.string(), z.string()),
  addresses: z.array(z.string()).default([]),
  ports: z.array(z.number()).default([]),
  /** Which fault families it can take: `process` (has processes), `http` (sdk or proxy), `network` (always). */
  offers: z.array(z.enum(['process', 'network', 'http'])).default(['network']),
  http: z.string().optional(),
});
export type WorkloadSummary = z.output<typeof WorkloadSummarySchema>;

/** `namespace/name`: how journals, events and errors name a workload. */
export const workloadRef = (w: { namespace: string; name: string }) => `${w.namespace}/${w.name}`;

export function summarize(w: Workload): WorkloadSummary {
  const offers: WorkloadSummary['offers'] = ['network'];
  if (w.processes || w.containers) offers.unshift('process');
  if (w.sdk || w.proxy) offers.push('http');
  return {
    name: w.name,
    namespace: w.namespace,
    labels: w.labels,
    addresses: w.addresses,
    ports: w.ports,
    offers,
    ...(w.http ? { http: w.http.url } : {}),
  };
}

/**
 * The argument names an agent fills from the workload a fault is aimed at (its network namespace
 * and interface, its process finder, its SDK service and control URL, its proxy's control URL and
 * name): an action whose `targets`
 * pick workloads may leave them out, so validation and the action's own parse let their absence
 * pass. The agent parses the filled arguments with the kind's full schema before anything acts.
 */
export const WORKLOAD_FILLED_ARGUMENTS = [
  'namespace',
  'interface',
  'pid',
  'pidfile',
  'name',
  'pattern',
  'cgroup',
  'service',
  'api_url',
  'proxy',
] as const;

/**
 * Whether an issue of a fault's `args` (its path relative to them) is only the absence of what a
 * workload fills: a filled field left out, or the process faults' "expected one of pid, ..." (no
 * selector given). A filled field given with a wrong value is still an issue.
 */
export function filledByWorkload(args: unknown, path: readonly PropertyKey[], message: string): boolean {
  // `containers` (Chaos Mesh's containerNames) is read by the agent against the workload's containers.
  if (path.length === 0)
    return /^expected one of pid\b/.test(message) || message === 'Unrecognized key: "containers"';
  const key = path[0]!;
  return (
    path.length === 1 &&
    (WORKLOAD_FILLED_ARGUMENTS as readonly PropertyKey[]).includes(key) &&
    (typeof args !== 'object' || args === null || (args as Record<PropertyKey, unknown>)[key] === undefined)
  );
}
