/**
 * AWS FIS experiment templates (docs/manifests/aws-fis.md): the JSON the API
 * and the CLI take (camelCase), boto3's dict as JSON, and CloudFormation's
 * AWS::FIS::ExperimentTemplate (PascalCase, alone or in a template's
 * Resources). Targets become `targets:` blocks (targets.ts), actions fault
 * actions (actions.ts) placed in time by their startAfter graph, and
 * CloudWatch-alarm stop conditions safeguards over a PromQL expression the
 * user maps to the alarm.
 */

import type { Activity } from '../../core/schema.js';
import { faultAction } from '../activity.js';
import { isRecord, join, list, Notes, record, string } from '../notes.js';
import type { ManifestFormat, Safeguard, Translation } from '../types.js';
import { translateAction } from './actions.js';
import { Fields } from './fields.js';
import { type FisTarget, translateTargets } from './targets.js';

const CFN_TYPE = 'AWS::FIS::ExperimentTemplate';

const hasKey = (d: Record<string, unknown>, name: string) =>
  name in d || `${name.charAt(0).toUpperCase()}${name.slice(1)}` in d;

function isTemplate(d: Record<string, unknown>): boolean {
  return (
    hasKey(d, 'actions') &&
    (hasKey(d, 'targets') || hasKey(d, 'stopConditions')) &&
    !hasKey(d, 'apiVersion') &&
    !('kind' in d)
  );
}

const isResource = (v: unknown): boolean => isRecord(v) && v.Type === CFN_TYPE;

function detect(d: Record<string, unknown>): boolean {
  if (isTemplate(d) || isResource(d)) return true;
  return isRecord(d.Resources) && Object.values(d.Resources).some(isResource);
}

/** The template's object and its path: the document, a resource's Properties, or the one such resource of a template. */
function templateOf(
  notes: Notes,
  d: Record<string, unknown>,
): { obj: Record<string, unknown>; path: string } | undefined {
  if (isTemplate(d)) return { obj: d, path: '' };
  if (isResource(d)) {
    notes.mapped('Type', 'the experiment', CFN_TYPE);
    for (const k of Object.keys(d))
      if (k !== 'Type' && k !== 'Properties') notes.ignored(k, 'CloudFormation plumbing');
    const props = record(notes, d.Properties, 'Properties');
    return props ? { obj: props, path: 'Properties' } : undefined;
  }
  const resources = d.Resources as Record<string, unknown>;
  const fis = Object.entries(resources).filter(([, r]) => isResource(r));
  for (const [name, r] of Object.entries(resources)) {
    if (!isResource(r)) notes.ignored(join('Resources', name), `not an ${CFN_TYPE}: nothing to inject`);
  }
  for (const k of Object.keys(d)) if (k !== 'Resources') notes.ignored(k, 'CloudFormation plumbing');
  for (const [name] of fis.slice(1)) {
    notes.refused(
      join('Resources', name),
      `one ${CFN_TYPE} per document: put each in its own file or YAML document`,
    );
  }
  const [name, r] = fis[0]!;
  const base = join('Resources', name);
  notes.mapped(join(base, 'Type'), 'the experiment', CFN_TYPE);
  for (const k of Object.keys(r as Record<string, unknown>)) {
    if (k !== 'Type' && k !== 'Properties') notes.ignored(join(base, k), 'CloudFormation plumbing');
  }
  const props = record(notes, (r as Record<string, unknown>).Properties, join(base, 'Properties'));
  return props ? { obj: props, path: join(base, 'Properties') } : undefined;
}

interface Planned {
  name: string;
  path: string;
  seconds: number;
  after: string[];
  activity?: Activity;
}

/** A name usable in `${...}` and an environment variable: `payment-error-rate-high` -> `payment_error_rate_high`. */
export const varName = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 60) || 'alarm';

export function translate(doc: Record<string, unknown>): Translation {
  const notes = new Notes();
  const found = templateOf(notes, doc);
  const obj = found?.obj ?? {};
  const f = new Fields(obj, found?.path ?? '');

  // JSON has no comments: a `//` key is the usual stand-in (the seed fixtures use it to cite their source).
  for (const k of Object.keys(obj)) if (k.startsWith('//')) notes.ignored(f.get(k).path, 'a comment');

  const desc = f.get('description');
  const description = string(notes, desc.value, desc.path);
  if (description !== undefined) notes.mapped(desc.path, 'title');
  const tags = f.get('tags');
  const tagObj = record(notes, tags.value, tags.path);
  const tagName = tagObj && typeof tagObj.Name === 'string' ? tagObj.Name : undefined;
  if (tags.value !== undefined)
    notes.ignored(tags.path, "AWS resource tags of the template: Faultline's tags are from:aws-fis");
  const rolePath = f.get('roleArn');
  if (rolePath.value !== undefined)
    notes.warned(
      rolePath.path,
      'AWS plumbing: the agents act with their own privileges, no IAM role is assumed',
    );
  for (const k of ['logConfiguration', 'experimentOptions', 'experimentReportConfiguration', 'clientToken']) {
    const v = f.get(k);
    if (v.value !== undefined)
      notes.ignored(
        v.path,
        k === 'logConfiguration'
          ? 'the journal records every step (--journal), no CloudWatch or S3 log'
          : 'AWS plumbing with no effect on what is injected',
      );
  }

  const targets = translateTargets(notes, f.get('targets').value, f.get('targets').path);
  const acts = f.get('actions');
  const actions = record(notes, acts.value, acts.path) ?? {};
  if (Object.keys(actions).length === 0 && acts.value !== undefined)
    notes.refused(acts.path, 'expected at least one action');

  const planned = new Map<string, Planned>();
  // Notes say `method[@i]` (the i-th action of the file) until the actions are placed in time below.
  Object.entries(actions).forEach(([name, raw], i) => {
    const path = join(acts.path, name);
    const a = record(notes, raw, path);
    if (!a) return;
    const af = new Fields(a, path);
    const id = af.get('actionId');
    const actionId = string(notes, id.value, id.path);
    const to = `method[@${i}].provider.arguments`;
    const ad = af.get('description');
    if (ad.value !== undefined) notes.ignored(ad.path, 'a description for people');
    const params = af.get('parameters');
    const po = record(notes, params.value, params.path) ?? {};
    const sa = af.get('startAfter');
    const after = (list(notes, sa.value, sa.path) ?? []).flatMap((v, j) => {
      const s = string(notes, v, join(sa.path, j));
      return s === undefined ? [] : [s];
    });
    const tg = af.get('targets');
    const tgo = record(notes, tg.value, tg.path) ?? {};
    af.rest(notes, 'an FIS action');
    if (actionId === undefined) {
      notes.refused(id.path, 'expected an actionId');
      planned.set(name, { name, path, seconds: 0, after });
      return;
    }
    const out = translateAction(notes, actionId, id.path, po, params.path, to);
    const p: Planned = { name, path, seconds: 0, after };
    planned.set(name, p);
    if (sa.value !== undefined) notes.mapped(sa.path, 'the order of the method (pauses)');
    if (out.kind === 'wait') {
      p.seconds = out.seconds;
      for (const k of Object.keys(tgo)) notes.ignored(join(tg.path, k), 'aws:fis:wait has no target');
      return;
    }
    if (out.kind === 'refused') {
      for (const k of Object.keys(tgo)) notes.ignored(join(tg.path, k), 'its action is refused');
      return;
    }
    p.seconds = out.call.seconds;
    const refs = Object.entries(tgo);
    let target: FisTarget | undefined;
    if (refs.length === 0)
      notes.refused(
        tg.path,
        `expected a target (${out.target === 'instance' ? 'Instances' : out.target === 'task' ? 'Tasks' : 'Pods'}: the name of one of targets)`,
      );
    for (const [j, [k, v]] of refs.entries()) {
      const rp = join(tg.path, k);
      if (j > 0) {
        notes.refused(rp, 'one target per action');
        continue;
      }
      const t = typeof v === 'string' ? targets.get(v) : undefined;
      if (
        typeof v !== 'string' ||
        !(isRecord(f.get('targets').value) && Object.hasOwn(f.get('targets').value as object, v))
      ) {
        notes.refused(rp, `expected the name of one of targets, got ${JSON.stringify(v)}`);
        break;
      }
      if (!t) {
        notes.ignored(rp, 'its target is refused');
        break;
      }
      const want = out.target;
      if (t.kind !== want) {
        notes.refused(
          rp,
          `${actionId} acts on ${want === 'instance' ? 'aws:ec2:instance' : want === 'task' ? 'aws:ecs:task' : 'aws:eks:pod'} targets, ${v} is ${t.resourceType}`,
        );
        break;
      }
      target = t;
      notes.mapped(rp, `method[@${i}].targets`);
    }
    if (!target) return;
    const args = { ...out.call.args, ...(out.call.seconds > 0 ? { duration: out.call.seconds } : {}) };
    p.activity = faultAction(name, out.call.module, out.call.func, args, structuredClone(target.targets));
  });

  // When each action starts: after every action it waits for has ended (FIS's startAfter).
  const start = new Map<string, number>();
  const visiting = new Set<string>();
  const startOf = (name: string, trail: string[]): number => {
    const known = start.get(name);
    if (known !== undefined) return known;
    const p = planned.get(name)!;
    if (visiting.has(name)) return 0;
    visiting.add(name);
    let s = 0;
    for (const dep of p.after) {
      const d = planned.get(dep);
      const depPath = join(join(p.path, 'startAfter'), p.after.indexOf(dep));
      if (!d) {
        notes.refused(depPath, `expected the name of another action, got ${JSON.stringify(dep)}`);
        continue;
      }
      if (visiting.has(dep)) {
        notes.refused(
          join(p.path, 'startAfter'),
          `a cycle: ${[...trail, name, dep].join(' -> ')} (actions may only wait for earlier ones)`,
        );
        continue;
      }
      s = Math.max(s, startOf(dep, [...trail, name]) + d.seconds);
    }
    visiting.delete(name);
    start.set(name, s);
    return s;
  };
  for (const name of planned.keys()) startOf(name, []);

  const order = [...planned.values()].sort((a, b) => start.get(a.name)! - start.get(b.name)!);
  const method: Activity[] = [];
  let at = 0;
  let end = 0;
  for (const p of order) {
    const s = start.get(p.name)!;
    end = Math.max(end, s + p.seconds);
    if (!p.activity) continue;
    const gap = s - at;
    if (gap > 0) {
      const prev = method[method.length - 1];
      if (prev) prev.pauses = { ...(prev.pauses ?? {}), after: gap };
      else p.activity.pauses = { before: gap };
    }
    at = s;
    method.push(p.activity);
  }
  const names = Object.keys(actions);
  const indexOf = (i: number) => method.findIndex((a) => 'name' in a && a.name === names[i]);
  for (const n of notes.list) {
    if (n.to) n.to = n.to.replace(/method\[@(\d+)\]/g, (_, i: string) => `method[${indexOf(Number(i))}]`);
  }

  const safeguards: Safeguard[] = [];
  const configuration: Record<string, unknown> = {};
  const sc = f.get('stopConditions');
  (list(notes, sc.value, sc.path) ?? []).forEach((raw, i) => {
    const path = join(sc.path, i);
    const c = record(notes, raw, path);
    if (!c) return;
    const cf = new Fields(c, path);
    const src = cf.get('source');
    const val = cf.get('value');
    const source = string(notes, src.value, src.path);
    const value = string(notes, val.value, val.path);
    cf.rest(notes, 'an FIS stop condition');
    if (source === 'none') {
      notes.ignored(path, 'no stop condition');
      return;
    }
    if (source !== 'aws:cloudwatch:alarm') {
      notes.refused(src.path, `expected aws:cloudwatch:alarm or none, got ${JSON.stringify(source)}`);
      return;
    }
    if (value === undefined) {
      notes.refused(val.path, 'expected the alarm (its name or ARN)');
      return;
    }
    const alarm = /:alarm:(.+)$/.exec(value)?.[1] ?? value;
    const key = `alarm_${varName(alarm === '...' || alarm.endsWith(':...') ? `stop_condition_${i + 1}` : alarm)}`;
    configuration[key] = { type: 'env', key: key.toUpperCase() };
    configuration.prometheus_url ??= { type: 'env', key: 'PROMETHEUS_URL', default: 'http://localhost:9090' };
    safeguards.push({
      type: 'probe',
      name: `stop-condition ${alarm}`,
      provider: {
        type: 'faultline',
        module: 'faultline.prometheus',
        func: 'query',
        arguments: { query: `\${${key}}`, url: '${prometheus_url}', as: 'vector' },
      },
      // The alarm fires when the expression returns a sample above 0 (an alerting expression returns none while it holds).
      tolerance: { type: 'jsonpath', path: '$[?(@.value > 0)]', count: 0 },
      frequency: 10,
    } as Safeguard);
    notes.mapped(
      path,
      `safeguards[${safeguards.length - 1}]`,
      `the CloudWatch alarm ${alarm} as a PromQL expression you map: --var ${key}='<expression>' (or ${key.toUpperCase()}=...), firing when it returns a value above 0, against --var prometheus_url=... (default http://localhost:9090); an HTTP check is the alternative (docs/manifests/aws-fis.md#stop-conditions)`,
    );
  });
  f.rest(notes, 'an FIS experiment template');

  const hold = Math.max(0, end - at);
  const name = tagName ?? (description ? description.slice(0, 80) : 'aws-fis-template');
  return {
    format: 'aws-fis',
    kind: 'ExperimentTemplate',
    name,
    title: description ?? tagName ?? 'AWS FIS experiment template',
    description: `Translated from an AWS FIS experiment template${description ? `: ${description}` : ''}`,
    method,
    hold,
    ...(safeguards.length ? { safeguards, configuration } : {}),
    tags: ['aws-fis'],
    notes: notes.list,
  };
}

export const awsFis: ManifestFormat = {
  name: 'aws-fis',
  title: 'AWS FIS',
  doc: 'docs/manifests/aws-fis.md',
  detect,
  translate,
};
