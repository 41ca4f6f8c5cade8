/**
 * StressChaos: stressors.cpu -> `faultline.stress` cpu (workers, load),
 * stressors.memory -> stress memory (workers x size, in MiB). Chaos Mesh runs
 * stress-ng inside the pod's cgroup (bounded by its limits); Faultline's
 * worker runs on the workload's host, so it loads the host: said in a note.
 */
import { describe, join, record, string } from '../notes.js';
import {
  at,
  type Ctx,
  duration,
  faultAction,
  int,
  type Piece,
  remoteCluster,
  slug,
  type Timed,
} from './common.js';
import { asTargets, targetsOf } from './selector.js';

export const STRESS_FIELDS = [
  'selector',
  'mode',
  'value',
  'containerNames',
  'stressors',
  'stressngStressors',
  'duration',
  'remoteCluster',
];

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  k: 1e3,
  m: 1e6,
  g: 1e9,
};

/** go-humanize's ParseBytes as Chaos Mesh reads `size` (`256MB`, `1GiB`, `1024`): bytes, or undefined. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = UNITS[m[2]!.toLowerCase()];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}

export function stressChaos(ctx: Ctx, spec: Record<string, unknown>): Piece {
  const { notes } = ctx;
  notes.rest(spec, ctx.path, STRESS_FIELDS, 'Chaos Mesh StressChaos');
  remoteCluster(ctx, spec);
  const targets = asTargets(targetsOf(ctx, spec));
  if (spec.containerNames !== undefined)
    notes.ignored(
      at(ctx, 'containerNames'),
      "Faultline's stress worker loads the workload's host, not one container's cgroup",
    );
  if (spec.stressngStressors !== undefined)
    notes.refused(
      at(ctx, 'stressngStressors'),
      'Faultline does not run stress-ng: use stressors.cpu / stressors.memory',
    );
  const seconds = duration(ctx, spec);
  const sp = at(ctx, 'stressors');
  const stressors = record(notes, spec.stressors, sp);
  if (!stressors) {
    if (spec.stressors === undefined) notes.refused(sp, 'expected stressors (cpu and/or memory)');
    return { timeline: [], span: seconds };
  }
  notes.rest(stressors, sp, ['cpu', 'memory'], 'Chaos Mesh stressors');
  const where =
    "Chaos Mesh runs stress-ng in the pod's cgroup, bounded by its limits; Faultline's worker runs on the workload's host and loads the host";
  const timeline: Timed[] = [];
  const name = slug(ctx.name);

  const cpu = record(notes, stressors.cpu, join(sp, 'cpu'));
  if (cpu) {
    const p = join(sp, 'cpu');
    notes.rest(cpu, p, ['workers', 'load', 'options'], 'Chaos Mesh cpu stressor');
    const workers = int(notes, cpu.workers, join(p, 'workers'), 1, 1024);
    if (cpu.workers === undefined) notes.refused(join(p, 'workers'), 'expected the number of workers');
    const load = cpu.load === undefined ? undefined : int(notes, cpu.load, join(p, 'load'), 0, 100);
    options(ctx, cpu.options, join(p, 'options'));
    if (workers !== undefined) {
      notes.mapped(join(p, 'workers'), 'arguments.workers', where);
      if (load !== undefined) notes.mapped(join(p, 'load'), 'arguments.load', 'busy this % of every 100 ms');
      if (load === 0) notes.refused(join(p, 'load'), "0 adds no load: Faultline's load is above 0 to 100");
      else
        timeline.push({
          at: 0,
          activity: faultAction(
            `${name}-cpu`,
            'stress',
            'cpu',
            { workers, load: load ?? 100, duration: seconds },
            targets,
          ),
        });
    }
  }
  const mem = record(notes, stressors.memory, join(sp, 'memory'));
  if (mem) {
    const p = join(sp, 'memory');
    notes.rest(mem, p, ['workers', 'size', 'oomScoreAdj', 'options'], 'Chaos Mesh memory stressor');
    const workers = int(notes, mem.workers, join(p, 'workers'), 1, 1024);
    if (mem.workers === undefined) notes.refused(join(p, 'workers'), 'expected the number of workers');
    options(ctx, mem.options, join(p, 'options'));
    if (
      mem.oomScoreAdj !== undefined &&
      int(notes, mem.oomScoreAdj, join(p, 'oomScoreAdj'), -1000, 1000) !== undefined
    )
      notes.ignored(
        join(p, 'oomScoreAdj'),
        "Faultline refuses to take more than 80% of the host's available memory instead of steering the OOM killer",
      );
    const size = string(notes, mem.size, join(p, 'size'));
    let mb: number | undefined;
    if (size === undefined)
      notes.refused(
        join(p, 'size'),
        "expected a size such as 256MB: Faultline takes no default (Chaos Mesh's is all available memory)",
      );
    else if (size.trim().endsWith('%'))
      notes.refused(join(p, 'size'), 'a share of memory: Faultline needs a size such as 256MB');
    else {
      const bytes = parseBytes(size);
      if (bytes === undefined || bytes <= 0)
        notes.refused(join(p, 'size'), `expected a size such as 256MB or 1GiB, got ${describe(mem.size)}`);
      else mb = Math.ceil(bytes / 2 ** 20);
    }
    if (workers !== undefined && mb !== undefined) {
      notes.mapped(
        join(p, 'size'),
        'arguments.mb',
        `workers x size = ${workers * mb} MiB, held by one worker; ${where}`,
      );
      notes.mapped(join(p, 'workers'), 'arguments.mb', 'multiplies size');
      timeline.push({
        at: 0,
        activity: faultAction(
          `${name}-memory`,
          'stress',
          'memory',
          { mb: workers * mb, duration: seconds },
          targets,
        ),
      });
    }
  }
  if (!cpu && !mem) notes.refused(sp, 'expected a cpu or memory stressor');
  return { timeline, span: seconds };
}

function options(ctx: Ctx, v: unknown, path: string): void {
  if (v === undefined) return;
  if (Array.isArray(v) && v.length === 0) ctx.notes.ignored(path, 'empty');
  else
    ctx.notes.refused(
      path,
      "stress-ng options: Faultline's stress worker is not stress-ng and takes only workers and load/size: remove them",
    );
}
