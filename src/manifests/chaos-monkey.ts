/**
 * A Chaos Monkey configuration (docs/manifests/chaos-monkey.md) as a
 * Monkey-mode server schedule (src/schedule, docs/continuous.md#chaos-monkey-mode)
 * of an experiment that kills one random workload: `chaosmonkey:` at the top
 * of a YAML/JSON document, or inside a Kubernetes ConfigMap's data (a YAML
 * string). The working hours and days come from the schedule's cron (6
 * fields, seconds first: `0 0 9-17 * * MON-FRI`) or Netflix's start_hour /
 * end_hour / time_zone; `kill.probability` and
 * `meanTimeBetweenKillsInWorkDays` are the monkey timing's own numbers.
 */

import { VALUE_PATTERN } from '../core/fleet.js';
import { parseText } from '../core/parse.js';
import type { Activity } from '../core/schema.js';
import { K8S_NAME_PATTERN } from '../core/workload.js';
import { cronProblem } from '../schedule/cron.js';
import { type MonkeyTiming, MonkeyTimingSchema } from '../schedule/index.js';
import { faultAction } from './activity.js';
import { describe, isRecord, join, list, Notes, record, string } from './notes.js';
import type { ManifestFormat, Translation } from './types.js';

// Agent label keys are letters, digits, - and _ (they name NATS subjects): Kubernetes'
// topology.kubernetes.io/region cannot be one, so the region is the plain `region` label.
const REGION_LABEL = 'region';
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** A ConfigMap data entry that holds a Chaos Monkey config. */
const configKey = (d: Record<string, unknown>): string | undefined =>
  d.kind === 'ConfigMap' && isRecord(d.data)
    ? Object.keys(d.data).find((k) => {
        const v = (d.data as Record<string, unknown>)[k];
        return typeof v === 'string' && /^chaosmonkey\s*:/m.test(v);
      })
    : undefined;

function detect(d: Record<string, unknown>): boolean {
  return (isRecord(d.chaosmonkey) && !('apiVersion' in d)) || configKey(d) !== undefined;
}

/** The weekday field of a cron (`MON-FRI`, `1-5`, `mon,wed`, `*`) as days, or undefined. */
function weekdays(field: string): (typeof DAYS)[number][] | undefined {
  if (field === '*' || field === '?') return [...DAYS];
  const index = (t: string) => {
    const n = /^\d$/.test(t)
      ? Number(t) % 7
      : DAYS.indexOf(t.toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
    return n >= 0 && n <= 6 ? n : undefined;
  };
  const out = new Set<number>();
  for (const part of field.split(',')) {
    const [a, b] = part.split('-');
    const from = index(a ?? '');
    const to = b === undefined ? from : index(b);
    if (from === undefined || to === undefined) return undefined;
    for (let d = from; ; d = (d + 1) % 7) {
      out.add(d);
      if (d === to) break;
    }
  }
  return [...out].sort().map((d) => DAYS[d]!);
}

const hh = (h: number) => `${String(h).padStart(2, '0')}:00`;

function translate(doc: Record<string, unknown>): Translation {
  const notes = new Notes();
  let cfg: Record<string, unknown> | undefined;
  let base = '';
  let name = 'chaosmonkey';
  let namespace: string | undefined;
  const key = configKey(doc);
  if (key !== undefined) {
    base = join('data', key);
    notes.mapped('kind', 'the experiment', 'a ConfigMap holding a Chaos Monkey config');
    for (const k of Object.keys(doc)) {
      if (k === 'metadata') {
        const meta = record(notes, doc.metadata, 'metadata') ?? {};
        name = string(notes, meta.name, 'metadata.name') ?? name;
        namespace = string(notes, meta.namespace, 'metadata.namespace');
        for (const mk of Object.keys(meta)) {
          const p = join('metadata', mk);
          if (mk === 'name') notes.mapped(p, 'title');
          else if (mk === 'namespace')
            notes.ignored(
              p,
              'where the ConfigMap lives, not which workloads the monkey picks (that is accounts)',
            );
          else notes.warned(p, 'Kubernetes plumbing');
        }
      } else if (k === 'data') {
        for (const dk of Object.keys(doc.data as object))
          if (dk !== key) notes.ignored(join('data', dk), 'another file of the ConfigMap');
      } else if (k !== 'kind') notes.ignored(k, 'Kubernetes plumbing');
    }
    try {
      const parsed = parseText((doc.data as Record<string, string>)[key]!, 'yaml', base).value;
      cfg = record(notes, parsed, base);
    } catch (err) {
      notes.refused(base, (err as Error).message);
    }
  } else cfg = doc;
  if (cfg && key === undefined) {
    for (const k of Object.keys(cfg))
      if (k !== 'chaosmonkey') notes.refused(k, 'unknown field: a Chaos Monkey config has only chaosmonkey');
  } else if (cfg) {
    for (const k of Object.keys(cfg))
      if (k !== 'chaosmonkey')
        notes.refused(join(base, k), 'unknown field: a Chaos Monkey config has only chaosmonkey');
  }
  const path = join(base, 'chaosmonkey');
  const cm = record(notes, cfg?.chaosmonkey, path) ?? {};
  const at = (k: string) => join(path, k);
  const handled = new Set<string>();
  const take = (k: string) => {
    handled.add(k);
    return cm[k];
  };

  let paused = false;
  const enabled = take('enabled');
  if (enabled !== undefined) {
    if (typeof enabled !== 'boolean')
      notes.refused(at('enabled'), `expected true or false, got ${describe(enabled)}`);
    else {
      paused = !enabled;
      notes.mapped(
        at('enabled'),
        'schedule.paused',
        enabled ? undefined : 'a disabled monkey is a paused schedule',
      );
    }
  }
  for (const k of ['schedule_enabled']) {
    const v = take(k);
    if (typeof v === 'boolean') {
      paused ||= !v;
      notes.mapped(at(k), 'schedule.paused');
    } else if (v !== undefined) notes.refused(at(k), `expected true or false, got ${describe(v)}`);
  }
  const leashed = take('leashed');
  if (leashed === true)
    notes.refused(
      at('leashed'),
      'a leashed monkey only pretends: Faultline has no such mode for schedules (faultline validate shows what would run); set leashed: false',
    );
  else if (leashed !== undefined) notes.mapped(at('leashed'), 'the kill', 'unleashed: it kills');

  // Working hours and days: the cron's hour and weekday fields, or Netflix's start_hour/end_hour.
  let start = 9;
  let end = 17;
  let days: (typeof DAYS)[number][] = ['mon', 'tue', 'wed', 'thu', 'fri'];
  let timezone = 'UTC';
  let hoursFrom = "Netflix's defaults 09:00-17:00, Monday to Friday";
  const schedule = record(notes, take('schedule'), at('schedule'));
  if (schedule) {
    const sp = at('schedule');
    for (const k of Object.keys(schedule))
      if (!['type', 'path', 'timezone'].includes(k))
        notes.refused(join(sp, k), 'unknown field: a schedule has type, path and timezone');
    const type = string(notes, schedule.type, join(sp, 'type'));
    if (type !== undefined && type !== 'cron')
      notes.refused(join(sp, 'type'), `expected cron, got ${JSON.stringify(type)}`);
    else if (type) notes.mapped(join(sp, 'type'), 'schedule.timing.monkey');
    const cron = string(notes, schedule.path, join(sp, 'path'));
    if (cron !== undefined) {
      const problem = cronProblem(cron);
      const fields = cron.trim().split(/\s+/);
      const hour = fields.length === 6 ? fields[2] : fields.length === 5 ? fields[1] : undefined;
      const dow = fields.length >= 5 ? fields[fields.length - 1] : undefined;
      const range = hour === undefined ? undefined : /^(\d{1,2})(?:-(\d{1,2}))?$/.exec(hour);
      const d = dow === undefined ? undefined : weekdays(dow);
      if (problem) notes.refused(join(sp, 'path'), problem);
      else if (!range || !d || Number(range[1]) > 23 || Number(range[2] ?? range[1]) > 23) {
        notes.refused(
          join(sp, 'path'),
          `expected a cron whose hour field is a range (9-17) and weekday field days (MON-FRI): Chaos Monkey mode strikes within working hours, got ${JSON.stringify(cron)}`,
        );
      } else {
        start = Number(range[1]);
        const last = Number(range[2] ?? range[1]);
        // The cron's last firing is at the start of its last hour; a range of one hour is that whole hour.
        end = last > start ? last : last + 1;
        days = d;
        hoursFrom = `the cron ${cron}: working hours ${hh(start)}-${hh(end)}, ${days.join(', ')} (the monkey strikes once at a random second within them, not at each firing)`;
        notes.mapped(join(sp, 'path'), 'schedule.timing.monkey.workingHours, workingDays', hoursFrom);
      }
    }
    const tz = string(notes, schedule.timezone, join(sp, 'timezone'));
    if (tz !== undefined) {
      timezone = tz;
      notes.mapped(join(sp, 'timezone'), 'schedule.timing.monkey.timezone');
    }
  }
  for (const k of ['start_hour', 'end_hour']) {
    const v = take(k);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 24) {
      notes.refused(at(k), `expected an hour from 0 to 24, got ${describe(v)}`);
      continue;
    }
    if (k === 'start_hour') start = v;
    else end = v;
    notes.mapped(at(k), `schedule.timing.monkey.workingHours.${k === 'start_hour' ? 'start' : 'end'}`);
  }
  const tz = take('time_zone');
  if (tz !== undefined) {
    const s = string(notes, tz, at('time_zone'));
    if (s) {
      timezone = s;
      notes.mapped(at('time_zone'), 'schedule.timing.monkey.timezone');
    }
  }
  if (timezone === 'UTC' && !schedule?.timezone && tz === undefined)
    notes.mapped(path, 'schedule.timing.monkey.timezone', 'no time zone given: UTC');

  // Which workloads: each account names a namespace (an isolated environment, as an AWS account is).
  const targetsList: { targets: Record<string, unknown>; from: string }[] = [];
  const accounts = list(notes, take('accounts'), at('accounts'));
  for (const [i, raw] of (accounts ?? []).entries()) {
    const p = join(at('accounts'), i);
    const acct = typeof raw === 'string' ? { name: raw } : record(notes, raw, p);
    if (!acct) continue;
    const matchLabels: Record<string, string> = {};
    const t: Record<string, unknown> = { on: 'workloads', mode: 'one' };
    let ok = true;
    for (const [k, v] of Object.entries(acct)) {
      const kp = typeof raw === 'string' ? p : join(p, k);
      const s = string(notes, v, kp);
      if (s === undefined) {
        ok = false;
        continue;
      }
      if (k === 'name') {
        if (!K8S_NAME_PATTERN.test(s)) {
          notes.refused(
            kp,
            `account ${JSON.stringify(s)} is not a namespace name (lowercase letters, digits, -)`,
          );
          ok = false;
        } else {
          t.namespaces = [s];
          notes.mapped(
            kp,
            `method[${targetsList.length}].targets.namespaces`,
            'an account is an isolated environment: the workloads of that namespace',
          );
        }
      } else if (k === 'region') {
        if (!VALUE_PATTERN.test(s)) {
          notes.refused(kp, 'expected a region name (a label value)');
          ok = false;
        } else {
          t.agentSelector = { matchExpressions: [{ key: REGION_LABEL, operator: 'In', values: [s] }] };
          notes.mapped(
            kp,
            `method[${targetsList.length}].targets.agentSelector`,
            `agents labelled ${REGION_LABEL}=${s}`,
          );
        }
      } else if (k === 'stack' || k === 'detail' || k === 'app') {
        if (s === '*' || s === '')
          notes.mapped(kp, `method[${targetsList.length}].targets.selector`, `any ${k}`);
        else if (!VALUE_PATTERN.test(s)) {
          notes.refused(kp, `expected a ${k} name (a label value) or *`);
          ok = false;
        } else {
          matchLabels[k] = s;
          notes.mapped(
            kp,
            `method[${targetsList.length}].targets.selector.matchLabels.${k}`,
            `workloads labelled ${k}=${s}`,
          );
        }
      } else if (k === 'owner')
        notes.ignored(
          kp,
          "Chaos Monkey mails the owner; Faultline's server notifies through its webhooks (docs/continuous.md#notifications)",
        );
      else {
        notes.refused(kp, 'unknown field: an account has name, region, stack, detail, app and owner');
        ok = false;
      }
    }
    if (ok)
      targetsList.push({
        targets: { ...t, selector: Object.keys(matchLabels).length ? { matchLabels } : {} },
        from: p,
      });
  }
  if (accounts === undefined) {
    targetsList.push({ targets: { on: 'workloads', selector: {}, mode: 'one' }, from: path });
    notes.warned(
      at('accounts'),
      'no accounts: the monkey picks among every workload of the fleet (the blast radius settings still apply)',
    );
  }

  const kill = record(notes, take('kill'), at('kill'));
  let probability = 1;
  let mean: number | undefined;
  if (kill) {
    const kp = at('kill');
    for (const k of Object.keys(kill)) {
      const p = join(kp, k);
      const v = kill[k];
      if (k === 'enabled') {
        if (v === false)
          notes.refused(
            p,
            "kill disabled: the monkey would do nothing (Faultline's monkey only kills); remove the config or set enabled: false at the top to keep it paused",
          );
        else if (v !== true) notes.refused(p, `expected true or false, got ${describe(v)}`);
        else notes.mapped(p, 'method', 'a process kill of one random workload');
      } else if (k === 'probability') {
        if (typeof v !== 'number' || !(v > 0 && v <= 1))
          notes.refused(p, `expected a probability above 0 and at most 1, got ${describe(v)}`);
        else {
          probability = v;
          notes.mapped(p, 'schedule.timing.monkey.probability', 'the chance a planned kill goes ahead');
        }
      } else if (k === 'meanTimeBetweenKillsInWorkDays') {
        if (typeof v !== 'number' || !(v >= 1 && v <= 1000))
          notes.refused(p, `expected a number of working days from 1 to 1000, got ${describe(v)}`);
        else {
          mean = v;
          notes.mapped(p, 'schedule.timing.monkey.meanTimeBetweenRunsInWorkDays');
        }
      } else if (k === 'minTimeBetweenKillsInWorkDays') {
        notes.refused(
          p,
          'Chaos Monkey mode has no minimum gap between runs (each working day rolls its own dice): remove it',
        );
      } else
        notes.refused(p, 'unknown field: kill has enabled, probability and meanTimeBetweenKillsInWorkDays');
    }
  }
  const spinnaker = take('spinnaker');
  if (spinnaker !== undefined)
    notes.ignored(
      at('spinnaker'),
      "Spinnaker is where Netflix's monkey finds apps and instances; Faultline finds workloads through its agents",
    );
  for (const k of Object.keys(cm)) {
    if (!handled.has(k))
      notes.refused(
        at(k),
        'unknown field: a Chaos Monkey config has enabled, schedule, accounts, kill, spinnaker, leashed, start_hour, end_hour, time_zone',
      );
  }

  const timing = {
    monkey: {
      timezone,
      workingHours: { start: hh(start), end: end >= 24 ? '23:59' : hh(end) },
      workingDays: days,
      meanTimeBetweenRunsInWorkDays: mean ?? 2,
      probability,
    },
  };
  const checked = MonkeyTimingSchema.safeParse(timing);
  if (!checked.success) {
    for (const issue of checked.error.issues)
      notes.refused(
        schedule ? at('schedule') : path,
        `the monkey timing ${issue.path.join('.')}: ${issue.message}`,
      );
  }

  // Chaos Monkey terminates an instance: nothing gets to shut down cleanly.
  const method: Activity[] = targetsList.map(({ targets }, i) =>
    faultAction(
      targetsList.length > 1 ? `chaos-monkey-kill-${i + 1}` : 'chaos-monkey-kill',
      'process',
      'kill',
      { signal: 'SIGKILL' },
      targets as Record<string, unknown>,
    ),
  );

  return {
    format: 'chaos-monkey',
    kind: 'ChaosMonkey',
    name,
    ...(namespace ? { namespace } : {}),
    title: `Chaos Monkey: ${name}`,
    description: `Translated from a Chaos Monkey config: kill one random workload${targetsList.length > 1 ? ' of each account' : ''}, on a Chaos Monkey-mode schedule (${hoursFrom})`,
    method,
    hold: 0,
    schedule: {
      timing: (checked.success ? checked.data : timing) as MonkeyTiming,
      ...(paused ? { paused } : {}),
      from: path,
    },
    tags: ['chaos-monkey'],
    notes: notes.list,
  };
}

export const chaosMonkey: ManifestFormat = {
  name: 'chaos-monkey',
  title: 'Chaos Monkey',
  doc: 'docs/manifests/chaos-monkey.md',
  detect,
  translate,
};
