/**
 * Validation of an experiment: the zod schema (with union failures narrowed
 * to the branch the author meant), then the checks a schema cannot express
 * (tolerances, refs, controls, environment, provider checks). Unlike Chaos
 * Toolkit, which stops at the first problem, every issue is reported, each
 * with its path and, for files, its line and column.
 */
import { z } from 'zod';
import { FaultlineError, type Issue } from '../core/errors.js';
import { type Targets, TargetsSchema } from '../core/fleet.js';
import { type DocPath, formatPath, type PositionOf } from '../core/positions.js';
import {
  ActivityRefSchema,
  ControlProviderSchema,
  EnvValueSchema,
  type Experiment,
  ExperimentSchema,
  FullActivitySchema,
  OBJECT_TOLERANCE_TYPES,
  ObjectToleranceSchema,
  ProviderSchema,
  SafeguardSchema,
  type Tolerance,
  ToleranceSchema,
} from '../core/schema.js';
import { isDynamicProbe, isEnvDefinition, resolveConfigurationEnv } from './configuration.js';
import type { LoadedSource } from './load.js';
import { unknownKeys } from './unknown-keys.js';

/**
 * The checks validation runs but does not import: each provider's own check()
 * and each tolerance kind's. The composition root (src/compose.ts) builds
 * them; src/lib/validate.ts supplies them to callers that pass none.
 */
export interface ValidationRegistries {
  providers: {
    get(type: string): ProviderChecks | undefined;
  };
  validateTolerance(tolerance: Tolerance): Issue[];
}

/** What validation gives a provider check (engine/context.ts's CheckContext has the same shape). */
export interface ProviderCheckContext {
  baseDir: string;
  importModules: boolean;
  note(issue: Issue): void;
  /** The activity's name (Chaos Toolkit's messages name it). */
  activity?: string;
  /** The environment the run will have (which Python, PYTHONPATH). */
  env: NodeJS.ProcessEnv;
  /** The activity's `targets:`, when it has a valid one. */
  targets?: Targets;
}

/** The validation hooks of one provider type (all optional members of its ProviderRunner). */
export interface ProviderChecks {
  /** Checks the schema cannot make; issue paths relative to the provider. */
  check?(provider: never, ctx: ProviderCheckContext): Issue[] | Promise<Issue[]>;
  /**
   * check()'s messages name the activity (ctx.activity): it is called once per
   * activity instead of once per identical provider.
   */
  checkPerActivity?: boolean;
  /**
   * Checks a control declared with this provider type; what it returns are
   * WARNINGS (Chaos Toolkit runs on without a control it cannot load).
   */
  checkControl?(provider: never, control: string, ctx: ProviderCheckContext): Issue[] | Promise<Issue[]>;
  /** Whether the control is one run as safeguards (its `arguments.probes` are then checked as activities). */
  isSafeguardControl?(provider: never): boolean;
}

/** Validation's options with the registries it checks with. */
export interface CheckedValidateOptions extends ValidateOptions {
  registries: ValidationRegistries;
}

export interface ValidateOptions {
  /** Where relative paths resolve for provider checks; default: the source's directory, else cwd. */
  baseDir?: string;
  /** Environment for `{type: env}` configuration and secrets; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Report env-backed configuration and secrets whose variable is missing (default true, as Chaos Toolkit). */
  checkEnv?: boolean;
  /**
   * `--var` / `--var-file` values: a configuration key or secret scope they
   * provide is not reported as missing from the environment. (Chaos Toolkit
   * validates without them, so `--var key=...` cannot rescue an unset env var.)
   */
  overrides?: { configuration?: Record<string, unknown>; secrets?: Record<string, unknown> };
  /**
   * Import node provider modules to check their exports. Off by default:
   * validation executes nothing; importing runs the module's top-level code.
   */
  importModules?: boolean;
  /**
   * A settings file's controls (`--settings`), by name: checked with the
   * experiment's (a python module not found is a warning; a safeguards
   * control's probes are activities), reported at `settings.controls.NAME`.
   */
  settingsControls?: Readonly<Record<string, unknown>>;
}

export interface ValidationResult {
  /** The parsed experiment; when there are issues, the raw document (do not run it). */
  experiment: Experiment;
  /** Every problem found, in document order. Empty when valid. */
  issues: Issue[];
  /** What is valid but probably a mistake (unknown keys: `titel`), in document order; never fails a run. */
  warnings: Issue[];
  /** What was not checked and why (a node module not imported); never fails a run. */
  notes: Issue[];
}

/** Beyond this many, issues are summarised in one last issue. */
export const MAX_ISSUES = 500;

type Path = (string | number)[];
interface RawIssue {
  path: Path;
  message: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isLoadedSource(v: unknown): v is LoadedSource {
  return isObject(v) && 'raw' in v && typeof v.positionOf === 'function' && typeof v.source === 'string';
}

/**
 * Validates a loaded source (or a plain object) and returns every issue.
 *
 * @example
 * const { experiment, issues } = await validateExperiment(await loadExperimentSource('exp.json'));
 * for (const issue of issues) console.error(formatIssue(issue, 'exp.json'));
 */
export async function validateExperiment(
  loaded: LoadedSource | unknown,
  opts: CheckedValidateOptions,
): Promise<ValidationResult> {
  const src = isLoadedSource(loaded) ? loaded : undefined;
  const raw = src ? src.raw : loaded;
  const positionOf: PositionOf = src ? (p) => src.positionOf(p) : () => undefined;
  const issues = collectIssues();
  const { collected, add } = issues;

  let experiment = raw as Experiment;
  const warned: RawIssue[] = [];
  const noted: RawIssue[] = [];
  if (raw === null || raw === undefined || (isObject(raw) && Object.keys(raw).length === 0)) {
    add([], 'an empty experiment is not an experiment');
  } else if (!isObject(raw)) {
    add([], `expected an object (the experiment) at the top level, got ${describe(raw)}`);
  } else {
    unknownKeys(raw, (path, message) => warned.push({ path, message }));
    const parsed = ExperimentSchema.safeParse(raw);
    if (parsed.success) experiment = parsed.data;
    else for (const issue of parsed.error.issues) convertIssue(issue, [], raw, add);
    await semanticChecks(raw, add, opts.settingsControls, {
      baseDir: opts.baseDir ?? src?.baseDir ?? process.cwd(),
      env: opts.env ?? process.env,
      checkEnv: opts.checkEnv ?? true,
      overrides: opts.overrides,
      importModules: opts.importModules ?? false,
      note: (path, message) => noted.push({ path, message }),
      warn: (path, message) => warned.push({ path, message }),
      checked: new Map(),
      pending: [],
      registries: opts.registries,
    });
  }
  return {
    experiment,
    issues: finalise(collected, issues.overflow(), positionOf, raw),
    warnings: finalise(warned, 0, positionOf, raw),
    notes: finalise(noted, 0, positionOf, raw),
  };
}

/**
 * Like validateExperiment, but throws FAULTLINE_ERR_VALIDATION (with every
 * issue in `issues`) unless the experiment is valid.
 *
 * @example
 * const experiment = await assertValidExperiment(await loadExperimentSource(path));
 */
export async function assertValidExperiment(
  loaded: LoadedSource | unknown,
  opts: CheckedValidateOptions,
): Promise<ValidationResult> {
  const result = await validateExperiment(loaded, opts);
  if (result.issues.length > 0) {
    const source = isLoadedSource(loaded) ? loaded.source : undefined;
    throw new FaultlineError('FAULTLINE_ERR_VALIDATION', summarise(result.issues, source), {
      issues: result.issues,
    });
  }
  return result;
}

/** A one-line heading; callers print `issues` under it, one line each (formatIssue), as the CLI does. */
export function summarise(issues: readonly Issue[], source?: string): string {
  const n = issues.length;
  return `${source ?? 'The experiment'} is not a valid experiment (${n} issue${n === 1 ? '' : 's'})`;
}

/**
 * Every issue of a zod parse of `raw` (plus `extra` issues found by the caller's own checks), worded as
 * experiment issues are, positioned through `positionOf`, in document order, at most MAX_ISSUES: for
 * other documents validated with a zod schema (game-day plans, src/gameday/plan.ts).
 */
export function documentIssues(
  raw: unknown,
  positionOf: PositionOf,
  error: z.ZodError | undefined,
  extra: readonly { path: (string | number)[]; message: string }[] = [],
): Issue[] {
  const { collected, add, overflow } = collectIssues();
  if (error) for (const issue of error.issues) convertIssue(issue, [], raw, add);
  for (const e of extra) add([...e.path], e.message);
  return finalise(collected, overflow(), positionOf, raw);
}

/** Where issues gather: past a generous cap only counted, since a hostile file can produce millions. */
function collectIssues() {
  const collected: RawIssue[] = [];
  let overflow = 0;
  return {
    collected,
    add: (path: Path, message: string) => {
      if (collected.length < MAX_ISSUES * 4) collected.push({ path, message });
      else overflow++;
    },
    overflow: () => overflow,
  };
}

function finalise(collected: RawIssue[], overflow: number, positionOf: PositionOf, root: unknown): Issue[] {
  const seen = new Set<string>();
  const kept: RawIssue[] = [];
  let dropped = overflow;
  for (const r of collected) {
    // Chaos Toolkit ignores tolerances outside the hypothesis (never evaluated there).
    if ((r.path[0] === 'method' || r.path[0] === 'rollbacks') && r.path[2] === 'tolerance') continue;
    const key = `${formatPath(r.path)}\u0000${r.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (kept.length >= MAX_ISSUES) dropped++;
    else kept.push(r);
  }
  const keyOrder = new Map<object, Map<string, number>>();
  const entries = kept.map((r, order) => {
    const pos = safePosition(positionOf, r.path);
    const issue: Issue = { path: formatPath(r.path), message: r.message };
    if (pos) {
      issue.line = pos.line;
      issue.column = pos.column;
    }
    return { issue, order, ordinal: pathOrdinal(root, r.path, keyOrder) };
  });
  entries.sort((a, b) => {
    const la = a.issue.line;
    const lb = b.issue.line;
    if (la !== undefined && lb !== undefined && (la !== lb || a.issue.column !== b.issue.column)) {
      return la !== lb ? la - lb : (a.issue.column ?? 0) - (b.issue.column ?? 0);
    }
    return compareOrdinals(a.ordinal, b.ordinal) || a.order - b.order;
  });
  const out = entries.map((e) => e.issue);
  if (dropped > 0) out.push({ path: '', message: `... and ${dropped} more issues` });
  return out;
}

/**
 * Document order without positions (modules, plain objects, ties): each path
 * step becomes the index of its key in the object as written, or its array index.
 * `keyOrder` caches each object's key indexes: looked up per issue, an object
 * of 60,000 keys took 10 s.
 */
function pathOrdinal(root: unknown, path: Path, keyOrder: Map<object, Map<string, number>>): number[] {
  const out: number[] = [];
  let v: unknown = root;
  for (const seg of path) {
    if (Array.isArray(v) && typeof seg === 'number') {
      out.push(seg);
      v = v[seg];
    } else if (isObject(v)) {
      let order = keyOrder.get(v);
      if (!order) {
        order = new Map(Object.keys(v).map((k, i) => [k, i]));
        keyOrder.set(v, order);
      }
      const i = order.get(String(seg));
      out.push(i ?? order.size);
      v = i === undefined ? undefined : v[String(seg)];
    } else {
      out.push(0);
      v = undefined;
    }
  }
  return out;
}

function compareOrdinals(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

function safePosition(positionOf: PositionOf, path: Path) {
  try {
    return positionOf(path);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- zod issues → our issues

type ZodIssue = z.core.$ZodIssue;
type Add = (path: Path, message: string) => void;

function getAt(root: unknown, path: DocPath): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (Array.isArray(v) && typeof seg === 'number') v = v[seg];
    else if (isObject(v) && Object.hasOwn(v, seg)) v = v[seg];
    else return undefined;
  }
  return v;
}

/** A short, safe rendering of a value for messages (huge strings are cut). */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return describe(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number') return Number.isInteger(v) ? `an integer (${v})` : `a float (${v})`;
  if (typeof v === 'string') return `a string (${show(v)})`;
  if (typeof v === 'boolean') return `a boolean (${v})`;
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  array: 'a list',
  tuple: 'a list',
  object: 'an object',
  record: 'an object',
  map: 'an object',
  null: 'null',
};

/** The schema's own wording, or undefined for zod's defaults. */
function customMessage(message: string): string | undefined {
  return /^(Invalid|Too small|Too big|Unrecognized)/.test(message) ? undefined : message;
}

const NON_EMPTY_SUFFIX = ': expected a non-empty string';

/** `required`, with the schema's sentence when it says more than the key does. */
function required(custom: string | undefined): string {
  if (!custom) return 'required';
  const sentence = custom.endsWith(NON_EMPTY_SUFFIX) ? custom.slice(0, -NON_EMPTY_SUFFIX.length) : custom;
  return sentence.includes(' ') ? `required (${sentence})` : 'required';
}

function convertIssue(issue: ZodIssue, prefix: Path, root: unknown, add: Add): void {
  const path: Path = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
  const value = getAt(root, path);
  if (issue.code === 'invalid_union') {
    convertUnion(issue, path, value, root, add);
  } else if (issue.code === 'invalid_key' || issue.code === 'invalid_element') {
    for (const sub of issue.issues) convertIssue(sub, path, root, add);
    if (issue.issues.length === 0) add(path, issue.message);
  } else {
    add(path, describeIssue(issue, value));
  }
}

function describeIssue(issue: ZodIssue, value: unknown): string {
  const custom = customMessage(issue.message);
  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined) return required(custom);
      let what = custom ?? `expected ${EXPECTED[issue.expected] ?? issue.expected}`;
      if (custom?.endsWith(NON_EMPTY_SUFFIX)) {
        const sentence = custom.slice(0, -NON_EMPTY_SUFFIX.length);
        what = sentence.includes(' ') ? sentence : 'expected a non-empty string';
      }
      return `${what}, got ${describe(value)}`;
    }
    case 'invalid_value': {
      if (value === undefined) return required(custom);
      const options = issue.values.map((v) => JSON.stringify(v)).join(', ');
      return `${custom ?? `expected one of ${options}`}, got ${show(value)}`;
    }
    case 'too_small':
    case 'too_big': {
      if (issue.origin === 'string' && issue.code === 'too_small' && Number(issue.minimum) === 1) {
        const sentence = custom?.endsWith(NON_EMPTY_SUFFIX)
          ? custom.slice(0, -NON_EMPTY_SUFFIX.length)
          : custom;
        return sentence?.includes(' ') ? `must not be empty (${sentence})` : 'must not be empty';
      }
      if (custom) return typeof value === 'number' ? `${custom}, got ${value}` : custom;
      const small = issue.code === 'too_small';
      const bound = String(small ? issue.minimum : issue.maximum);
      const cmp = small
        ? issue.inclusive
          ? 'at least'
          : 'more than'
        : issue.inclusive
          ? 'at most'
          : 'less than';
      if (issue.origin === 'array' || issue.origin === 'set') return `expected ${cmp} ${bound} items`;
      if (issue.origin === 'string') return `expected ${cmp} ${bound} characters`;
      return `expected a number ${cmp} ${bound}, got ${show(value)}`;
    }
    case 'invalid_format':
      return `${custom ?? `expected the ${issue.format} format`}, got ${show(value)}`;
    default:
      return issue.message;
  }
}

function isActivityPath(path: Path): boolean {
  const n = path.length;
  if (n === 2) return (path[0] === 'method' || path[0] === 'rollbacks') && typeof path[1] === 'number';
  return (
    n === 3 && path[0] === 'steady-state-hypothesis' && path[1] === 'probes' && typeof path[2] === 'number'
  );
}

function toleranceBranch(type: unknown): z.ZodType | undefined {
  for (const option of ObjectToleranceSchema.options) {
    const def = (option as unknown as { _zod: { def: { type: string; getter?: () => z.ZodType } } })._zod.def;
    const schema = def.type === 'lazy' && def.getter ? def.getter() : (option as z.ZodType);
    const literal = (schema as unknown as { shape?: { type?: { values?: Set<unknown> } } }).shape?.type;
    if (literal?.values?.has(type)) return schema;
  }
  return undefined;
}

/** Reparses `value` against the branch the author meant and reports that branch's issues. */
function reparse(schema: z.ZodType, path: Path, root: unknown, add: Add): boolean {
  const r = schema.safeParse(getAt(root, path));
  if (r.success) return false;
  for (const sub of r.error.issues) convertIssue(sub, path, root, add);
  return true;
}

function convertUnion(
  issue: z.core.$ZodIssueInvalidUnion,
  path: Path,
  value: unknown,
  root: unknown,
  add: Add,
): void {
  const custom = customMessage(issue.message);
  // Discriminated union (providers): the path ends at the discriminator.
  if ((issue as { note?: string }).note === 'No matching discriminator') {
    add(path, value === undefined ? required(custom) : `${custom ?? 'unsupported type'}, got ${show(value)}`);
    return;
  }
  if (isActivityPath(path) && isObject(value)) {
    const isRef = Object.hasOwn(value, 'ref') && !Object.hasOwn(value, 'type');
    if (reparse(isRef ? ActivityRefSchema : FullActivitySchema, path, root, add)) return;
  }
  if (path[path.length - 1] === 'tolerance' && isObject(value)) {
    const type = value.type;
    const branch = toleranceBranch(type);
    const kinds = OBJECT_TOLERANCE_TYPES.join(', ');
    if (branch) {
      if (reparse(branch, path, root, add)) return;
    } else {
      add(
        [...path, 'type'],
        type === undefined
          ? `required (a tolerance object needs a type: ${kinds})`
          : `tolerance type ${show(type)} is unsupported (expected ${kinds})`,
      );
      return;
    }
  }
  if (custom) {
    add(path, value === undefined ? required(custom) : `${custom}, got ${describe(value)}`);
    return;
  }
  // No wording of our own: report the branch that came closest.
  let best: ZodIssue[] | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const branch of issue.errors) {
    let score = 0;
    for (const sub of branch) {
      if (sub.path.length === 0 && sub.code === 'invalid_type') score += 1000;
      else if (sub.code === 'invalid_value' && getAt(value, sub.path as DocPath) !== undefined) score += 100;
      else score += 1;
    }
    if (score < bestScore) {
      bestScore = score;
      best = branch;
    }
  }
  if (!best || best.length === 0 || bestScore >= 1000) add(path, `unexpected ${describe(value)}`);
  else for (const sub of best) convertIssue(sub, path, root, add);
}

// ---------------------------------------------------------------- semantic checks

interface SemanticContext {
  baseDir: string;
  env: NodeJS.ProcessEnv;
  checkEnv: boolean;
  overrides?: ValidateOptions['overrides'];
  importModules: boolean;
  note: Add;
  warn: Add;
  /** Provider checks already made, by provider (see checkProvider). */
  checked: Map<string, Promise<CheckOutcome>>;
  /**
   * Provider checks under way. They are started together and awaited at the
   * end, so that a provider that batches its checks (python: one inspector
   * process for the whole experiment) sees them all in one turn.
   */
  pending: Promise<void>[];
  registries: ValidationRegistries;
}

/** `a.b[0]["c.d"]` → ['a', 'b', 0, 'c.d'] (paths returned by provider and tolerance checks). */
export function parsePathString(text: string): Path {
  const out: Path = [];
  const re = /\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\.?([^.[\]]+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[1] !== undefined) out.push(Number(m[1]));
    else if (m[2] !== undefined) out.push(JSON.parse(`"${m[2]}"`) as string);
    else if (m[3] !== undefined) out.push(m[3]);
  }
  return out;
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

const isRefOnly = (a: Record<string, unknown>) => Object.hasOwn(a, 'ref') && !Object.hasOwn(a, 'type');

async function semanticChecks(
  raw: Record<string, unknown>,
  add: Add,
  settingsControls: Readonly<Record<string, unknown>> | undefined,
  ctx: SemanticContext,
): Promise<void> {
  const hypothesis = isObject(raw['steady-state-hypothesis']) ? raw['steady-state-hypothesis'] : undefined;
  const probes = asList(hypothesis?.probes);
  const sections: [Path, unknown[]][] = [
    [['steady-state-hypothesis', 'probes'], probes],
    [['method'], asList(raw.method)],
    [['rollbacks'], asList(raw.rollbacks)],
  ];

  // Refs resolve among the method and the hypothesis probes, as in Chaos Toolkit.
  const named = new Map<string, Record<string, unknown>>();
  for (const [, list] of sections.slice(0, 2)) {
    for (const a of list) {
      if (isObject(a) && !isRefOnly(a) && typeof a.name === 'string' && !named.has(a.name))
        named.set(a.name, a);
    }
  }

  const controls: [Path, unknown][] = [];
  const collectControls = (base: Path, list: unknown) => {
    asList(list).forEach((c, i) => {
      controls.push([[...base, i], c]);
    });
  };
  collectControls(['controls'], raw.controls);
  if (hypothesis) collectControls(['steady-state-hypothesis', 'controls'], hypothesis.controls);

  for (const [base, list] of sections) {
    const inHypothesis = base[0] === 'steady-state-hypothesis';
    for (let i = 0; i < list.length; i++) {
      const activity = list[i];
      if (!isObject(activity)) continue;
      const path: Path = [...base, i];
      if (isRefOnly(activity)) {
        const ref = activity.ref;
        if (typeof ref !== 'string' || ref === '') continue;
        const target = named.get(ref);
        if (!target)
          add([...path, 'ref'], `referenced activity '${ref}' could not be found in the experiment`);
        else if (inHypothesis && activity.tolerance === undefined && target.tolerance === undefined) {
          add([...path, 'tolerance'], 'hypothesis probe must have a tolerance entry');
        }
        continue;
      }
      const name = nameOf(activity);
      if (inHypothesis) checkHypothesisTolerance(activity.tolerance, [...path, 'tolerance'], add, ctx, name);
      const targets = TargetsSchema.safeParse(activity.targets);
      checkProvider(
        activity.provider,
        [...path, 'provider'],
        add,
        ctx,
        name,
        activity.targets !== undefined && targets.success ? targets.data : undefined,
      );
      collectControls([...path, 'controls'], activity.controls);
    }
  }

  asList(raw.safeguards).forEach((probe, i) => {
    checkSafeguard(probe, ['safeguards', i], add, ctx);
  });
  checkControls(controls, add);
  const fromSettings = Object.entries(settingsControls ?? {}).map(([name, c]): [Path, unknown] => [
    ['settings', 'controls', name],
    isObject(c) ? { ...c, name } : c,
  ]);
  checkControlProviders([...controls, ...fromSettings], add, ctx);
  checkConfiguration(raw.configuration, add, ctx);
  checkSecrets(raw.secrets, add, ctx);
  // Settled one by one: a check that fails must not leave the others unreported.
  for (let i = 0; i < ctx.pending.length; i++) await ctx.pending[i];
}

const nameOf = (a: Record<string, unknown>): string | undefined =>
  typeof a.name === 'string' ? a.name : undefined;

/** A safeguard (of `safeguards:` or a safeguards control): its tolerance and provider, as a hypothesis probe's. */
function checkSafeguard(probe: unknown, path: Path, add: Add, ctx: SemanticContext): void {
  if (!isObject(probe) || isRefOnly(probe)) return;
  if (probe.tolerance !== undefined)
    checkHypothesisTolerance(probe.tolerance, [...path, 'tolerance'], add, ctx, nameOf(probe));
  checkProvider(probe.provider, [...path, 'provider'], add, ctx, nameOf(probe));
}

const SafeguardProbesSchema = z.array(SafeguardSchema).min(1, {
  error: 'a safeguards control needs at least one probe with a tolerance',
});

/**
 * Controls with a provider: a safeguards control's `arguments.probes` are
 * activities, checked as any other; other controls go to their provider
 * type's checkControl, whose findings are warnings.
 */
function checkControlProviders(controls: [Path, unknown][], add: Add, ctx: SemanticContext): void {
  for (const [path, c] of controls) {
    if (!isObject(c) || c.ref !== undefined || !isObject(c.provider)) continue;
    const parsed = ControlProviderSchema.safeParse(c.provider);
    if (!parsed.success) continue; // the schema reported it
    const runner = ctx.registries.providers.get(parsed.data.type);
    const providerPath: Path = [...path, 'provider'];
    if (runner?.isSafeguardControl?.(parsed.data as never)) {
      const probesPath: Path = [...providerPath, 'arguments', 'probes'];
      const probes = parsed.data.arguments?.probes;
      const r = SafeguardProbesSchema.safeParse(probes);
      if (probes === undefined) {
        add(probesPath, 'required (a safeguards control needs at least one probe with a tolerance)');
      } else if (!r.success) {
        // Converted against `{probes}`, then placed under the control's provider.
        for (const issue of r.error.issues)
          convertIssue(issue, ['probes'], { probes }, (p, m) => add([...probesPath, ...p.slice(1)], m));
      }
      asList(probes).forEach((probe, i) => {
        checkSafeguard(probe, [...probesPath, i], add, ctx);
      });
      continue;
    }
    if (!runner?.checkControl) continue;
    const name = typeof c.name === 'string' ? c.name : '';
    const checkControl = runner.checkControl.bind(runner) as (
      provider: unknown,
      control: string,
      ctx: ProviderCheckContext,
    ) => Issue[] | Promise<Issue[]>;
    ctx.pending.push(
      (async () => {
        try {
          const warnings = await checkControl(
            parsed.data,
            name,
            providerContext(ctx, undefined, () => undefined),
          );
          for (const w of warnings ?? []) ctx.warn([...providerPath, ...parsePathString(w.path)], w.message);
        } catch (err) {
          ctx.warn(
            providerPath,
            `the ${parsed.data.type} control check failed: ${(err as Error)?.message ?? String(err)}`,
          );
        }
      })(),
    );
  }
}

function providerContext(
  ctx: SemanticContext,
  activity: string | undefined,
  note: (issue: Issue) => void,
): ProviderCheckContext {
  return {
    baseDir: ctx.baseDir,
    importModules: ctx.importModules,
    note,
    env: ctx.env,
    ...(activity !== undefined ? { activity } : {}),
  };
}

function checkHypothesisTolerance(
  tolerance: unknown,
  path: Path,
  add: Add,
  ctx: SemanticContext,
  activity: string | undefined,
): void {
  if (tolerance === undefined) {
    add(path, 'hypothesis probe must have a tolerance entry');
    return;
  }
  const parsed = ToleranceSchema.safeParse(tolerance);
  if (!parsed.success) return; // the schema already reported it
  let issues: Issue[] = [];
  try {
    issues = ctx.registries.validateTolerance(parsed.data as Tolerance);
  } catch (err) {
    issues = [{ path: '', message: `tolerance check failed: ${(err as Error)?.message ?? String(err)}` }];
  }
  for (const issue of issues) add([...path, ...parsePathString(issue.path)], issue.message);
  if (isObject(tolerance) && tolerance.type === 'probe')
    checkProvider(tolerance.provider, [...path, 'provider'], add, ctx, nameOf(tolerance) ?? activity);
}

/** What one provider check reported, kept so an identical provider is checked once per validation. */
interface CheckOutcome {
  issues: Issue[];
  notes: Issue[];
  failure?: string;
}

/** Starts a provider's check (awaited with the others, see SemanticContext.pending). */
function checkProvider(
  provider: unknown,
  path: Path,
  add: Add,
  ctx: SemanticContext,
  activity: string | undefined,
  targets?: Targets,
): void {
  if (!isObject(provider) || typeof provider.type !== 'string') return;
  const runner = ctx.registries.providers.get(provider.type);
  if (!runner?.check) return;
  const parsed = ProviderSchema.safeParse(provider);
  if (!parsed.success) return;
  // Checks depend only on the provider and the context, which is the same for
  // the whole validation; a process check searches PATH, so 60,000 activities
  // running the same command took 14 s checked one by one. A check whose
  // messages name the activity is made per activity.
  const key = JSON.stringify([
    runner.checkPerActivity ? [parsed.data, activity ?? null] : parsed.data,
    targets ?? null,
  ]);
  let outcome = ctx.checked.get(key);
  if (!outcome) {
    const check = runner.check.bind(runner) as (
      provider: unknown,
      ctx: ProviderCheckContext,
    ) => Issue[] | Promise<Issue[]>;
    outcome = (async (): Promise<CheckOutcome> => {
      const notes: Issue[] = [];
      try {
        const issues = await check(parsed.data, {
          ...providerContext(ctx, activity, (issue) => notes.push(issue)),
          ...(targets ? { targets } : {}),
        });
        return { issues: issues ?? [], notes };
      } catch (err) {
        return { issues: [], notes, failure: (err as Error)?.message ?? String(err) };
      }
    })();
    ctx.checked.set(key, outcome);
  }
  const settled = outcome;
  ctx.pending.push(
    (async () => {
      const { issues, notes, failure } = await settled;
      for (const issue of notes) ctx.note([...path, ...parsePathString(issue.path)], issue.message);
      for (const issue of issues) add([...path, ...parsePathString(issue.path)], issue.message);
      if (failure !== undefined) add(path, `the ${provider.type} provider check failed: ${failure}`);
    })(),
  );
}

function checkControls(controls: [Path, unknown][], add: Add): void {
  const topLevel = new Set<string>();
  for (const [path, c] of controls) {
    if (
      path.length === 2 &&
      path[0] === 'controls' &&
      isObject(c) &&
      c.ref === undefined &&
      typeof c.name === 'string'
    ) {
      topLevel.add(c.name);
    }
  }
  for (const [path, c] of controls) {
    if (!isObject(c)) continue;
    if (c.ref !== undefined) {
      if (typeof c.ref === 'string' && c.ref !== '' && !topLevel.has(c.ref)) {
        add([...path, 'ref'], `control reference '${c.ref}' cannot be found among the top-level controls`);
      }
    } else if (c.provider === undefined) {
      const name = typeof c.name === 'string' ? `control '${c.name}'` : 'a control';
      add([...path, 'provider'], `${name} must have a provider (or a ref to a top-level control)`);
    }
  }
}

function checkConfiguration(configuration: unknown, add: Add, ctx: SemanticContext): void {
  if (!isObject(configuration)) return;
  const probeSchema = toleranceBranch('probe');
  for (const [key, value] of Object.entries(configuration)) {
    const path: Path = ['configuration', key];
    if (isEnvDefinition(value)) {
      const r = EnvValueSchema.safeParse(value);
      if (!r.success) {
        for (const sub of r.error.issues) convertIssue(sub, path, { configuration }, add);
        continue;
      }
      if (!ctx.checkEnv || Object.hasOwn(ctx.overrides?.configuration ?? {}, key)) continue;
      try {
        resolveConfigurationEnv(key, value, ctx.env);
      } catch (err) {
        const missing = ctx.env[r.data.key] === undefined;
        add(missing ? [...path, 'key'] : path, (err as Error).message);
      }
    } else if (isDynamicProbe(value) && probeSchema) {
      // Chaos Toolkit runs a dynamic-configuration probe without a `name`; the run names it by its key.
      const named =
        typeof value.name === 'string' ? configuration : { ...configuration, [key]: { ...value, name: key } };
      if (!reparse(probeSchema, path, { configuration: named }, add))
        checkProvider(value.provider, [...path, 'provider'], add, ctx, nameOf(value) ?? key);
    }
  }
}

function checkSecrets(secrets: unknown, add: Add, ctx: SemanticContext): void {
  if (!isObject(secrets)) return;
  for (const [scope, entries] of Object.entries(secrets)) {
    if (!isObject(entries)) continue;
    const overridden = Object.hasOwn(ctx.overrides?.secrets ?? {}, scope);
    for (const [key, value] of Object.entries(entries)) {
      const path: Path = ['secrets', scope, key];
      if (isEnvDefinition(value)) {
        const envKey = value.key;
        if (typeof envKey !== 'string' || envKey === '') {
          add(
            [...path, 'key'],
            envKey === undefined
              ? 'required (the environment variable to read)'
              : `expected a non-empty string, got ${describe(envKey)}`,
          );
        } else if (ctx.checkEnv && !overridden && ctx.env[envKey] === undefined) {
          const note = Object.hasOwn(value, 'default') ? ' (secrets have no default)' : '';
          add(
            [...path, 'key'],
            `Secrets make reference to an environment key that does not exist: ${envKey}${note}`,
          );
        }
      } else if (isObject(value) && value.type === 'vault') {
        add(path, 'vault secrets are not supported yet');
      }
    }
  }
}
