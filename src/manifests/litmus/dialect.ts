/**
 * The seeds' Litmus dialect (seed 004): `apiVersion: chaos.litmus.io/v1alpha1,
 * kind: ChaosExperiment` with `spec.engine {appns, appLabel,
 * chaosServiceAccount}` and `spec.experiment.components.env` (FAULT_TYPE,
 * ERROR_CODE, PERCENTAGE, BLAST_RADIUS, AUTO_ROLLBACK, SLO_CHECK). It is not
 * real Litmus (no such API group or fields exist there); it is read as
 * documented in docs/manifests/litmus.md so the seed runs:
 *
 *   FAULT_TYPE http_error  -> faultline.http fault, type http_error (requests TO the workload, through
 *                             the Faultline proxy its workloads entry names)
 *   ERROR_CODE / PERCENTAGE -> status / percentage
 *   BLAST_RADIUS N          -> blast_radius.max_targets N
 *   AUTO_ROLLBACK true      -> noted (Faultline always reverts); false is refused
 *   SLO_CHECK 'm >= 0.95'   -> a Prometheus safeguard on `m` against ${prometheus_url}
 */
import type { Targets } from '../../core/fleet.js';
import { parseSelector } from '../../core/fleet.js';
import { faultAction } from '../activity.js';
import { join, type Notes, record, string } from '../notes.js';
import type { Safeguard } from '../types.js';
import type { EngineParts } from './engine.js';
import { Env } from './env.js';
import { numericTolerance } from './probes.js';

export interface DialectParts extends EngineParts {
  blastRadius?: { max_targets: number };
  tags: string[];
}

const FAULT_TYPES = ['http_error', 'latency'] as const;

export function translateDialect(
  notes: Notes,
  spec: Record<string, unknown>,
  namespace: string | undefined,
): DialectParts {
  const parts: DialectParts = {
    method: [],
    hold: 0,
    hypothesis: [],
    safeguards: [],
    runtime: {},
    configuration: {},
    tags: [],
  };
  notes.warned(
    'apiVersion',
    "chaos.litmus.io is not a Litmus API group (Litmus is litmuschaos.io): read as the seeds' dialect, docs/manifests/litmus.md",
  );
  const engine = record(notes, spec.engine, 'spec.engine') ?? {};
  const appns = string(notes, engine.appns, 'spec.engine.appns') || namespace;
  const labelKey = engine.appLabel !== undefined ? 'appLabel' : 'applabel';
  const label = string(notes, engine[labelKey], `spec.engine.${labelKey}`);
  if (!appns)
    notes.refused(
      'spec.engine.appns',
      'expected the namespace of the app: without it any workload of the fleet could be hit',
    );
  else notes.mapped('spec.engine.appns', 'targets.namespaces');
  let selector = {};
  if (label) {
    try {
      selector = parseSelector(label, `spec.engine.${labelKey}`);
      notes.mapped(`spec.engine.${labelKey}`, 'targets.selector');
    } catch (err) {
      notes.refused(`spec.engine.${labelKey}`, (err as Error).message);
    }
  }
  if (engine.chaosServiceAccount !== undefined)
    notes.warned('spec.engine.chaosServiceAccount', 'Kubernetes RBAC: agents act with their own privileges');
  notes.rest(
    engine,
    'spec.engine',
    ['appns', 'appLabel', 'applabel', 'chaosServiceAccount'],
    'the dialect engine',
  );

  const experiment = record(notes, spec.experiment, 'spec.experiment') ?? {};
  notes.rest(spec, 'spec', ['engine', 'experiment'], 'the dialect');
  notes.rest(experiment, 'spec.experiment', ['components', 'annotations'], 'the dialect experiment');
  const annotations = record(notes, experiment.annotations, 'spec.experiment.annotations') ?? {};
  for (const [k, v] of Object.entries(annotations)) {
    const p = join('spec.experiment.annotations', k);
    if (/(^|\/)experiment-id$/.test(k) && typeof v === 'string' && v.trim()) {
      parts.tags.push(`experiment-id:${v.trim()}`);
      notes.mapped(p, 'tags', 'the experiment id, as a tag on the run');
    } else notes.warned(p, 'a Kubernetes annotation: no effect on hosts');
  }
  const components = record(notes, experiment.components, 'spec.experiment.components') ?? {};
  notes.rest(components, 'spec.experiment.components', ['env'], 'components');
  const env = new Env(notes, components.env, 'spec.experiment.components.env');
  const duration = env.int('TOTAL_CHAOS_DURATION', 60, 1, 7 * 24 * 3600);
  const type = env.choice('FAULT_TYPE', FAULT_TYPES, 'http_error');
  const code = env.int('ERROR_CODE', type === 'http_error' ? 500 : undefined, 100, 599);
  const latency = env.int('LATENCY', type === 'latency' ? 2000 : undefined, 0, 600_000);
  const percentage = env.num('PERCENTAGE', 100, 0, 100);
  const blast = env.int('BLAST_RADIUS', undefined, 1, 100_000);
  const rollback = env.bool('AUTO_ROLLBACK', true);
  const slo = env.text('SLO_CHECK');
  env.leftovers('the dialect', [
    'TOTAL_CHAOS_DURATION',
    'FAULT_TYPE',
    'ERROR_CODE',
    'LATENCY',
    'PERCENTAGE',
    'BLAST_RADIUS',
    'AUTO_ROLLBACK',
    'SLO_CHECK',
  ]);
  if (rollback === false)
    env.refuse(
      'AUTO_ROLLBACK',
      'false: Faultline always reverts its faults at the end of the run (and on any stop); it cannot leave one behind',
    );
  else
    env.mapped(
      'AUTO_ROLLBACK',
      'faults reverted',
      'Faultline always reverts its faults, at the end, on a safeguard breach or a halt',
    );
  if (blast !== undefined) {
    parts.blastRadius = { max_targets: blast };
    env.mapped('BLAST_RADIUS', 'blast_radius.max_targets', 'at most this many workloads hit at once');
  }
  if (slo !== undefined) {
    const m = /^\s*([A-Za-z_:][A-Za-z0-9_:]*(?:\{[^}]*\})?)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(
      slo,
    );
    const at = env.at('SLO_CHECK')!;
    if (!m)
      notes.refused(
        at,
        `SLO_CHECK: expected "metric OP number" such as checkout_success_rate >= 0.95, got ${JSON.stringify(slo)}`,
      );
    else {
      const tolerance = numericTolerance(notes, m[2]!, m[3]!, at);
      if (tolerance) {
        parts.configuration.prometheus_url = 'http://localhost:9090';
        parts.safeguards.push({
          type: 'probe',
          name: `slo-${m[1]!.replace(/[^A-Za-z0-9_]+/g, '-')}`,
          provider: {
            type: 'faultline',
            module: 'faultline.prometheus',
            func: 'query',
            arguments: { query: m[1]!, url: '${prometheus_url}', as: 'number' },
          },
          tolerance,
          frequency: 5,
        } as Safeguard);
        notes.mapped(
          at,
          'safeguards',
          `a Prometheus query of ${m[1]} checked every 5 s, the run stopped (faults reverted) when it is not ${m[2]} ${m[3]}; set --var prometheus_url=http://PROMETHEUS:9090 (default http://localhost:9090)`,
        );
      }
    }
  }
  if (duration === undefined || type === undefined || percentage === undefined || !appns) return parts;
  if ((type === 'http_error' && code === undefined) || (type === 'latency' && latency === undefined))
    return parts;
  env.mapped('TOTAL_CHAOS_DURATION', 'arguments.duration');
  env.mapped(
    'FAULT_TYPE',
    'faultline.http fault type',
    'on the requests to the workload, through the Faultline proxy in front of it',
  );
  env.mapped('ERROR_CODE', 'arguments.status');
  env.mapped('LATENCY', 'arguments.latency_ms');
  env.mapped('PERCENTAGE', 'arguments.percentage', 'the share of requests that fail');
  const targets: Targets = { on: 'workloads', namespaces: [appns], selector, mode: 'one' };
  const args: Record<string, unknown> =
    type === 'http_error'
      ? { type, status: code, percentage, duration }
      : { type, latency_ms: latency, percentage, duration };
  parts.method.push(
    faultAction(`${type.replace('_', '-')}-${code ?? latency}`, 'http', 'fault', args, targets),
  );
  parts.hold = duration;
  return parts;
}
