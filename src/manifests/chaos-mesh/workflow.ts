/**
 * Workflow: the templates reached from `entry`, as one timeline. Every
 * Faultline step returns at once (a fault lasts its `duration` in the
 * background), so a node is its activities at offsets plus the seconds it
 * lasts: Serial shifts each child by the spans before it, Parallel merges its
 * children at offset 0 and lasts the longest, Suspend is a span with nothing
 * in it, a deadline cuts what would outlive it. The timeline becomes pauses
 * between the method's steps (index.ts linearize). A `Schedule` template with
 * `@every` is unrolled within its deadline; StatusCheck becomes an HTTP probe
 * (Synchronous: a step; Continuous: a safeguard).
 */
import type { Activity } from '../../core/schema.js';
import { describe, isRecord, join, list, type Notes, record, string } from '../notes.js';
import { at, type Ctx, goSecondsOf, int, type Piece, slug, type Timed } from './common.js';
import { type Embedded, OTHER_EMBEDS, scheduleSpec } from './schedule.js';

const TEMPLATE_FIELDS = [
  'name',
  'templateType',
  'deadline',
  'children',
  'conditionalBranches',
  'task',
  'schedule',
  'statusCheck',
  'abortWithStatusCheck',
];
/** At most this many steps from one unrolled `@every` schedule. */
const MAX_UNROLLED = 200;
const MAX_DEPTH = 32;

type Embeds = Record<string, { kind: string; translate: Embedded }>;

export function workflow(ctx: Ctx, spec: Record<string, unknown>, embedded: Embeds): Piece {
  const { notes } = ctx;
  notes.rest(spec, ctx.path, ['entry', 'templates'], 'Chaos Mesh Workflow');
  const entry = string(notes, spec.entry, at(ctx, 'entry'));
  if (entry === undefined) notes.refused(at(ctx, 'entry'), 'expected the name of the entry template');
  const tl = list(notes, spec.templates, at(ctx, 'templates'));
  if (!tl) {
    if (spec.templates === undefined) notes.refused(at(ctx, 'templates'), 'expected templates');
    return { timeline: [], span: 0 };
  }
  const byName = new Map<string, { t: Record<string, unknown>; path: string }>();
  tl.forEach((t, i) => {
    const p = join(at(ctx, 'templates'), i);
    const r = record(notes, t, p);
    if (!r) return;
    const name = string(notes, r.name, join(p, 'name'));
    if (name === undefined) notes.refused(join(p, 'name'), 'expected a template name');
    else if (byName.has(name))
      notes.refused(join(p, 'name'), `a second template named ${JSON.stringify(name)}`);
    else byName.set(name, { t: r, path: p });
  });
  const reached = new Set<string>();
  const safeguards: Activity[] = [];

  const node = (name: string, from: string, stack: string[]): Piece => {
    const found = byName.get(name);
    if (!found) {
      notes.refused(from, `no template named ${JSON.stringify(name)}`);
      return { timeline: [], span: 0 };
    }
    if (stack.includes(name) || stack.length > MAX_DEPTH) {
      notes.refused(
        from,
        `template ${JSON.stringify(name)} contains itself (${[...stack, name].join(' -> ')})`,
      );
      return { timeline: [], span: 0 };
    }
    if (reached.has(name)) {
      notes.refused(
        from,
        `template ${JSON.stringify(name)} is used twice: Faultline translates each template once`,
      );
      return { timeline: [], span: 0 };
    }
    reached.add(name);
    return template(name, found.t, found.path, [...stack, name]);
  };

  const template = (name: string, t: Record<string, unknown>, p: string, stack: string[]): Piece => {
    notes.rest(
      t,
      p,
      [...TEMPLATE_FIELDS, ...Object.keys(embedded), ...OTHER_EMBEDS],
      'a Chaos Mesh workflow template',
    );
    notes.mapped(join(p, 'name'), 'method', 'names its steps');
    const dp = join(p, 'deadline');
    const deadline = t.deadline === undefined ? undefined : goSecondsOf(notes, t.deadline, dp);
    const type = string(notes, t.templateType, join(p, 'templateType'));
    const local: Ctx = { ...ctx, path: p, name: `${ctx.name}-${name}` };
    if (t.abortWithStatusCheck !== undefined && type !== 'StatusCheck')
      notes.ignored(join(p, 'abortWithStatusCheck'), 'only a StatusCheck template reads it');
    for (const k of ['task', 'conditionalBranches'] as const) {
      if (t[k] !== undefined)
        notes.refused(
          join(p, k),
          k === 'task'
            ? 'a Task runs a container: Faultline runs no containers (write the step as a process action)'
            : 'conditional branches follow a Task: Faultline runs no Tasks',
        );
    }
    let piece: Piece;
    switch (type) {
      case 'Serial':
      case 'Parallel': {
        const cp = join(p, 'children');
        const children = list(notes, t.children, cp) ?? [];
        if (children.length === 0) notes.refused(cp, `a ${type} template needs children`);
        const pieces = children.map((c, i): Piece => {
          if (typeof c === 'string') return node(c, join(cp, i), stack);
          notes.refused(join(cp, i), `expected a template name, got ${describe(c)}`);
          return { timeline: [], span: 0 };
        });
        notes.mapped(
          cp,
          'method',
          type === 'Serial' ? 'one after another, each for its span' : 'together: the longest span',
        );
        piece = type === 'Serial' ? serial(pieces) : parallel(pieces);
        break;
      }
      case 'Suspend':
        if (deadline === undefined) {
          notes.refused(dp, 'a Suspend template needs a deadline (how long to wait)');
          piece = { timeline: [], span: 0 };
        } else {
          notes.mapped(join(p, 'templateType'), 'pauses', `a wait of ${deadline} s`);
          piece = { timeline: [], span: deadline };
        }
        break;
      case 'StatusCheck': {
        const sc = record(notes, t.statusCheck, join(p, 'statusCheck'));
        if (!sc) {
          notes.refused(join(p, 'statusCheck'), 'a StatusCheck template needs statusCheck');
          piece = { timeline: [], span: 0 };
          break;
        }
        const check = statusCheck(
          { ...local, path: join(p, 'statusCheck') },
          sc,
          `${slug(ctx.name)}-${slug(name)}`,
        );
        if (t.abortWithStatusCheck !== undefined)
          notes.mapped(
            join(p, 'abortWithStatusCheck'),
            check?.continuous ? 'safeguards' : 'method',
            check?.continuous
              ? 'a failed safeguard always stops the run in Faultline, whatever this says'
              : 'a failed check step fails the run in Faultline',
          );
        if (!check) piece = { timeline: [], span: 0 };
        else if (check.continuous) {
          safeguards.push(check.activity);
          piece = { timeline: [], span: deadline ?? check.duration ?? 0 };
          notes.mapped(
            join(join(p, 'statusCheck'), 'mode'),
            'safeguards',
            "a safeguard checks for the whole run, not only this template's span",
          );
        } else piece = { timeline: [{ at: 0, activity: check.activity }], span: 0 };
        break;
      }
      case 'Schedule': {
        const s = record(notes, t.schedule, join(p, 'schedule'));
        if (!s) {
          notes.refused(join(p, 'schedule'), 'a Schedule template needs schedule');
          piece = { timeline: [], span: 0 };
          break;
        }
        piece = unrolled({ ...local, path: join(p, 'schedule') }, s, deadline, embedded);
        break;
      }
      default: {
        const e = Object.entries(embedded).find(([, x]) => x.kind === type);
        if (!e) {
          notes.refused(
            join(p, 'templateType'),
            `expected Serial, Parallel, Suspend, StatusCheck, Schedule or ${Object.values(embedded)
              .map((x) => x.kind)
              .join(', ')}, got ${describe(t.templateType)}`,
          );
          piece = { timeline: [], span: 0 };
          break;
        }
        const [key, x] = e;
        const inner = record(notes, t[key], join(p, key));
        if (!inner) {
          notes.refused(join(p, key), `a ${type} template needs ${key}`);
          piece = { timeline: [], span: 0 };
        } else piece = x.translate({ ...local, path: join(p, key), deadline }, inner);
      }
    }
    if (deadline !== undefined && type !== 'Suspend') {
      notes.mapped(dp, 'pauses', 'bounds the step: what would outlive it is cut');
      piece = clip(piece, deadline, notes, dp);
    }
    return piece;
  };

  const piece = entry === undefined ? { timeline: [], span: 0 } : node(entry, at(ctx, 'entry'), []);
  if (entry !== undefined) notes.mapped(at(ctx, 'entry'), 'method');
  for (const [n, { path }] of byName) {
    if (!reached.has(n)) notes.ignored(path, 'not reached from entry (Chaos Mesh does not run it either)');
  }
  return { ...piece, safeguards: [...(piece.safeguards ?? []), ...safeguards] };
}

function serial(pieces: Piece[]): Piece {
  const timeline: Timed[] = [];
  let offset = 0;
  for (const p of pieces) {
    for (const t of p.timeline) timeline.push({ at: t.at + offset, activity: t.activity });
    offset += p.span;
  }
  return { timeline, span: offset };
}

function parallel(pieces: Piece[]): Piece {
  const timeline = pieces.flatMap((p) => p.timeline).sort((a, b) => a.at - b.at);
  return { timeline, span: Math.max(0, ...pieces.map((p) => p.span)) };
}

/** A deadline: steps starting at or after it are dropped, faults shortened to end by it. */
function clip(piece: Piece, deadline: number, notes: Notes, path: string): Piece {
  if (piece.span <= deadline) return piece;
  const kept = piece.timeline.filter((t) => t.at < deadline);
  if (kept.length < piece.timeline.length)
    notes.mapped(
      path,
      'method',
      `${piece.timeline.length - kept.length} step(s) that would start after it are left out`,
    );
  const timeline = kept.map((t) => {
    const args = (t.activity.provider as { arguments?: Record<string, unknown> }).arguments;
    const d = args?.duration;
    if (typeof d !== 'number' || t.at + d <= deadline) return t;
    const provider = { ...t.activity.provider, arguments: { ...args, duration: deadline - t.at } };
    return { at: t.at, activity: { ...t.activity, provider } as Activity };
  });
  return { ...piece, timeline, span: deadline };
}

/** A workflow's Schedule template: `@every` firings within the deadline, each the embedded chaos. */
function unrolled(
  ctx: Ctx,
  s: Record<string, unknown>,
  deadline: number | undefined,
  embedded: Embeds,
): Piece {
  const { notes } = ctx;
  const { piece, schedule } = scheduleSpec(ctx, s, embedded);
  if (!schedule) return { timeline: [], span: 0 };
  const cron = 'cron' in schedule.timing ? schedule.timing.cron : '';
  const every = /^@every\s+(\S+)$/.exec(cron.trim());
  const period = every ? goSecondsOf(new (notes.constructor as new () => Notes)(), every[1], '') : undefined;
  if (period === undefined || deadline === undefined) {
    notes.refused(
      at(ctx, 'schedule'),
      deadline === undefined
        ? "a schedule inside a workflow needs the template's deadline to end"
        : 'inside a workflow only "@every <duration>" can be unrolled into steps: a calendar cron needs a server schedule',
    );
    return { timeline: [], span: 0 };
  }
  const n = Math.floor(deadline / period);
  if (n > MAX_UNROLLED) {
    notes.refused(
      at(ctx, 'schedule'),
      `${n} firings within the deadline: at most ${MAX_UNROLLED} are unrolled`,
    );
    return { timeline: [], span: 0 };
  }
  // The cron note said "a server schedule": inside a workflow it is unrolled instead.
  notes.mapped(
    at(ctx, 'schedule'),
    'method',
    `unrolled: ${n} firing(s), one every ${period} s within the ${deadline} s deadline`,
  );
  const timeline: Timed[] = [];
  for (let i = 0; i < n; i++) {
    for (const t of piece.timeline) {
      timeline.push({
        at: i * period + t.at,
        activity: { ...t.activity, name: `${t.activity.name}-${i + 1}` } as Activity,
      });
    }
  }
  return { timeline, span: deadline };
}

export interface Check {
  activity: Activity;
  continuous: boolean;
  duration?: number;
}

/** A StatusCheck spec as an HTTP probe with its tolerance (the status code, or a range of them). */
export function statusCheck(ctx: Ctx, sc: Record<string, unknown>, name: string): Check | undefined {
  const { notes } = ctx;
  notes.rest(
    sc,
    ctx.path,
    [
      'mode',
      'type',
      'duration',
      'timeoutSeconds',
      'intervalSeconds',
      'failureThreshold',
      'successThreshold',
      'recordsHistoryLimit',
      'http',
    ],
    'Chaos Mesh StatusCheck',
  );
  const mode = sc.mode === undefined ? 'Synchronous' : string(notes, sc.mode, at(ctx, 'mode'));
  if (mode !== 'Synchronous' && mode !== 'Continuous') {
    notes.refused(at(ctx, 'mode'), `expected Synchronous or Continuous, got ${describe(sc.mode)}`);
    return undefined;
  }
  if (sc.mode !== undefined && mode === 'Synchronous')
    notes.mapped(at(ctx, 'mode'), 'method', 'a probe step');
  const type = string(notes, sc.type, at(ctx, 'type'));
  if (type !== 'HTTP') {
    notes.refused(at(ctx, 'type'), `expected HTTP, got ${describe(sc.type)}`);
    return undefined;
  }
  notes.mapped(at(ctx, 'type'), 'provider.type http');
  const hp = at(ctx, 'http');
  const http = record(notes, sc.http, hp);
  if (!http) {
    notes.refused(hp, 'expected http (url, method, criteria)');
    return undefined;
  }
  notes.rest(http, hp, ['url', 'method', 'headers', 'body', 'criteria'], 'a Chaos Mesh HTTP status check');
  const url = string(notes, http.url, join(hp, 'url'));
  if (url === undefined || !/^https?:\/\/\S+$/i.test(url)) {
    notes.refused(join(hp, 'url'), `expected an http(s) URL, got ${describe(http.url)}`);
    return undefined;
  }
  notes.mapped(join(hp, 'url'), 'provider.url');
  const method = http.method === undefined ? 'GET' : string(notes, http.method, join(hp, 'method'));
  if (method !== 'GET' && method !== 'POST')
    notes.refused(join(hp, 'method'), `expected GET or POST, got ${describe(http.method)}`);
  else if (http.method !== undefined) notes.mapped(join(hp, 'method'), 'provider.method');
  const provider: Record<string, unknown> = { type: 'http', url, method: method ?? 'GET' };
  if (http.headers !== undefined) {
    if (isRecord(http.headers)) {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(http.headers))
        headers[k] = Array.isArray(v) ? v.map(String).join(', ') : String(v);
      provider.headers = headers;
      notes.mapped(join(hp, 'headers'), 'provider.headers', 'several values joined with ", "');
    } else notes.refused(join(hp, 'headers'), 'expected a mapping of header names to values');
  }
  if (http.body !== undefined && http.body !== '')
    notes.refused(
      join(hp, 'body'),
      "Faultline's http probe sends its arguments as JSON or a form, not a raw body: remove it",
    );
  const timeout = int(notes, sc.timeoutSeconds, at(ctx, 'timeoutSeconds'), 1, 3600);
  provider.timeout = timeout ?? 1;
  notes.mapped(
    at(ctx, 'timeoutSeconds'),
    'provider.timeout',
    sc.timeoutSeconds === undefined ? "absent: Chaos Mesh's default, 1 s" : undefined,
  );
  const cp = join(hp, 'criteria');
  const criteria = record(notes, http.criteria, cp);
  const code = criteria ? string(notes, criteria.statusCode, join(cp, 'statusCode')) : undefined;
  if (criteria) notes.rest(criteria, cp, ['statusCode'], 'Chaos Mesh criteria');
  const m = code === undefined ? null : /^\s*(\d{3})(?:\s*-\s*(\d{3}))?\s*$/.exec(code);
  if (!m) {
    notes.refused(
      join(cp, 'statusCode'),
      `expected a status code such as "200" or a range "200-299", got ${describe(criteria?.statusCode)}`,
    );
    return undefined;
  }
  const tolerance = m[2]
    ? { type: 'range', range: [Number(m[1]), Number(m[2])], target: 'status' }
    : Number(m[1]);
  notes.mapped(join(cp, 'statusCode'), 'tolerance');
  const interval = int(notes, sc.intervalSeconds, at(ctx, 'intervalSeconds'), 1, 86_400);
  for (const k of ['failureThreshold', 'successThreshold'] as const) {
    if (sc[k] === undefined) continue;
    if (int(notes, sc[k], at(ctx, k), 1, 10_000) !== undefined)
      notes.mapped(
        at(ctx, k),
        mode === 'Continuous' ? 'safeguards' : 'method',
        k === 'failureThreshold'
          ? 'Faultline acts on the first failed check (stricter than waiting for several)'
          : 'one passing check is a success in Faultline',
      );
  }
  if (sc.recordsHistoryLimit !== undefined)
    notes.ignored(at(ctx, 'recordsHistoryLimit'), 'every check is in the journal');
  const dur = sc.duration === undefined ? undefined : goSecondsOf(notes, sc.duration, at(ctx, 'duration'));
  if (dur !== undefined) notes.mapped(at(ctx, 'duration'), 'safeguards', 'how long it checks');
  const activity = { type: 'probe', name: `${name}-status`, provider, tolerance } as unknown as Activity;
  if (mode === 'Continuous') {
    notes.mapped(at(ctx, 'mode'), 'safeguards', 'checked throughout the run; a failure stops it');
    if (interval !== undefined) notes.mapped(at(ctx, 'intervalSeconds'), 'safeguards.frequency');
    return {
      activity: { ...activity, frequency: interval ?? 1 } as Activity,
      continuous: true,
      ...(dur ? { duration: dur } : {}),
    };
  }
  if (interval !== undefined)
    notes.ignored(at(ctx, 'intervalSeconds'), 'a synchronous check is one probe here');
  return { activity, continuous: false };
}
