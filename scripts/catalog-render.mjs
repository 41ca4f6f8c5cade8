// Renders docs/catalog.md from the built-in activities as `faultline discover`
// describes them (src/cli/discover.ts: the same zod schemas validation uses).
// Pure: it takes the activities and returns Markdown, so the generator
// (scripts/gen-catalog.mjs, from dist) and the drift test
// (test/unit/docs-catalog.test.ts, from src) render the same text.
import YAML from 'yaml';

/** Where docs/catalog.md is regenerated from; printed at the top of the file. */
export const REGENERATE = 'npm run build && node scripts/gen-catalog.mjs';

/**
 * Hand-written prose per module that is not a fault group: a title, the
 * detailed doc (optional), and one line. A fault group's prose is its
 * `catalog` entry in src/faults/groups.ts, which the caller passes
 * (`groups`), so a new group needs no line here. A module with no prose still
 * gets its section (with a generic line), so a new module never breaks the
 * catalog; the test asks for prose. Sections come in the groups' order, then
 * these in this order, except that one with `before` goes just before that module.
 */
export const MODULES = {
  // The marker, the run's faults and the proxy come after the host and dependency groups and
  // before the SDK's faults, where the catalog has always had them.
  'faultline.marker': {
    before: 'faultline.sdk',
    title: 'Marker file',
    doc: 'faults.md#the-marker-file-fault',
    about:
      'The simplest fault: a flag file, removed when its duration elapses or the run ends. Useful to degrade a service that reads the flag (the quickstart does) and to try the fault contract.',
  },
  'faultline.faults': {
    before: 'faultline.sdk',
    title: "The run's faults",
    doc: 'faults.md',
    about: 'Revert faults before their duration elapses, and count the active ones.',
  },
  'faultline.proxy': {
    before: 'faultline.sdk',
    title: 'Fault proxy',
    doc: 'proxy.md#in-experiments',
    about:
      "Manage a Faultline or Toxiproxy server: proxies, and toxics as faults (removed after their `duration` or when the run ends). The API is `api_url`, else the run's in-process `proxies:`, else `toxiproxy_host`/`toxiproxy_port`, else `FAULTLINE_PROXY_URL`, else `http://127.0.0.1:8474`.",
  },
  'faultline.load': {
    title: 'Load metrics',
    doc: 'load.md#in-an-experiment',
    about:
      "Steady-state probes over the traffic of the experiment's `load:` section, over the last `window` seconds.",
  },
  'faultline.prometheus': {
    title: 'Prometheus queries',
    doc: 'prometheus.md',
    about:
      'PromQL as steady-state probes, returning what a tolerance wants (a number, a vector, a reduced range). The server is `url`, else configuration `prometheus_base_url`, else `http://localhost:9090`.',
  },
  'chaostoxi.proxy.actions': {
    title: "Chaos Toolkit's toxiproxy extension: proxy actions",
    doc: 'proxy.md#chaos-toolkits-toxiproxy-extension',
    about: 'Native implementation of `chaostoolkit-toxiproxy`: experiments written for it run unchanged.',
  },
  'chaostoxi.proxy.probes': {
    title: "Chaos Toolkit's toxiproxy extension: proxy probes",
    doc: 'proxy.md#chaos-toolkits-toxiproxy-extension',
    about: 'Native implementation of `chaostoolkit-toxiproxy` probes.',
  },
  'chaostoxi.toxic.actions': {
    title: "Chaos Toolkit's toxiproxy extension: toxic actions",
    doc: 'proxy.md#chaos-toolkits-toxiproxy-extension',
    about:
      'Native implementation of `chaostoolkit-toxiproxy` toxic actions; unlike the original, a toxic the experiment forgets to delete is removed when the run ends.',
  },
  'chaosprometheus.probes': {
    title: "Chaos Toolkit's Prometheus extension",
    doc: 'prometheus.md#chaos-toolkits-chaosprometheusprobes-natively',
    about:
      "Native implementation of `chaostoolkit-prometheus`: returns Prometheus' response JSON as-is, so tolerances written for the extension keep working.",
  },
};

/**
 * Every module's prose, by module: the fault groups' (`faultline.<group>`, from
 * src/faults/groups.ts's entries) and MODULES'.
 *
 * @param groups FAULT_GROUPS (only `group` and `catalog` are read)
 */
export function moduleDocs(groups = []) {
  const docs = {};
  for (const { group, catalog } of groups) {
    if (group !== undefined && catalog) docs[`faultline.${group}`] = catalog;
  }
  return { ...docs, ...MODULES };
}

/** The order of the modules in the catalog (see MODULES); modules not in it follow, alphabetically. */
export function moduleOrder(groups = []) {
  const order = groups.flatMap(({ group }) => (group === undefined ? [] : [`faultline.${group}`]));
  for (const [module, { before }] of Object.entries(MODULES)) {
    const at = before === undefined ? -1 : order.indexOf(before);
    if (at === -1) order.push(module);
    else order.splice(at, 0, module);
  }
  return order;
}

/**
 * Values for required arguments, by `module.func.argument`, `argument:type`
 * or `argument`. Anything else falls back to its default, its first enum
 * value, or a value of its type.
 */
const PLACEHOLDERS = {
  'faultline.stress.disk_fill.path': '/var/tmp',
  'faultline.proxy.create_proxy.name': 'api',
  'faultline.proxy.update_toxic.name': 'latency_downstream',
  'faultline.proxy.remove_toxic.name': 'latency_downstream',
  'faultline.network.duplicate.percent': 1,
  'faultline.network.corrupt.percent': 1,
  'chaostoxi.toxic.actions.create_slicer_toxic.delay': 10,
  'chaostoxi.toxic.actions.create_slow_connection_close_toxic.delay': 500,
  'rate:string': '1mbit',
  'rate:integer': 100,
  'delay:number': 200,
  service: 'checkout',
  query: 'up',
  start: '5 minutes ago',
  end: 'now',
  proxy: 'api',
  proxy_name: 'api',
  for_proxy: 'api',
  toxic_name: 'slow-api',
  toxic_type: 'latency',
  upstream_host: '127.0.0.1',
  upstream_port: 8080,
  upstream: '127.0.0.1:8080',
  attribute: 'listen',
  name: 'api',
  type: 'latency',
  latency: 200,
  bytes_limit: 1048576,
  average_size: 1024,
  size_variation: 128,
  timeout: 1000,
  path: '/tmp/faultline.flag',
  interface: 'eth0',
  percent: 10,
  table: 'orders',
  mb: 512,
};

/**
 * Optional arguments a real call needs or should have: cross-field rules the
 * schema checks (one process selector, `bytes` or `percent`, `start` or
 * `last`), and a narrow scope where none would mean "everything".
 */
const EXTRAS = {
  'faultline.http.fault': {
    api_url: 'http://127.0.0.1:8474',
    type: 'http_error',
    status: 503,
    percentage: 10,
  },
  'faultline.process.kill': { name: 'worker' },
  'faultline.process.kill_random': { name: 'worker' },
  'faultline.process.pause': { name: 'worker' },
  'faultline.stress.fd_exhaust': { name: 'worker' },
  'faultline.stress.disk_fill': { percent: 90 },
  'faultline.stress.cpu': { workers: 1, load: 50 },
  'faultline.network.partition': { namespace: 'app', destination: '10.0.0.7', port: 5432, protocol: 'tcp' },
  'faultline.network.loss': { namespace: 'app' },
  'faultline.network.bandwidth': { namespace: 'app' },
  'faultline.network.dns': { namespace: 'app' },
  'faultline.network.latency': { namespace: 'app' },
  'faultline.network.duplicate': { namespace: 'app' },
  'faultline.network.corrupt': { namespace: 'app' },
  'faultline.postgres.slow_queries': { database: 'shop' },
  'faultline.postgres.exhaust_connections': { database: 'shop' },
  'faultline.postgres.lock_table': { database: 'shop' },
  'faultline.postgres.terminate_backends': { database: 'shop', application_name: 'orders-api' },
  'faultline.redis.client_pause': { mode: 'WRITE' },
  'faultline.proxy.add_toxic': { attributes: { latency: 200 } },
  'faultline.prometheus.query': { as: 'number' },
  'faultline.prometheus.query_range': { last: 300, reduce: 'max' },
};

/** Seconds every fault example lasts. */
export const EXAMPLE_DURATION = 30;

/** Literals of an enum type as discover prints it (`"a" | "b"`, `50 | "max"`), or undefined. */
function enumValues(type) {
  const parts = type.split(' | ');
  if (!parts.every((p) => /^(".*"|-?\d+(\.\d+)?|true|false)$/.test(p))) return undefined;
  return parts.map((p) => JSON.parse(p));
}

function placeholder(activity, arg) {
  const key = `${activity.module}.${activity.func}.${arg.name}`;
  const base = arg.type.split(' | ')[0];
  for (const k of [key, `${arg.name}:${base}`, arg.name]) {
    if (Object.hasOwn(PLACEHOLDERS, k)) return PLACEHOLDERS[k];
  }
  if (arg.default !== undefined) return arg.default;
  const values = enumValues(arg.type);
  if (values) return values[0];
  if (base.endsWith('[]')) return [];
  switch (base) {
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return true;
    case 'object':
      return {};
    default:
      return `my-${arg.name.replaceAll('_', '-')}`;
  }
}

/** The provider type that runs a module: built-ins are `faultline`, Chaos Toolkit's python modules `python`. */
export function providerType(module) {
  return module.startsWith('faultline.') ? 'faultline' : 'python';
}

/** The `faultline inject` name of an activity, when it is an exposed fault. */
export function injectName(activity, exposed) {
  const name = `${activity.module.replace(/^faultline\./, '')}.${activity.func}`;
  return activity.module.startsWith('faultline.') && exposed.includes(name) ? name : undefined;
}

/** The arguments of the example: required ones, the extras, and `duration` for faults. */
export function exampleArguments(activity) {
  const args = {};
  const extras = EXTRAS[`${activity.module}.${activity.func}`] ?? {};
  for (const arg of activity.arguments) {
    if (Object.hasOwn(extras, arg.name)) args[arg.name] = extras[arg.name];
    else if (arg.name === 'duration') args.duration = EXAMPLE_DURATION;
    else if (arg.required) args[arg.name] = placeholder(activity, arg);
  }
  return args;
}

/** A minimal activity calling this built-in, as it goes into `method:` (or `steady-state-hypothesis.probes`). */
export function exampleActivity(activity) {
  const args = exampleArguments(activity);
  const short = activity.module.startsWith('faultline.') ? `${activity.module.slice(10)}-` : '';
  return {
    type: activity.type,
    name: `${short}${activity.func}`.replaceAll('_', '-'),
    provider: {
      type: providerType(activity.module),
      module: activity.module,
      func: activity.func,
      ...(Object.keys(args).length > 0 ? { arguments: args } : {}),
    },
  };
}

/** `key=value` as a shell word: bare when safe, else single-quoted. */
function shellWord(text) {
  return /^[\w./:@,%+=-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The `faultline inject` command equivalent to the example, or undefined for non-exposed activities. */
export function injectCommand(activity, exposed) {
  const name = injectName(activity, exposed);
  if (!name) return undefined;
  const words = ['faultline', 'inject', name];
  for (const [key, value] of Object.entries(exampleArguments(activity))) {
    if (key === 'duration') continue;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [sub, v] of Object.entries(value)) {
        words.push(shellWord(`${key}.${sub}=${typeof v === 'string' ? v : JSON.stringify(v)}`));
      }
    } else {
      words.push(shellWord(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`));
    }
  }
  words.push('--duration', `${EXAMPLE_DURATION}s`);
  return words.join(' ');
}

/** The anchor of a module's or an activity's section (explicit, so headings can change). */
export function anchorOf(module, func) {
  return func === undefined ? module : `${module}.${func}`;
}

/** Table-cell text: pipes escaped everywhere, `<`/`>` escaped outside code spans, one line. */
function cell(text) {
  return String(text)
    .replace(/\s+/g, ' ')
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replaceAll('<', '&lt;').replaceAll('>', '&gt;')))
    .join('')
    .replaceAll('|', '\\|');
}

/** Prose text: `<`/`>` escaped outside code spans. */
function prose(text) {
  return String(text)
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replaceAll('<', '&lt;').replaceAll('>', '&gt;')))
    .join('');
}

function code(value) {
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

function sortModules(modules, order) {
  const rank = (m) => {
    const i = order.indexOf(m);
    return i === -1 ? order.length : i;
  };
  return [...modules].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function renderActivity(activity, exposed) {
  const lines = [];
  const inject = injectName(activity, exposed);
  const tags = [activity.type, ...(inject ? ['fault'] : [])];
  lines.push(
    `### <a id="${anchorOf(activity.module, activity.func)}"></a>\`${activity.func}\` (${tags.join(', ')})`,
  );
  lines.push('');
  lines.push(prose(activity.doc));
  lines.push('');
  if (activity.arguments.length === 0) {
    lines.push('No arguments.');
  } else {
    lines.push('| argument | type | required | default | description |');
    lines.push('| --- | --- | --- | --- | --- |');
    for (const arg of activity.arguments) {
      lines.push(
        `| \`${arg.name}\` | \`${cell(arg.type)}\` | ${arg.required ? 'yes' : ''} | ${
          arg.default === undefined ? '' : cell(code(arg.default))
        } | ${cell(arg.description ?? '')} |`,
      );
    }
  }
  lines.push('');
  lines.push('```yaml');
  lines.push(YAML.stringify([exampleActivity(activity)], { lineWidth: 0 }).trimEnd());
  lines.push('```');
  const command = injectCommand(activity, exposed);
  if (command) {
    lines.push('');
    lines.push('```sh');
    lines.push(command);
    lines.push('```');
  }
  lines.push('');
  return lines;
}

/**
 * The whole of docs/catalog.md.
 *
 * @param activities what discoverActivities() returns
 * @param options.exposed the `group.name` of every exposed fault ((await exposedFaults()).keys())
 * @param options.groups the fault groups (src/faults/groups.ts's FAULT_GROUPS), for their prose and order
 */
export function renderCatalog(activities, { exposed = [], groups = [] } = {}) {
  const docs = moduleDocs(groups);
  const exposedNames = [...exposed].sort();
  const byModule = new Map();
  for (const a of activities) {
    if (!byModule.has(a.module)) byModule.set(a.module, []);
    byModule.get(a.module).push(a);
  }
  for (const list of byModule.values()) list.sort((a, b) => a.func.localeCompare(b.func));
  const modules = sortModules(byModule.keys(), moduleOrder(groups));

  const out = [];
  out.push('# Built-in activity catalog');
  out.push('');
  out.push(
    "<!-- Generated from the activities' zod schemas by scripts/gen-catalog.mjs: do not edit by hand. -->",
  );
  out.push('');
  out.push(`> **Generated.** Regenerate with \`${REGENERATE}\` after changing an activity or a fault;`);
  out.push('> `test/unit/docs-catalog.test.ts` fails, naming the sections, when this file is out of date.');
  out.push('');
  out.push(
    'Every built-in probe and action, grouped by module, with its arguments as `faultline discover` lists them (the same schemas validate experiments).',
  );
  out.push(
    'Modules named `faultline.*` are called with `provider: {type: faultline}`; the Chaos Toolkit modules (`chaostoxi.*`, `chaosprometheus.*`) with `provider: {type: python}`, exactly as experiments written for Chaos Toolkit call them (no Python is involved).',
  );
  out.push(
    `Each example fills the required arguments with placeholders, plus the few optional ones a real call needs (a process selector, a narrow network scope); fault examples last \`duration: ${EXAMPLE_DURATION}\` seconds. Actions marked **fault** are also a \`faultline inject\` command.`,
  );
  out.push('For the concepts and a path from a first experiment to CI, read the [user guide](guide.md).');
  out.push('');
  out.push('| module | provider type | actions | probes | details |');
  out.push('| --- | --- | --- | --- | --- |');
  for (const m of modules) {
    const list = byModule.get(m);
    const names = (kind) =>
      list
        .filter((a) => a.type === kind)
        .map((a) => `[\`${a.func}\`](#${anchorOf(m, a.func)})`)
        .join(', ');
    const info = docs[m];
    out.push(
      `| [\`${m}\`](#${anchorOf(m)}) | \`${providerType(m)}\` | ${names('action')} | ${names('probe')} | ${
        info?.doc ? `[${info.doc.split('#')[0]}](${info.doc})` : ''
      } |`,
    );
  }
  out.push('');
  for (const m of modules) {
    const info = docs[m];
    out.push(`## <a id="${anchorOf(m)}"></a>\`${m}\`${info ? `: ${info.title}` : ''}`);
    out.push('');
    out.push(
      info
        ? `${info.about}${info.doc ? ` Details: [${info.doc.split('#')[0]}](${info.doc}).` : ''}`
        : `Provider \`type: ${providerType(m)}\`.`,
    );
    out.push('');
    for (const a of byModule.get(m)) out.push(...renderActivity(a, exposedNames));
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/**
 * Splits catalog Markdown into sections keyed by heading (`# ...` for the
 * preamble, `## module`, `### func` qualified by its module), so a drift
 * report can name what changed.
 */
export function catalogSections(markdown) {
  const sections = new Map();
  let module = '';
  let key = '(preamble)';
  sections.set(key, '');
  for (const line of markdown.split('\n')) {
    const h2 = /^## (?:<a [^>]*><\/a>)?`([^`]+)`/.exec(line);
    const h3 = /^### (?:<a [^>]*><\/a>)?`([^`]+)`/.exec(line);
    if (h2) {
      module = h2[1];
      key = module;
    } else if (h3) {
      key = `${module} ${h3[1]}`;
    }
    if (!sections.has(key)) sections.set(key, '');
    sections.set(key, `${sections.get(key)}${line}\n`);
  }
  return sections;
}

/** The sections that differ between two catalogs (added, removed or changed), by name. */
export function diffSections(expected, actual) {
  const a = catalogSections(expected);
  const b = catalogSections(actual);
  const names = new Set([...a.keys(), ...b.keys()]);
  const out = [];
  for (const name of names) {
    if (!b.has(name)) out.push(`${name} (missing from docs/catalog.md)`);
    else if (!a.has(name)) out.push(`${name} (no longer exists)`);
    else if (a.get(name) !== b.get(name)) out.push(`${name} (changed)`);
  }
  return out;
}
