/**
 * Choosing agents: Kubernetes label selectors (`matchLabels` and set-based
 * `matchExpressions`, or the command line's `app=web,tier!=db,zone in (a,b),!canary`)
 * and Chaos Mesh's modes (`one`, `all`, `fixed` N, `fixed-percent` P,
 * `random-max-percent` P). Pure: the controller gives it the agents' labels
 * and a random source, so tests can seed it.
 *
 * Rounding is Chaos Mesh's: a percentage of the matching agents is rounded
 * DOWN (`floor(n * P / 100)`), so 30% of 3 agents is 0 agents, not 1;
 * `random-max-percent` draws a whole percentage uniformly in [0, P] first, then
 * rounds down the same way (it may select none). `fixed` N above the number of
 * matching agents selects them all. Values are whole numbers, as Chaos Mesh
 * parses them (strconv.Atoi).
 */
import { FaultlineError } from '../core/errors.js';
import {
  KEY_PATTERN,
  type LabelSelector,
  type Mode,
  type SelectorRequirement,
  type Targets,
  TargetsSchema,
  VALUE_PATTERN,
} from '../core/fleet.js';

// The shapes live in core (an experiment activity's `targets:` is part of the format the engine reads).
export {
  type LabelSelector,
  LabelSelectorSchema,
  MODES,
  type Mode,
  OPERATORS,
  type SelectorRequirement,
  SelectorRequirementSchema,
  type Targets,
  TargetsSchema,
} from '../core/fleet.js';

/** `targets` checked, or FAULTLINE_ERR_VALIDATION naming each bad field (`targets.value: ...`). */
export function parseTargets(input: unknown, path = 'targets'): Targets {
  const r = TargetsSchema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    path: [path, ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  throw new FaultlineError(
    'FAULTLINE_ERR_VALIDATION',
    issues.map((i) => `${i.path}: ${i.message}`).join('; '),
    {
      issues,
    },
  );
}

/** Whether an agent's labels satisfy every part of the selector (an empty selector selects all, as Kubernetes). */
export function matchSelector(labels: Readonly<Record<string, string>>, selector: LabelSelector): boolean {
  const has = (k: string) => Object.hasOwn(labels, k);
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(k) || labels[k] !== v) return false;
  }
  for (const r of selector.matchExpressions ?? []) {
    const present = has(r.key);
    const inValues = present && (r.values ?? []).includes(labels[r.key]!);
    switch (r.operator) {
      case 'In':
        if (!inValues) return false;
        break;
      // As Kubernetes: NotIn (and `!=`) also selects agents without the label.
      case 'NotIn':
        if (inValues) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
    }
  }
  return true;
}

/** The selector as the command line writes it (`app=web,zone in (a,b),!canary`); `` for all. */
export function formatSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const r of selector.matchExpressions ?? []) {
    const values = `(${(r.values ?? []).join(',')})`;
    if (r.operator === 'In') parts.push(`${r.key} in ${values}`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin ${values}`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else parts.push(`!${r.key}`);
  }
  return parts.join(',');
}

const MAX_SELECTOR_LENGTH = 4096;

function shown(text: string): string {
  const cut = text.length > 80 ? `${text.slice(0, 80)}...` : text;
  return JSON.stringify(cut);
}

/**
 * Parses Kubernetes' selector syntax: comma-separated requirements, each
 * `key=value`, `key==value`, `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`,
 * `key` (exists) or `!key` (does not exist). Equalities become matchLabels;
 * `!=` becomes NotIn. Throws FAULTLINE_ERR_USAGE naming `field` and the text.
 */
export function parseSelector(text: string, field = 'selector'): LabelSelector {
  const fail = (why: string): never => {
    throw new FaultlineError('FAULTLINE_ERR_USAGE', `${field}: selector ${shown(text)}: ${why}`);
  };
  if (typeof text !== 'string') fail('expected a string');
  if (text.length > MAX_SELECTOR_LENGTH) fail(`longer than ${MAX_SELECTOR_LENGTH} characters`);
  const key = (k: string, part: string) => {
    if (!KEY_PATTERN.test(k)) fail(`'${part}': '${k}' is not a label key (letters, digits, -, _, .)`);
    return k;
  };
  const value = (v: string, part: string) => {
    if (!VALUE_PATTERN.test(v)) fail(`'${part}': '${v}' is not a label value (letters, digits, -, _, .)`);
    return v;
  };
  const matchLabels: Record<string, string> = {};
  const matchExpressions: SelectorRequirement[] = [];
  for (const raw of splitTopLevel(text, fail)) {
    const part = raw.trim();
    if (part === '') {
      if (text.trim() === '') break;
      fail('an empty requirement (two commas, or a comma at an end)');
    }
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
    if (set) {
      const values = set[3]!.split(',').map((v) => value(v.trim(), part));
      if (values.length === 0 || (values.length === 1 && values[0] === ''))
        fail(`'${part}': expected values`);
      matchExpressions.push({ key: key(set[1]!, part), operator: set[2] === 'in' ? 'In' : 'NotIn', values });
      continue;
    }
    const eq = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (eq) {
      const k = key(eq[1]!, part);
      const v = value(eq[3]!.trim(), part);
      if (eq[2] === '!=') matchExpressions.push({ key: k, operator: 'NotIn', values: [v] });
      else if (Object.hasOwn(matchLabels, k) && matchLabels[k] !== v) fail(`'${k}' cannot equal two values`);
      else matchLabels[k] = v;
      continue;
    }
    if (part.startsWith('!')) {
      matchExpressions.push({ key: key(part.slice(1).trim(), part), operator: 'DoesNotExist' });
      continue;
    }
    if (/^\S+$/.test(part)) {
      matchExpressions.push({ key: key(part, part), operator: 'Exists' });
      continue;
    }
    fail(`'${part}': expected key=value, key!=value, key in (a,b), key notin (a,b), key or !key`);
  }
  return {
    ...(Object.keys(matchLabels).length ? { matchLabels } : {}),
    ...(matchExpressions.length ? { matchExpressions } : {}),
  };
}

/** Splits on commas outside parentheses; unbalanced parentheses fail. */
function splitTopLevel(text: string, fail: (why: string) => never): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') {
      if (++depth > 1) fail('nested parentheses');
    } else if (c === ')') {
      if (--depth < 0) fail("a ')' without its '('");
    } else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) fail("a '(' without its ')'");
  parts.push(text.slice(start));
  return parts;
}

/** How many of `n` matching agents a mode selects (before the random draw of which ones). */
export function targetCount(n: number, mode: Mode, value: number | undefined, random: () => number): number {
  if (n === 0) return 0;
  const v = value ?? 0;
  switch (mode) {
    case 'one':
      return 1;
    case 'all':
      return n;
    case 'fixed':
      return Math.min(Math.max(v, 0), n);
    case 'fixed-percent':
      return Math.floor((n * v) / 100);
    case 'random-max-percent': {
      const pct = Math.floor(random() * (v + 1));
      return Math.floor((n * Math.min(pct, v)) / 100);
    }
  }
}

/**
 * The agents a mode picks out of those that matched: `count` of them drawn
 * uniformly without replacement (a partial Fisher-Yates shuffle with `random`,
 * default Math.random), in their original order.
 */
export function pickTargets<T>(
  agents: readonly T[],
  targets: { mode: Mode; value?: number },
  random: () => number = Math.random,
): T[] {
  const count = targetCount(agents.length, targets.mode, targets.value, random);
  if (count >= agents.length) return [...agents];
  const idx = agents.map((_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((i) => agents[i]!);
}
