/**
 * HTTPChaos -> `faultline.http` fault on the picked workloads: Chaos Mesh's
 * sidecar faults the requests TO a pod, so the Faultline proxy in front of
 * each workload (its --workloads entry's `proxy`) does, not the SDK (which
 * faults the calls a service makes). abort -> reset (whole connections),
 * delay -> latency, replace.code on a Response -> http_error; path, method
 * and one request header -> the match. What the proxy cannot express (patching
 * bodies, replacing requests, matching response codes or headers, aborting
 * only some paths, TLS) is refused by field.
 */
import { describe, isRecord, join, record, string } from '../notes.js';
import {
  at,
  type Ctx,
  duration,
  faultAction,
  goMillis,
  int,
  type Piece,
  remoteCluster,
  slug,
} from './common.js';
import { asTargets, targetsOf } from './selector.js';

export const HTTP_FIELDS = [
  'selector',
  'mode',
  'value',
  'target',
  'port',
  'path',
  'method',
  'code',
  'request_headers',
  'response_headers',
  'abort',
  'delay',
  'replace',
  'patch',
  'tls',
  'duration',
  'remoteCluster',
];

export function httpChaos(ctx: Ctx, spec: Record<string, unknown>): Piece {
  const { notes } = ctx;
  notes.rest(spec, ctx.path, HTTP_FIELDS, 'Chaos Mesh HTTPChaos');
  remoteCluster(ctx, spec);
  const targets = asTargets(targetsOf(ctx, spec));
  const seconds = duration(ctx, spec);
  const empty = { timeline: [], span: seconds };
  const target = string(notes, spec.target, at(ctx, 'target'));
  if (target !== 'Request' && target !== 'Response') {
    notes.refused(at(ctx, 'target'), `expected Request or Response, got ${describe(spec.target)}`);
    return empty;
  }
  notes.mapped(
    at(ctx, 'target'),
    'arguments',
    'the Faultline proxy in front of the workload applies it to the requests it forwards; a delay or an abort acts the same on a request or its response',
  );
  if (spec.port !== undefined && int(notes, spec.port, at(ctx, 'port'), 1, 65535) !== undefined)
    notes.ignored(
      at(ctx, 'port'),
      "the workload's proxy stands in front of its HTTP port: the port picks nothing more on a host",
    );
  const match: Record<string, unknown> = {};
  const path = string(notes, spec.path, at(ctx, 'path'));
  if (path !== undefined && path !== '*') {
    match.path = path;
    notes.mapped(at(ctx, 'path'), 'arguments.match.path', "a glob, as Chaos Mesh's");
  } else if (path === '*') notes.mapped(at(ctx, 'path'), 'arguments.match', 'every path');
  const method = string(notes, spec.method, at(ctx, 'method'));
  if (method !== undefined) {
    if (!/^[A-Za-z]{1,16}$/.test(method))
      notes.refused(at(ctx, 'method'), `expected an HTTP method, got ${JSON.stringify(method)}`);
    else {
      match.method = method.toUpperCase();
      notes.mapped(at(ctx, 'method'), 'arguments.match.method');
    }
  }
  if (spec.request_headers !== undefined) {
    const h = record(notes, spec.request_headers, at(ctx, 'request_headers'));
    const entries = Object.entries(h ?? {});
    if (h && entries.length === 1 && typeof entries[0]![1] === 'string') {
      const [name, value] = entries[0] as [string, string];
      match.header = { name: name.toLowerCase(), value: `^${value.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&')}$` };
      notes.mapped(at(ctx, 'request_headers'), 'arguments.match.header', 'its value matched exactly');
    } else if (h)
      notes.refused(
        at(ctx, 'request_headers'),
        'the proxy matches one request header (name: value) per fault: several would fault requests Chaos Mesh leaves alone',
      );
  }
  for (const [k, why] of [
    ['code', 'the proxy matches requests before they are answered: it cannot pick them by response code'],
    [
      'response_headers',
      'the proxy matches requests before they are answered: it cannot pick them by response headers',
    ],
    ['tls', 'TLS secrets are Kubernetes objects; the proxy forwards plain HTTP: remove it'],
    [
      'patch',
      'the proxy cannot patch bodies, headers or queries: use replace.code (an error response), abort or delay',
    ],
  ] as const) {
    if (spec[k] !== undefined) notes.refused(at(ctx, k), why);
  }

  const rules: Record<string, unknown>[] = [];
  if (spec.abort !== undefined) {
    if (spec.abort === true && Object.keys(match).length > 0) {
      notes.refused(
        at(ctx, 'abort'),
        'the proxy resets whole connections, so it cannot abort only the requests path, method or request_headers pick: drop them to abort every request, or use replace.code for an error response',
      );
    } else if (spec.abort === true) {
      rules.push({ type: 'reset' });
      notes.mapped(
        at(ctx, 'abort'),
        'arguments.type reset',
        'every connection to the workload is reset, as an aborted session',
      );
    } else if (spec.abort === false) notes.ignored(at(ctx, 'abort'), 'false: nothing aborted');
    else notes.refused(at(ctx, 'abort'), `expected true or false, got ${describe(spec.abort)}`);
  }
  if (spec.delay !== undefined) {
    const ms = goMillis(notes, spec.delay, at(ctx, 'delay'), '1s');
    if (ms !== undefined && ms > 600_000) notes.refused(at(ctx, 'delay'), 'expected at most 10m');
    else if (ms !== undefined) {
      rules.push({ type: 'latency', latency_ms: ms });
      notes.mapped(at(ctx, 'delay'), 'arguments.latency_ms');
    }
  }
  const rp = at(ctx, 'replace');
  const replace = record(notes, spec.replace, rp);
  if (replace) {
    const known = ['code', 'body', 'headers', 'path', 'method', 'queries'];
    notes.rest(replace, rp, known, 'Chaos Mesh replace');
    if (target === 'Request')
      notes.refused(rp, 'the proxy cannot rewrite a request: replace acts on a Response only here');
    for (const k of ['path', 'method', 'queries'] as const) {
      if (replace[k] !== undefined)
        notes.refused(join(rp, k), `rewrites the request's ${k}: the proxy cannot`);
    }
    const code =
      replace.code === undefined ? undefined : int(notes, replace.code, join(rp, 'code'), 100, 599);
    if (replace.code === undefined)
      notes.refused(rp, 'expected replace.code: the proxy answers with an error response of its own');
    if (code !== undefined && target === 'Response') {
      const rule: Record<string, unknown> = { type: 'http_error', status: code };
      notes.mapped(
        join(rp, 'code'),
        'arguments.status',
        "the proxy answers with this status without forwarding the request (Chaos Mesh forwards it and replaces the response's code: here the service never sees it)",
      );
      if (replace.body !== undefined) {
        const body = string(notes, replace.body, join(rp, 'body'));
        // Chaos Mesh's body is []byte: base64 in YAML.
        if (body !== undefined) {
          rule.body = Buffer.from(body, 'base64').toString('utf8');
          notes.mapped(join(rp, 'body'), 'arguments.body', 'decoded from base64 (a []byte in Chaos Mesh)');
        }
      }
      if (replace.headers !== undefined) {
        if (isRecord(replace.headers) && Object.values(replace.headers).every((v) => typeof v === 'string')) {
          rule.headers = replace.headers;
          notes.mapped(join(rp, 'headers'), 'arguments.headers');
        } else notes.refused(join(rp, 'headers'), 'expected a mapping of header names to strings');
      }
      rules.push(rule);
    }
  }
  if (rules.length === 0) {
    if (!notes.refusedAny) notes.refused(ctx.path, 'expected an action: abort, delay or replace');
    return empty;
  }
  if (rules.length > 1) {
    notes.refused(
      ctx.path,
      `${rules.map((r) => r.type).join(' and ')} together: a proxy fault does one thing to a request: split it into one HTTPChaos per action`,
    );
    return empty;
  }
  const args = { ...rules[0], ...(Object.keys(match).length ? { match } : {}), duration: seconds };
  return {
    timeline: [{ at: 0, activity: faultAction(`${slug(ctx.name)}-http`, 'http', 'fault', args, targets) }],
    span: seconds,
  };
}
