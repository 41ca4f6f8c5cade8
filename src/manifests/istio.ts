/**
 * Istio VirtualService `fault` blocks (docs/manifests/istio.md) as HTTP
 * faults on the requests TO the workloads the VirtualService's hosts name, as
 * Envoy applies them in front of a pod: `faultline.http` / `fault`, through the
 * Faultline proxy each workload's entry names. A delay becomes `latency`, an
 * abort `http_error`, each with its percentage and the route's match (uri,
 * method, one header). (The SDK faults the calls a service makes: the wrong
 * side for these.) Routing (route, rewrite,
 * retries, timeouts, mirrors) is the mesh's, not a fault, so it is ignored
 * with that reason. Istio has no duration: the fault lasts the
 * `faultline.io/duration` annotation, or DEFAULT_DURATION_S.
 */

import type { Activity } from '../core/schema.js';
import { K8S_NAME_PATTERN } from '../core/workload.js';
import { faultAction } from './activity.js';
import { describe, goSeconds, isRecord, join, list, Notes, percent, record, string } from './notes.js';
import type { ManifestFormat, Translation } from './types.js';

/** Seconds an Istio fault lasts when the manifest does not say (Istio's last until the resource is deleted). */
export const DEFAULT_DURATION_S = 60;
export const DURATION_ANNOTATION = 'faultline.io/duration';

const ROUTING: Record<string, string> = {
  route: "routing is Istio's, not a fault: requests go where they already go",
  redirect: "routing is Istio's, not a fault",
  rewrite: "routing is Istio's, not a fault",
  delegate: "routing is Istio's, not a fault",
  directResponse: "routing is Istio's, not a fault",
  timeout: "a resilience policy of the mesh, not a fault: the service's own timeouts apply",
  retries: "a resilience policy of the mesh, not a fault: the service's own retries apply",
  mirror: "traffic mirroring is the mesh's, not a fault",
  mirrors: "traffic mirroring is the mesh's, not a fault",
  mirrorPercentage: "traffic mirroring is the mesh's, not a fault",
  mirrorPercent: "traffic mirroring is the mesh's, not a fault",
  corsPolicy: "CORS is the mesh's, not a fault",
  headers: "header rewriting is the mesh's, not a fault",
};

/** `ratings`, `ratings.prod`, `ratings.prod.svc.cluster.local` -> a workload name (`ns/name` when the namespace is known). */
function hostName(host: string, namespace: string | undefined): string | undefined {
  const parts = host.replace(/\.svc\.cluster\.local$/, '').split('.');
  if (parts.length > 2 || parts.some((p) => !K8S_NAME_PATTERN.test(p))) return undefined;
  const [name, ns = namespace] = parts as [string, string | undefined];
  return ns ? `${ns}/${name}` : name;
}

function translate(doc: Record<string, unknown>): Translation {
  const notes = new Notes();
  notes.mapped('apiVersion', 'the experiment', 'an Istio resource');
  notes.mapped('kind', 'the experiment', 'its fault blocks are the faults');
  const meta = record(notes, doc.metadata, 'metadata') ?? {};
  const name = string(notes, meta.name, 'metadata.name') ?? 'virtualservice';
  const namespace = string(notes, meta.namespace, 'metadata.namespace');
  if (meta.name !== undefined) notes.mapped('metadata.name', 'title');
  if (namespace !== undefined)
    notes.mapped('metadata.namespace', 'targets.names', 'the namespace of short host names');
  let duration = DEFAULT_DURATION_S;
  let durationFrom = `Istio has no duration: the faults last ${DEFAULT_DURATION_S} s (set the ${DURATION_ANNOTATION} annotation to change it)`;
  for (const [k, v] of Object.entries(meta)) {
    const p = join('metadata', k);
    if (k === 'name' || k === 'namespace') continue;
    if (k === 'annotations' && isRecord(v)) {
      for (const [ak, av] of Object.entries(v)) {
        const ap = join(p, ak);
        if (ak === DURATION_ANNOTATION) {
          const s = goSeconds(notes, av, ap);
          if (s !== undefined) {
            duration = s;
            durationFrom = `${s} s, from the ${DURATION_ANNOTATION} annotation`;
            notes.mapped(ap, 'method[*].provider.arguments.duration');
          }
        } else notes.warned(ap, 'Kubernetes plumbing: annotations change nothing here');
      }
    } else if (k === 'labels' || k === 'annotations')
      notes.warned(p, 'Kubernetes plumbing: labels and annotations change nothing here');
    else notes.ignored(p, 'Kubernetes bookkeeping');
  }
  for (const k of Object.keys(doc)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(k))
      notes.ignored(k, k === 'status' ? 'written by Kubernetes' : 'not part of a VirtualService');
  }

  const spec = record(notes, doc.spec, 'spec') ?? {};
  const names: string[] = [];
  for (const [i, h] of (list(notes, spec.hosts, 'spec.hosts') ?? []).entries()) {
    const p = join('spec.hosts', i);
    const host = string(notes, h, p);
    if (host === undefined) continue;
    const n = hostName(host, namespace);
    if (!n) {
      notes.refused(
        p,
        `${JSON.stringify(host)} is not a workload name (name, name.namespace or name.namespace.svc.cluster.local): Faultline faults the workloads its agents host`,
      );
      continue;
    }
    names.push(n);
    notes.mapped(p, 'method[*].targets.names', `the workload ${n}`);
  }
  if (spec.hosts === undefined) notes.refused('spec.hosts', 'expected the hosts whose requests are faulted');
  for (const k of ['gateways', 'exportTo']) {
    if (spec[k] !== undefined)
      notes.ignored(
        join('spec', k),
        "the mesh's visibility: the faults apply wherever the workload is called",
      );
  }
  for (const k of ['tcp', 'tls']) {
    if (spec[k] !== undefined)
      notes.ignored(join('spec', k), `${k} routes carry no fault in Istio (faults are HTTP only)`);
  }
  for (const k of Object.keys(spec)) {
    if (!['hosts', 'gateways', 'exportTo', 'tcp', 'tls', 'http'].includes(k))
      notes.refused(join('spec', k), 'unknown field: a VirtualService translation does not know it');
  }

  const targets = { on: 'workloads' as const, names, selector: {}, mode: 'all' as const };
  const method: Activity[] = [];
  let faultedBefore = false;
  for (const [i, raw] of (list(notes, spec.http, 'spec.http') ?? []).entries()) {
    const path = join('spec.http', i);
    const route = record(notes, raw, path);
    if (!route) continue;
    const routeName = string(notes, route.name, join(path, 'name'));
    if (route.name !== undefined) notes.mapped(join(path, 'name'), 'method[*].name');
    for (const [k, why] of Object.entries(ROUTING)) {
      if (route[k] !== undefined) notes.ignored(join(path, k), why);
    }
    for (const k of Object.keys(route)) {
      if (!['name', 'match', 'fault', ...Object.keys(ROUTING)].includes(k))
        notes.refused(join(path, k), 'unknown field: a VirtualService translation does not know it');
    }
    const matches = matchesOf(notes, route.match, join(path, 'match'));
    const fault = record(notes, route.fault, join(path, 'fault'));
    if (!fault) continue;
    if (faultedBefore)
      notes.warned(
        join(path, 'fault'),
        "Istio applies only the first route a request matches; Faultline's rules all apply, so a request matching several routes gets each one's fault",
      );
    faultedBefore = true;
    const rules = faultRules(notes, fault, join(path, 'fault'));
    const base = routeName ?? `${name}-${i}`;
    for (const rule of rules) {
      for (const [m, match] of matches.entries()) {
        method.push(
          faultAction(
            `${base}-${rule.type === 'latency' ? 'delay' : 'abort'}${matches.length > 1 ? `-${m}` : ''}`,
            'http',
            'fault',
            { ...rule.args, ...(match ? { match } : {}), duration },
            { ...targets, names: [...names], selector: {} },
          ),
        );
      }
    }
  }
  if (method.length === 0 && !notes.refusedAny)
    notes.refused('spec.http', 'no fault block: a VirtualService without spec.http[].fault injects nothing');
  if (method.length > 0) notes.mapped('spec.http', 'method', durationFrom);

  return {
    format: 'istio',
    kind: 'VirtualService',
    name,
    ...(namespace ? { namespace } : {}),
    title: `Istio fault injection: ${name}`,
    description: `Translated from the Istio VirtualService ${namespace ? `${namespace}/` : ''}${name}: its HTTP faults on the requests to the workloads, through the Faultline proxy in front of each`,
    method,
    hold: method.length ? duration : 0,
    tags: ['istio'],
    notes: notes.list,
  };
}

interface Rule {
  type: 'latency' | 'http_error';
  args: Record<string, unknown>;
}

function percentageOf(notes: Notes, obj: Record<string, unknown>, path: string): number | undefined {
  if (obj.percentage !== undefined) {
    const p = record(notes, obj.percentage, join(path, 'method[*].provider.arguments.percentage'));
    if (!p) return undefined;
    for (const k of Object.keys(p))
      if (k !== 'value')
        notes.refused(join(join(path, 'method[*].provider.arguments.percentage'), k), 'unknown field');
    const n = percent(notes, p.value, join(join(path, 'percentage'), 'value'));
    if (n !== undefined)
      notes.mapped(join(join(path, 'percentage'), 'value'), 'method[*].provider.arguments.percentage');
    return n;
  }
  if (obj.percent !== undefined) {
    // Istio's older integer field, deprecated for percentage.value.
    const n = percent(notes, obj.percent, join(path, 'percent'));
    if (n !== undefined) notes.mapped(join(path, 'percent'), 'method[*].provider.arguments.percentage');
    return n;
  }
  return undefined;
}

function faultRules(notes: Notes, fault: Record<string, unknown>, path: string): Rule[] {
  const rules: Rule[] = [];
  for (const k of Object.keys(fault)) {
    if (k !== 'delay' && k !== 'abort')
      notes.refused(join(path, k), 'unknown field: Istio faults are delay and abort');
  }
  const delay = record(notes, fault.delay, join(path, 'delay'));
  if (delay) {
    const p = join(path, 'delay');
    const pct = percentageOf(notes, delay, p);
    let ms: number | undefined;
    if (delay.fixedDelay !== undefined) {
      const s = goSeconds(notes, delay.fixedDelay, join(p, 'fixedDelay'));
      if (s !== undefined) {
        ms = s * 1000;
        notes.mapped(join(p, 'fixedDelay'), 'method[*].provider.arguments.latency_ms');
      }
    } else notes.refused(join(p, 'fixedDelay'), 'expected fixedDelay, such as 5s');
    if (delay.exponentialDelay !== undefined)
      notes.refused(
        join(p, 'exponentialDelay'),
        'the proxy adds a fixed delay (with optional uniform jitter), not an exponential one',
      );
    for (const k of Object.keys(delay))
      if (!['percentage', 'percent', 'fixedDelay', 'exponentialDelay'].includes(k))
        notes.refused(join(p, k), 'unknown field');
    if (pct === undefined && delay.percentage === undefined && delay.percent === undefined)
      notes.refused(p, 'expected percentage.value (Istio delays no request without it)');
    else if (ms !== undefined && pct !== undefined)
      rules.push({ type: 'latency', args: { type: 'latency', latency_ms: ms, percentage: pct } });
  }
  const abort = record(notes, fault.abort, join(path, 'abort'));
  if (abort) {
    const p = join(path, 'abort');
    const pct = percentageOf(notes, abort, p);
    let status: number | undefined;
    if (abort.httpStatus !== undefined) {
      const v = abort.httpStatus;
      if (typeof v === 'number' && Number.isInteger(v) && v >= 200 && v <= 599) {
        status = v;
        notes.mapped(join(p, 'httpStatus'), 'method[*].provider.arguments.status');
      } else
        notes.refused(join(p, 'httpStatus'), `expected an HTTP status from 200 to 599, got ${describe(v)}`);
    }
    if (abort.grpcStatus !== undefined)
      notes.refused(
        join(p, 'grpcStatus'),
        'the proxy answers HTTP/1.1 requests: a gRPC status has no equivalent (use httpStatus)',
      );
    if (abort.http2Error !== undefined)
      notes.refused(
        join(p, 'http2Error'),
        'the proxy speaks HTTP/1.1: it cannot reset an HTTP/2 stream with a code',
      );
    for (const k of Object.keys(abort))
      if (!['percentage', 'percent', 'httpStatus', 'grpcStatus', 'http2Error'].includes(k))
        notes.refused(join(p, k), 'unknown field');
    if (abort.httpStatus === undefined && abort.grpcStatus === undefined)
      notes.refused(join(p, 'httpStatus'), 'expected httpStatus, such as 503');
    if (pct === undefined && abort.percentage === undefined && abort.percent === undefined)
      notes.refused(p, 'expected percentage.value (Istio aborts no request without it)');
    else if (status !== undefined && pct !== undefined)
      rules.push({ type: 'http_error', args: { type: 'http_error', status, percentage: pct } });
  }
  return rules;
}

/** RE2 source matching `s` literally. */
const literal = (s: string) => s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');

type Match = Record<string, unknown>;

/** A StringMatch ({exact|prefix|regex}) as an RE2 pattern over the whole value (Istio's regex is RE2, full match). */
function stringRegex(notes: Notes, v: unknown, path: string): string | undefined {
  const s = record(notes, v, path);
  if (!s) return undefined;
  const [[how, what] = []] = Object.entries(s);
  if (Object.keys(s).length !== 1 || typeof what !== 'string' || !how) {
    notes.refused(path, 'expected one of exact, prefix or regex with a string');
    return undefined;
  }
  if (how === 'exact') return `^${literal(what)}$`;
  if (how === 'prefix') return `^${literal(what)}`;
  if (how === 'regex') return `^(?:${what})$`;
  notes.refused(join(path, how), 'expected exact, prefix or regex');
  return undefined;
}

/** Istio's match list (OR of conditions): one proxy match each; `[undefined]` for no match (every request). */
function matchesOf(notes: Notes, v: unknown, path: string): (Match | undefined)[] {
  const items = list(notes, v, path);
  if (!items || items.length === 0) return [undefined];
  const out: (Match | undefined)[] = [];
  for (const [i, raw] of items.entries()) {
    const p = join(path, i);
    const m = record(notes, raw, p);
    if (!m) continue;
    const match: Match = {};
    let ok = true;
    for (const [k, val] of Object.entries(m)) {
      const kp = join(p, k);
      if (k === 'name') {
        notes.ignored(kp, 'a name for people');
        continue;
      }
      if (k === 'uri') {
        const s = record(notes, val, kp);
        const [[how, what] = []] = Object.entries(s ?? {});
        if (!s || Object.keys(s).length !== 1 || typeof what !== 'string' || !how) {
          if (s) notes.refused(kp, 'expected one of exact, prefix or regex with a string');
          ok = false;
        } else if (how === 'prefix') {
          match.path_prefix = what;
          notes.mapped(join(kp, how), 'method[*].provider.arguments.match.path_prefix');
        } else if (how === 'exact' || how === 'regex') {
          match.path_regex = how === 'exact' ? `^${literal(what)}$` : `^(?:${what})$`;
          notes.mapped(
            join(kp, how),
            'method[*].provider.arguments.match.path_regex',
            how === 'regex' ? "RE2, as Istio's, matching the whole path" : 'the whole path',
          );
        } else {
          notes.refused(join(kp, how), 'expected exact, prefix or regex');
          ok = false;
        }
        continue;
      }
      if (k === 'method') {
        const s = record(notes, val, kp);
        const [[how, what] = []] = Object.entries(s ?? {});
        if (!s || Object.keys(s).length !== 1 || how !== 'exact' || typeof what !== 'string') {
          if (s) notes.refused(kp, 'expected exact with a method name (the proxy matches methods by name)');
          ok = false;
        } else if (!/^[A-Za-z]{1,16}$/.test(what)) {
          notes.refused(join(kp, how), `expected an HTTP method, got ${JSON.stringify(what)}`);
          ok = false;
        } else {
          match.method = what.toUpperCase();
          notes.mapped(join(kp, how), 'method[*].provider.arguments.match.method');
        }
        continue;
      }
      if (k === 'headers') {
        const h = record(notes, val, kp);
        const entries = Object.entries(h ?? {});
        if (!h || entries.length !== 1) {
          if (h)
            notes.refused(
              kp,
              'the proxy matches one request header per fault: a condition on several would fault requests that meet only one',
            );
          ok = false;
          continue;
        }
        const [name, cond] = entries[0]!;
        const value = stringRegex(notes, cond, join(kp, name));
        if (value === undefined) ok = false;
        else {
          match.header = { name: name.toLowerCase(), value };
          notes.mapped(
            join(kp, name),
            'method[*].provider.arguments.match.header',
            'its value as an RE2 pattern',
          );
        }
        continue;
      }
      const why =
        k === 'withoutHeaders'
          ? 'the proxy matches requests carrying a header, not those without one: the fault would hit every caller, so it is refused'
          : `the proxy cannot match on ${k} (it matches uri, method and one header): the fault would hit requests Istio would not, so it is refused`;
      notes.refused(kp, why);
      ok = false;
    }
    if (ok) out.push(Object.keys(match).length ? match : undefined);
  }
  // A refused condition leaves no fault behind it: the file is refused anyway, and convert shows nothing half-made.
  return out;
}

export const istio: ManifestFormat = {
  name: 'istio',
  title: 'Istio',
  doc: 'docs/manifests/istio.md',
  detect: (d) =>
    typeof d.apiVersion === 'string' &&
    d.apiVersion.startsWith('networking.istio.io/') &&
    d.kind === 'VirtualService',
  translate,
};
