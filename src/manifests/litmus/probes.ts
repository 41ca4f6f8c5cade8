/**
 * Litmus probes (`spec.experiments[].spec.probe[]`) as Faultline probes:
 * httpProbe -> an http provider probe, cmdProbe -> a process provider probe
 * (argv, never a shell), promProbe -> `faultline.prometheus` query; each with
 * a tolerance built from Litmus' criteria. The mode says where it goes:
 *
 *   SOT        a safeguard without frequency: checked once before anything runs
 *   EOT        the steady-state hypothesis, after the method
 *   Edge       the steady-state hypothesis, before and after
 *   Continuous a safeguard every probePollingInterval, for the whole run
 *   OnChaos    the same (Faultline's safeguards start with the run, a moment before the first fault)
 *
 * k8sProbe reads Kubernetes objects and is refused. A probe URL's host is a
 * Kubernetes service name that rarely resolves on hosts, so its origin goes
 * to `configuration` under a derived name the user maps with --var.
 */
import type { Activity, Tolerance } from '../../core/schema.js';
import { describe, goDurationMs, isRecord, join, type Notes, record, string } from '../notes.js';
import type { Safeguard } from '../types.js';

export const PROBE_TYPES = ['httpProbe', 'cmdProbe', 'promProbe'] as const;
export const PROBE_MODES = ['SOT', 'EOT', 'Edge', 'Continuous', 'OnChaos'] as const;
export type ProbeMode = (typeof PROBE_MODES)[number];

export interface ProbeSink {
  hypothesis: Activity[];
  /** The mode of each hypothesis probe, in order (the engine picks the hypothesis strategy from them). */
  hypothesisModes: ProbeMode[];
  safeguards: Safeguard[];
  configuration: Record<string, unknown>;
}

/** Litmus' run properties: seconds as numbers (Litmus 2) or Go durations (`5s`, Litmus 3). */
function seconds(notes: Notes, v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  const s = string(notes, v, path);
  if (s === undefined) return undefined;
  if (/^\d+(?:\.\d+)?$/.test(s.trim())) return Number(s);
  const ms = goDurationMs(s);
  if (ms === undefined) {
    notes.refused(path, `expected seconds or a duration such as 5s, got ${JSON.stringify(s)}`);
    return undefined;
  }
  return ms / 1000;
}

/** `payment-service` -> `payment_service_url`: a configuration name for a URL's origin. */
export function urlVar(host: string, taken: Record<string, unknown>, origin: string): string {
  const first = /^[0-9.]+$/.test(host) || host.includes(':') ? host : (host.split('.')[0] ?? host);
  let base = `${first
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase()}_url`;
  if (!/^[A-Za-z_]/.test(base)) base = `service_${base}`;
  let name = base;
  for (let i = 2; taken[name] !== undefined && taken[name] !== origin; i++)
    name = `${base.slice(0, -4)}_${i}_url`;
  return name;
}

/** A URL with its origin replaced by `${var}`, the origin stored in configuration. */
function mappedUrl(notes: Notes, raw: string, path: string, sink: ProbeSink): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    notes.refused(path, `expected an http(s) URL, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    notes.refused(path, `expected an http(s) URL, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  const name = urlVar(u.hostname, sink.configuration, u.origin);
  sink.configuration[name] = u.origin;
  const rest = raw.slice(raw.toLowerCase().indexOf(u.host.toLowerCase()) + u.host.length);
  notes.mapped(
    path,
    `configuration.${name}`,
    `${u.hostname} is a Kubernetes service name that may not resolve on hosts: the URL reads \${${name}} (default ${u.origin}); set it with --var ${name}=http://ADDRESS:PORT`,
  );
  return `\${${name}}${rest}`;
}

const NUM = /^-?\d+(?:\.\d+)?$/;

/** `[1,2]`, `1,2` -> ['1','2'] (Litmus writes oneOf/between values as a list in a string). */
function listOf(value: string): string[] {
  return value
    .replace(/^\s*\[|\]\s*$/g, '')
    .split(',')
    .map((s) => s.trim().replace(/^["']|["']$/g, ''))
    .filter((s) => s !== '');
}

/** Litmus' int/float criteria as a jsonpath filter over the value (or `output[target]`). */
export function numericTolerance(
  notes: Notes,
  criteria: string,
  value: string,
  path: string,
  target?: string,
): Tolerance | undefined {
  const at = target ? { target } : {};
  const nums = (xs: string[]) => (xs.every((x) => NUM.test(x)) ? xs : undefined);
  if (['>=', '<=', '==', '!=', '>', '<'].includes(criteria)) {
    if (!NUM.test(value)) {
      notes.refused(
        join(path, 'value'),
        `expected a number for criteria ${criteria}, got ${JSON.stringify(value)}`,
      );
      return undefined;
    }
    return { type: 'jsonpath', path: `$[?(@ ${criteria} ${value})]`, ...at };
  }
  if (criteria === 'oneOf' || criteria === 'between') {
    const xs = nums(listOf(value));
    if (!xs || (criteria === 'between' ? xs.length !== 2 : xs.length === 0)) {
      notes.refused(
        join(path, 'value'),
        `expected ${criteria === 'between' ? 'two numbers such as [1,5]' : 'numbers such as [200,204]'}, got ${JSON.stringify(value)}`,
      );
      return undefined;
    }
    const filter =
      criteria === 'between' ? `@ >= ${xs[0]} and @ <= ${xs[1]}` : xs.map((x) => `@ == ${x}`).join(' or ');
    return { type: 'jsonpath', path: `$[?(${filter})]`, ...at };
  }
  notes.refused(
    join(path, 'criteria'),
    `expected one of >=, <=, ==, !=, >, <, oneOf, between, got ${JSON.stringify(criteria)}`,
  );
  return undefined;
}

const reEscape = (s: string) => s.replace(/[.^$*+?{}[\]\\|()]/g, '\\$&');

/** Litmus' string criteria over a command's output (trimmed, as Litmus compares it). */
function stringTolerance(notes: Notes, criteria: string, value: string, path: string): Tolerance | undefined {
  const re = (pattern: string): Tolerance => ({ type: 'regex', pattern, target: 'stdout' });
  switch (criteria) {
    case 'equal':
    case 'equals':
      return re(`^\\s*${reEscape(value)}\\s*$`);
    case 'contains':
      return re(reEscape(value));
    case 'matches':
      return re(value);
    case 'oneOf':
      return re(`^\\s*(?:${listOf(value).map(reEscape).join('|')})\\s*$`);
    case 'notEqual':
    case 'notMatches':
      notes.refused(
        join(path, 'criteria'),
        `${criteria}: Faultline's tolerances cannot negate a text match (RE2 has no lookahead); compare with equal, contains, matches or oneOf`,
      );
      return undefined;
    default:
      notes.refused(
        join(path, 'criteria'),
        `expected equal, notEqual, contains, matches, notMatches or oneOf, got ${JSON.stringify(criteria)}`,
      );
      return undefined;
  }
}

/**
 * A command line as argv, the way a POSIX shell would split a simple one
 * (quotes, backslashes); undefined when it needs a shell (pipes, redirects,
 * `$` expansions, globs, `;`, `&&`, variable assignments): Faultline never
 * runs one (docs/security.md).
 */
export function splitCommand(line: string): string[] | { shell: string } {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return { shell: 'an unclosed quote' };
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        const d = line[j]!;
        if (d === '$' || d === '`') return { shell: `'${d}' expansion inside double quotes` };
        if (d === '\\' && j + 1 < line.length && '"\\$`'.includes(line[j + 1]!)) j++;
        cur += line[j];
      }
      if (j >= line.length) return { shell: 'an unclosed quote' };
      i = j;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= line.length) return { shell: 'a trailing backslash' };
      cur += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else if ('|&;<>()$`*?[]{}~#!\n\r'.includes(c)) {
      return { shell: `'${c === '\n' ? '\\n' : c}'` };
    } else {
      if (c === '=' && out.length === 0 && inWord && !cur.startsWith('-'))
        return { shell: 'a variable assignment' };
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out.length ? out : { shell: 'an empty command' };
}

interface RunProps {
  timeout?: number;
  retry?: number;
  polling?: number;
  stopOnFailure?: boolean;
}

function runProperties(notes: Notes, v: unknown, path: string, mode: ProbeMode | undefined): RunProps {
  const rp = record(notes, v, path);
  const props: RunProps = {};
  if (!rp) return props;
  const rpPath = (k: string) => join(path, k);
  const t = seconds(notes, rp.probeTimeout, rpPath('probeTimeout'));
  if (t !== undefined) {
    props.timeout = t;
    notes.mapped(rpPath('probeTimeout'), 'provider.timeout');
  }
  for (const k of ['retry', 'attempt'] as const) {
    if (rp[k] === undefined) continue;
    const n = Number(rp[k]);
    if (!Number.isInteger(n) || n < 0)
      notes.refused(rpPath(k), `expected a whole number, got ${describe(rp[k])}`);
    else props.retry = Math.max(props.retry ?? 0, k === 'attempt' ? n - 1 : n);
  }
  if (rp.interval !== undefined) {
    seconds(notes, rp.interval, rpPath('interval'));
    notes.ignored(
      rpPath('interval'),
      'the wait between retries: Faultline retries an http probe at once and others not at all',
    );
  }
  const polling = seconds(notes, rp.probePollingInterval, rpPath('probePollingInterval'));
  if (polling !== undefined) {
    if (mode === 'Continuous' || mode === 'OnChaos') {
      props.polling = Math.max(0.1, polling);
      notes.mapped(rpPath('probePollingInterval'), 'frequency');
    } else
      notes.ignored(
        rpPath('probePollingInterval'),
        `only Continuous and OnChaos probes poll; this one is ${mode}`,
      );
  }
  for (const k of ['initialDelaySeconds', 'initialDelay'] as const) {
    if (rp[k] === undefined) continue;
    const d = seconds(notes, rp[k], rpPath(k));
    if (d)
      notes.warned(
        rpPath(k),
        `Faultline checks without the initial delay of ${d} s (probes have no delay of their own)`,
      );
    else notes.ignored(rpPath(k), 'no delay');
  }
  if (rp.stopOnFailure !== undefined) {
    if (typeof rp.stopOnFailure !== 'boolean')
      notes.refused(rpPath('stopOnFailure'), `expected true or false, got ${describe(rp.stopOnFailure)}`);
    else {
      props.stopOnFailure = rp.stopOnFailure;
      notes.mapped(
        rpPath('stopOnFailure'),
        mode === 'Continuous' || mode === 'OnChaos' || mode === 'SOT'
          ? 'safeguards'
          : 'steady-state-hypothesis',
        'a failed check stops the run in Faultline whatever stopOnFailure says (faults reverted at once)',
      );
    }
  }
  if (rp.evaluationTimeout !== undefined)
    notes.ignored(rpPath('evaluationTimeout'), 'each check is bounded by probeTimeout');
  if (rp.verbosity !== undefined)
    notes.ignored(rpPath('verbosity'), "Faultline's journal records every check");
  notes.rest(
    rp,
    path,
    [
      'probeTimeout',
      'retry',
      'attempt',
      'interval',
      'probePollingInterval',
      'initialDelaySeconds',
      'initialDelay',
      'stopOnFailure',
      'evaluationTimeout',
      'verbosity',
    ],
    'runProperties',
  );
  if (props.retry && props.retry > 0)
    notes.mapped(
      rpPath(rp.retry !== undefined ? 'retry' : 'attempt'),
      'provider.max_retries (http); other probes are not retried',
    );
  return props;
}

function httpProbe(
  notes: Notes,
  inputs: Record<string, unknown>,
  path: string,
  name: string,
  props: RunProps,
  sink: ProbeSink,
): Activity | undefined {
  const rawUrl = string(notes, inputs.url, join(path, 'url'));
  if (rawUrl === undefined) {
    notes.refused(join(path, 'url'), 'expected the URL to probe');
    return undefined;
  }
  const url = mappedUrl(notes, rawUrl, join(path, 'url'), sink);
  const provider: Record<string, unknown> = { type: 'http', url };
  for (const k of ['insecureSkipVerify', 'insecure'] as const) {
    if (inputs[k] === undefined) continue;
    if (typeof inputs[k] !== 'boolean')
      notes.refused(join(path, k), `expected true or false, got ${describe(inputs[k])}`);
    else {
      if (inputs[k]) provider.verify_tls = false;
      notes.mapped(join(path, k), 'provider.verify_tls');
    }
  }
  const rt = inputs.responseTimeout;
  if (rt !== undefined) {
    const ms = Number(rt);
    if (!Number.isFinite(ms) || ms <= 0)
      notes.refused(join(path, 'responseTimeout'), `expected milliseconds, got ${describe(rt)}`);
    else {
      provider.timeout = ms / 1000;
      notes.mapped(join(path, 'responseTimeout'), 'provider.timeout', 'milliseconds');
    }
  }
  if (provider.timeout === undefined && props.timeout) provider.timeout = props.timeout;
  if (props.retry) provider.max_retries = props.retry;
  let criteria: unknown;
  let code: unknown;
  let at = path;
  const method = record(notes, inputs.method, join(path, 'method'));
  if (method) {
    const verbs = Object.keys(method);
    const verb = verbs[0];
    if (verbs.length !== 1 || (verb !== 'get' && verb !== 'post')) {
      notes.refused(
        join(path, 'method'),
        `expected exactly one of get or post, got ${verbs.join(', ') || 'none'}`,
      );
      return undefined;
    }
    at = join(join(path, 'method'), verb);
    const m = record(notes, method[verb], at) ?? {};
    criteria = m.criteria;
    code = m.responseCode;
    const mKnown = ['criteria', 'responseCode'];
    if (verb === 'post') {
      provider.method = 'POST';
      mKnown.push('contentType', 'body', 'bodyPath');
      if (m.bodyPath !== undefined)
        notes.refused(join(at, 'bodyPath'), 'a file from a ConfigMap: put the body in `body`');
      const ct = string(notes, m.contentType, join(at, 'contentType'));
      if (ct) {
        provider.headers = { 'Content-Type': ct };
        notes.mapped(join(at, 'contentType'), 'provider.headers.Content-Type');
      }
      const body = string(notes, m.body, join(at, 'body'));
      if (body !== undefined) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          parsed = undefined;
        }
        if (isRecord(parsed) && (ct ?? 'application/json').includes('json')) {
          provider.arguments = parsed;
          if (!ct) provider.headers = { 'Content-Type': 'application/json' };
          notes.mapped(join(at, 'body'), 'provider.arguments', 'a JSON object body');
        } else
          notes.refused(
            join(at, 'body'),
            'the http provider sends a JSON object or a form: write the body as a JSON object with contentType application/json',
          );
      }
    }
    notes.rest(m, at, mKnown, `httpProbe ${verb}`);
  } else if (inputs.response !== undefined) {
    // The seeds' dialect: `response: {criteria, statusCode}`.
    at = join(path, 'response');
    const r = record(notes, inputs.response, at) ?? {};
    criteria = r.criteria;
    code = r.statusCode ?? r.responseCode;
    notes.rest(r, at, ['criteria', 'statusCode', 'responseCode'], 'httpProbe response');
  } else {
    notes.refused(join(path, 'method'), 'expected method.get or method.post with criteria and responseCode');
    return undefined;
  }
  const c = typeof criteria === 'string' ? criteria : '==';
  const codeText = string(notes, code, join(at, 'responseCode'));
  if (codeText === undefined) {
    notes.refused(join(at, 'responseCode'), 'expected the response code to compare with');
    return undefined;
  }
  let tolerance: Tolerance | undefined;
  if (c === '==' && /^\d{3}$/.test(codeText)) tolerance = Number(codeText);
  else if (c === '!=' && /^\d{3}$/.test(codeText))
    tolerance = { type: 'jsonpath', path: `$[?(@ != ${codeText})]`, target: 'status' };
  else if (c === 'oneOf') {
    const codes = listOf(codeText);
    if (codes.length && codes.every((x) => /^\d{3}$/.test(x))) tolerance = codes.map(Number);
  }
  if (tolerance === undefined) {
    notes.refused(
      join(at, c === '==' || c === '!=' || c === 'oneOf' ? 'responseCode' : 'criteria'),
      `expected criteria ==, != or oneOf with HTTP status codes, got ${JSON.stringify(c)} ${JSON.stringify(codeText)}`,
    );
    return undefined;
  }
  notes.mapped(
    join(at, 'criteria'),
    'tolerance',
    criteria === undefined ? 'no criteria: == (the status must be the code)' : undefined,
  );
  notes.rest(
    inputs,
    path,
    ['url', 'insecureSkipVerify', 'insecure', 'responseTimeout', 'method', 'response'],
    'httpProbe',
  );
  return { type: 'probe', name, provider, tolerance } as Activity;
}

function cmdProbe(
  notes: Notes,
  inputs: Record<string, unknown>,
  path: string,
  name: string,
  props: RunProps,
): Activity | undefined {
  const command = string(notes, inputs.command, join(path, 'command'));
  if (command === undefined) {
    notes.refused(join(path, 'command'), 'expected the command to run');
    return undefined;
  }
  if (
    inputs.source !== undefined &&
    inputs.source !== 'inline' &&
    !(isRecord(inputs.source) && Object.keys(inputs.source).length === 0)
  ) {
    notes.refused(
      join(path, 'source'),
      'a probe run in a pod of its own image: Faultline runs commands on the runner host (source inline only)',
    );
    return undefined;
  }
  if (inputs.source !== undefined) notes.mapped(join(path, 'source'), 'provider (on the runner host)');
  const argv = splitCommand(command);
  if (!Array.isArray(argv)) {
    notes.refused(
      join(path, 'command'),
      `needs a shell (${argv.shell}): Faultline runs commands without one; put the pipeline in a script and name the script`,
    );
    return undefined;
  }
  notes.mapped(
    join(path, 'command'),
    'provider.path + provider.arguments',
    'split into argv, run without a shell',
  );
  const cmp = record(notes, inputs.comparator, join(path, 'comparator'));
  if (!cmp) {
    notes.refused(join(path, 'comparator'), 'expected a comparator {type, criteria, value}');
    return undefined;
  }
  const cp = join(path, 'comparator');
  const type = cmp.type ?? 'string';
  const criteria = string(notes, cmp.criteria, join(cp, 'criteria')) ?? '';
  const value = string(notes, cmp.value, join(cp, 'value')) ?? '';
  notes.rest(cmp, cp, ['type', 'criteria', 'value'], 'comparator');
  let tolerance: Tolerance | undefined;
  if (type === 'int' || type === 'float') tolerance = numericTolerance(notes, criteria, value, cp, 'stdout');
  else if (type === 'string') tolerance = stringTolerance(notes, criteria, value, cp);
  else notes.refused(join(cp, 'type'), `expected string, int or float, got ${describe(type)}`);
  if (!tolerance) return undefined;
  notes.mapped(
    cp,
    'tolerance',
    "compared with the command's standard output; its exit status is not checked",
  );
  notes.rest(inputs, path, ['command', 'comparator', 'source'], 'cmdProbe');
  return {
    type: 'probe',
    name,
    provider: {
      type: 'process',
      path: argv[0]!,
      arguments: argv.slice(1),
      ...(props.timeout ? { timeout: props.timeout } : {}),
    },
    tolerance,
  } as Activity;
}

function promProbe(
  notes: Notes,
  inputs: Record<string, unknown>,
  path: string,
  name: string,
  props: RunProps,
  sink: ProbeSink,
): Activity | undefined {
  if (inputs.queryPath !== undefined) {
    notes.refused(join(path, 'queryPath'), 'a file from a ConfigMap: put the query in `query`');
    return undefined;
  }
  const query = string(notes, inputs.query, join(path, 'query'));
  const endpoint = string(notes, inputs.endpoint, join(path, 'endpoint'));
  if (!query || !endpoint) {
    if (!query) notes.refused(join(path, 'query'), 'expected a PromQL query');
    if (!endpoint) notes.refused(join(path, 'endpoint'), "expected Prometheus' URL");
    return undefined;
  }
  const url = mappedUrl(notes, endpoint, join(path, 'endpoint'), sink);
  const cmp = record(notes, inputs.comparator, join(path, 'comparator'));
  if (!cmp) {
    notes.refused(join(path, 'comparator'), 'expected a comparator {criteria, value}');
    return undefined;
  }
  const cp = join(path, 'comparator');
  const tolerance = numericTolerance(
    notes,
    string(notes, cmp.criteria, join(cp, 'criteria')) ?? '',
    string(notes, cmp.value, join(cp, 'value')) ?? '',
    cp,
  );
  notes.rest(cmp, cp, ['type', 'criteria', 'value'], 'comparator');
  if (!tolerance) return undefined;
  notes.mapped(join(path, 'query'), 'provider.arguments.query');
  notes.mapped(cp, 'tolerance');
  notes.rest(inputs, path, ['endpoint', 'query', 'queryPath', 'comparator'], 'promProbe');
  return {
    type: 'probe',
    name,
    provider: {
      type: 'faultline',
      module: 'faultline.prometheus',
      func: 'query',
      arguments: { query, url, as: 'number', ...(props.timeout ? { timeout: props.timeout } : {}) },
    },
    tolerance,
  } as Activity;
}

/** Translates one experiment's `spec.probe` list into `sink`. */
export function translateProbes(notes: Notes, list: unknown, path: string, sink: ProbeSink): void {
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) {
    notes.refused(path, `expected a list of probes, got ${describe(list)}`);
    return;
  }
  list.forEach((raw, i) => {
    const p = join(path, i);
    const probe = record(notes, raw, p);
    if (!probe) return;
    const name = string(notes, probe.name, join(p, 'name'));
    if (!name) {
      notes.refused(join(p, 'name'), 'expected the probe name');
      return;
    }
    const type = probe.type;
    if (type === 'k8sProbe') {
      notes.refused(
        join(p, 'type'),
        'k8sProbe reads and writes Kubernetes objects: there are none on hosts (check the service itself with an httpProbe or cmdProbe)',
      );
      return;
    }
    if (typeof type !== 'string' || !(PROBE_TYPES as readonly string[]).includes(type)) {
      notes.refused(join(p, 'type'), `expected one of ${PROBE_TYPES.join(', ')}, got ${describe(type)}`);
      return;
    }
    let mode: ProbeMode;
    if (probe.mode === undefined) {
      mode = 'Edge';
      notes.warned(
        join(p, 'mode'),
        'no mode: Litmus declares it mandatory and its runner (litmus-go pkg/probe/probe.go) would run this probe in no phase at all; Faultline reads it as a health check in Edge mode (before and after), the mode of Litmus/Harness default health-check probes',
      );
    } else {
      const m = PROBE_MODES.find(
        (x) => typeof probe.mode === 'string' && x.toLowerCase() === probe.mode.toLowerCase(),
      );
      if (!m) {
        notes.refused(
          join(p, 'mode'),
          `expected one of ${PROBE_MODES.join(', ')}, got ${describe(probe.mode)}`,
        );
        return;
      }
      mode = m;
    }
    const props = runProperties(notes, probe.runProperties, join(p, 'runProperties'), mode);
    const inputsKey = `${type}/inputs`;
    const inputs = record(notes, probe[inputsKey], join(p, inputsKey));
    if (!inputs) {
      notes.refused(join(p, inputsKey), `expected the ${type}'s inputs`);
      return;
    }
    notes.rest(probe, p, ['name', 'type', 'mode', 'runProperties', inputsKey, 'data'], type);
    if (probe.data !== undefined)
      notes.ignored(join(p, 'data'), "k8sProbe's data: not used by this probe type");
    const ip = join(p, inputsKey);
    const activity =
      type === 'httpProbe'
        ? httpProbe(notes, inputs, ip, name, props, sink)
        : type === 'cmdProbe'
          ? cmdProbe(notes, inputs, ip, name, props)
          : promProbe(notes, inputs, ip, name, props, sink);
    if (!activity) return;
    switch (mode) {
      case 'Edge':
      case 'EOT':
        sink.hypothesis.push(activity);
        sink.hypothesisModes.push(mode);
        notes.mapped(
          join(p, 'mode'),
          'steady-state-hypothesis.probes',
          mode === 'Edge' ? 'checked before and after the method' : 'checked after the method',
        );
        break;
      case 'SOT':
        sink.safeguards.push({ ...activity, tolerance: activity.tolerance! } as Safeguard);
        notes.mapped(
          join(p, 'mode'),
          'safeguards',
          'checked once before anything runs; a failure means no fault is injected (Litmus records it and, without stopOnFailure, injects anyway)',
        );
        break;
      default: {
        const frequency = props.polling ?? 1;
        sink.safeguards.push({ ...activity, tolerance: activity.tolerance!, frequency } as Safeguard);
        notes.mapped(
          join(p, 'mode'),
          'safeguards',
          `checked every ${frequency} s while the run lasts${mode === 'OnChaos' ? ' (from the start of the run, a moment before the first fault)' : ''}; a failed check stops the run and reverts the faults at once, where Litmus without stopOnFailure records it and goes on`,
        );
      }
    }
  });
}
