/**
 * Litmus (litmuschaos.io) documents as Faultline experiments, behind the
 * ManifestFormat contract (docs/manifests/litmus.md):
 *
 *   ChaosEngine      the experiments it names, on the workloads appinfo picks (engine.ts)
 *   ChaosSchedule    its engineTemplateSpec, plus Translation.schedule (a cron for a server schedule)
 *   ChaosExperiment  a definition (image, args, env defaults): nothing to run by itself; Faultline
 *                    keeps Litmus' published defaults per experiment, so a definition that changes
 *                    one is refused naming it
 *   ChaosResult      refused: an output of a run, not an input
 *
 * plus the seeds' `chaos.litmus.io` dialect (dialect.ts).
 */
import { describe, join, list, Notes, record, string } from '../notes.js';
import type { ManifestFormat, ScheduleSuggestion, Translation } from '../types.js';
import { translateDialect } from './dialect.js';
import { translateEngineSpec } from './engine.js';
import { EXPERIMENT_NAMES, EXPERIMENTS } from './experiments.js';

const KINDS = ['ChaosEngine', 'ChaosSchedule', 'ChaosExperiment', 'ChaosResult'] as const;

function metadata(notes: Notes, doc: Record<string, unknown>): { name: string; namespace?: string } {
  const meta = record(notes, doc.metadata, 'metadata') ?? {};
  const name = string(notes, meta.name, 'metadata.name') ?? String(doc.kind ?? 'litmus');
  const namespace = string(notes, meta.namespace, 'metadata.namespace');
  if (meta.name !== undefined) notes.mapped('metadata.name', 'title');
  if (meta.namespace !== undefined)
    notes.mapped('metadata.namespace', 'targets.namespaces', "appns' default, as in Litmus");
  for (const k of ['labels', 'annotations'])
    if (meta[k] !== undefined) notes.warned(join('metadata', k), 'Kubernetes metadata: no effect on hosts');
  for (const k of Object.keys(meta))
    if (!['name', 'namespace', 'labels', 'annotations'].includes(k))
      notes.ignored(join('metadata', k), 'Kubernetes object metadata');
  return { name, ...(namespace ? { namespace } : {}) };
}

const DAYS: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

/** ChaosSchedule's `spec.schedule` as a cron timing (repeat with minChaosInterval, workHours, workDays). */
function scheduleOf(notes: Notes, v: unknown): ScheduleSuggestion | undefined {
  const s = record(notes, v, 'spec.schedule');
  if (!s) {
    notes.refused('spec.schedule', 'expected now, once or repeat');
    return undefined;
  }
  notes.rest(s, 'spec.schedule', ['now', 'once', 'repeat'], 'a ChaosSchedule schedule');
  if (s.now !== undefined) {
    notes.mapped('spec.schedule.now', 'method', 'runs once, now: no schedule');
    return undefined;
  }
  if (s.once !== undefined) {
    notes.refused(
      'spec.schedule.once',
      'a single run at a set time: start `faultline run` then (server schedules repeat)',
    );
    return undefined;
  }
  const r = record(notes, s.repeat, 'spec.schedule.repeat');
  if (!r) return undefined;
  notes.rest(r, 'spec.schedule.repeat', ['properties', 'workHours', 'workDays', 'timeRange'], 'repeat');
  if (r.timeRange !== undefined)
    notes.refused(
      'spec.schedule.repeat.timeRange',
      'a start and end date: create the server schedule paused and resume/pause it at those times',
    );
  const props = record(notes, r.properties, 'spec.schedule.repeat.properties') ?? {};
  const mci = record(notes, props.minChaosInterval, 'spec.schedule.repeat.properties.minChaosInterval');
  notes.rest(props, 'spec.schedule.repeat.properties', ['minChaosInterval'], 'properties');
  if (!mci) {
    notes.refused(
      'spec.schedule.repeat.properties.minChaosInterval',
      'expected minChaosInterval {minute: {everyNthMinute}} or {hour: {everyNthHour}}',
    );
    return undefined;
  }
  let minute = '0';
  let hour = '*';
  const mp = 'spec.schedule.repeat.properties.minChaosInterval';
  const nth = (v: unknown, key: string, p: string, max: number) => {
    const n = Number(record(notes, v, p)?.[key]);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      notes.refused(
        join(p, key),
        `expected a whole number from 1 to ${max}, got ${describe(record(notes, v, p)?.[key])}`,
      );
      return undefined;
    }
    return n;
  };
  if (mci.minute !== undefined) {
    const n = nth(mci.minute, 'everyNthMinute', join(mp, 'minute'), 59);
    if (n === undefined) return undefined;
    minute = `*/${n}`;
  } else if (mci.hour !== undefined) {
    const n = nth(mci.hour, 'everyNthHour', join(mp, 'hour'), 23);
    if (n === undefined) return undefined;
    hour = `*/${n}`;
  } else {
    notes.refused(mp, 'expected minute.everyNthMinute or hour.everyNthHour');
    return undefined;
  }
  const wh = record(notes, r.workHours, 'spec.schedule.repeat.workHours');
  if (wh) {
    const inc = string(notes, wh.includedHours, 'spec.schedule.repeat.workHours.includedHours');
    if (inc && /^\d{1,2}(?:-\d{1,2})?(?:,\d{1,2}(?:-\d{1,2})?)*$/.test(inc)) {
      if (hour !== '*') hour = `${inc}/${hour.slice(2)}`;
      else hour = inc;
      notes.mapped('spec.schedule.repeat.workHours.includedHours', 'schedule.timing.cron (hours)');
    } else
      notes.refused(
        'spec.schedule.repeat.workHours.includedHours',
        `expected hours such as 10-18, got ${describe(wh.includedHours)}`,
      );
  }
  let dow = '*';
  const wd = record(notes, r.workDays, 'spec.schedule.repeat.workDays');
  if (wd) {
    const inc = string(notes, wd.includedDays, 'spec.schedule.repeat.workDays.includedDays') ?? '';
    const days = inc.split(',').map((d) => DAYS[d.trim().slice(0, 3).toLowerCase()]);
    if (days.length && days.every((d) => d !== undefined)) {
      dow = days.join(',');
      notes.mapped('spec.schedule.repeat.workDays.includedDays', 'schedule.timing.cron (weekdays)');
    } else
      notes.refused(
        'spec.schedule.repeat.workDays.includedDays',
        `expected days such as Mon,Tue,Wed, got ${JSON.stringify(inc)}`,
      );
  }
  notes.mapped(
    mp,
    'schedule.timing.cron',
    "Litmus runs the engine at most this often; the server schedule fires on this cron, in UTC (the time zone of a cluster's controllers)",
  );
  return {
    timing: { cron: `${minute} ${hour} * * ${dow}`, timezone: 'UTC' },
    concurrencyPolicy: 'forbid',
    from: 'spec.schedule',
  };
}

/** A ChaosExperiment definition: nothing runs; env defaults that differ from Litmus' own are refused. */
function definition(notes: Notes, spec: Record<string, unknown>, name: string): void {
  const def = EXPERIMENTS[name];
  if (!def) {
    notes.refused(
      'metadata.name',
      `${name} is not an experiment Faultline translates (it knows ${EXPERIMENT_NAMES.join(', ')})`,
    );
    return;
  }
  const d = record(notes, spec.definition, 'spec.definition') ?? {};
  const env = list(notes, d.env, 'spec.definition.env') ?? [];
  // The defaults Faultline applies when an engine leaves a tunable out (experiments.ts).
  const known: Record<string, string> = { TOTAL_CHAOS_DURATION: String(def.defaultDuration) };
  env.forEach((e, i) => {
    const entry = record(notes, e, join('spec.definition.env', i)) ?? {};
    const n = String(entry.name ?? '');
    const v = String(entry.value ?? '').trim();
    const p = `spec.definition.env[${i}].value`;
    if (known[n] !== undefined && v !== '' && v !== known[n])
      notes.refused(
        p,
        `${n}: this definition's default ${JSON.stringify(v)} differs from Litmus' published ${known[n]}, which Faultline applies; set it in the ChaosEngine's env`,
      );
    else notes.ignored(p, `${n}: a default; the ChaosEngine's env sets what runs`);
  });
  for (const k of Object.keys(d))
    if (k !== 'env')
      notes.ignored(
        join('spec.definition', k),
        "the experiment pod's image, command and permissions: Faultline runs the fault itself",
      );
  notes.rest(spec, 'spec', ['definition'], 'ChaosExperiment');
  notes.warned(
    '',
    'a ChaosExperiment is a definition: it runs only when a ChaosEngine names it (nothing to run by itself)',
  );
}

export const litmus: ManifestFormat = {
  name: 'litmus',
  title: 'Litmus',
  doc: 'docs/manifests/litmus.md',
  detect: (d) =>
    typeof d.apiVersion === 'string' && /^(?:litmuschaos\.io|chaos\.litmus\.io)\//.test(d.apiVersion),
  translate(doc): Translation {
    const notes = new Notes();
    const kind = typeof doc.kind === 'string' ? doc.kind : '';
    const { name, namespace } = metadata(notes, doc);
    const dialect = typeof doc.apiVersion === 'string' && doc.apiVersion.startsWith('chaos.litmus.io/');
    const t: Translation = {
      format: 'litmus',
      kind: kind || 'Litmus',
      name,
      ...(namespace ? { namespace } : {}),
      title: `Litmus ${kind} ${name}`,
      description: `Translated from the Litmus ${kind} ${namespace ? `${namespace}/` : ''}${name}`,
      method: [],
      hold: 0,
      notes: notes.list,
    };
    const spec = record(notes, doc.spec, 'spec') ?? {};
    notes.rest(doc, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status'], 'a Litmus document');
    if (doc.status !== undefined) notes.ignored('status', 'written by Litmus, not read');
    let parts: ReturnType<typeof translateEngineSpec> | undefined;
    if (dialect && kind === 'ChaosExperiment') {
      const d = translateDialect(notes, spec, namespace);
      parts = d;
      if (d.blastRadius) t.blastRadius = d.blastRadius;
      if (d.tags.length) t.tags = d.tags;
    } else if (kind === 'ChaosEngine') {
      parts = translateEngineSpec(notes, spec, 'spec', namespace);
    } else if (kind === 'ChaosSchedule') {
      const tmpl = record(notes, spec.engineTemplateSpec, 'spec.engineTemplateSpec');
      if (!tmpl) notes.refused('spec.engineTemplateSpec', 'expected the ChaosEngine spec to run');
      else parts = translateEngineSpec(notes, tmpl, 'spec.engineTemplateSpec', namespace);
      const sched = scheduleOf(notes, spec.schedule);
      if (sched) t.schedule = sched;
      if (spec.scheduleState === 'halt') {
        if (t.schedule) t.schedule.paused = true;
        notes.mapped('spec.scheduleState', 'schedule.paused');
      } else if (spec.scheduleState !== undefined) notes.mapped('spec.scheduleState', 'schedule', 'active');
      if (spec.concurrencyPolicy !== undefined)
        notes.refused('spec.concurrencyPolicy', 'not a ChaosSchedule field Faultline knows');
      notes.rest(spec, 'spec', ['engineTemplateSpec', 'schedule', 'scheduleState'], 'ChaosSchedule');
    } else if (kind === 'ChaosExperiment') {
      definition(notes, spec, name);
    } else if (kind === 'ChaosResult') {
      notes.refused(
        'kind',
        'a ChaosResult is what a Litmus run wrote: an output, not something to run (Faultline writes its own journal)',
      );
    } else {
      notes.refused(
        'kind',
        `${describe(doc.kind)} is not a Litmus kind Faultline reads (it reads ${KINDS.join(', ')})`,
      );
    }
    if (parts) {
      t.method = parts.method;
      t.hold = parts.hold;
      if (parts.hypothesis.length) t.hypothesis = parts.hypothesis;
      if (parts.safeguards.length) t.safeguards = parts.safeguards;
      if (Object.keys(parts.runtime).length) t.runtime = parts.runtime;
      if (Object.keys(parts.configuration).length) t.configuration = parts.configuration;
    }
    return t;
  },
};
