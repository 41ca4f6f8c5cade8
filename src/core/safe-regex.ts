/**
 * The one way Faultline runs a regular expression that comes from untrusted
 * input (experiment tolerances, proxy `path_regex` and the like). JavaScript's
 * RegExp backtracks: `^/(a+)+$` against a 35-byte string stalls the event loop
 * for minutes, and a stalled loop ignores SIGTERM and every API request. Here
 * patterns run in re2js (RE2's automata, pure JavaScript): matching time is
 * linear in the input, whatever the pattern. The price is RE2's syntax: no
 * backreferences, no lookaround, no atomic groups; those are refused when the
 * pattern is compiled, with a message naming the field.
 *
 * Python `re` patterns (experiment tolerances, as in Chaos Toolkit) are
 * translated where the two differ in syntax or meaning:
 *
 *   (?P<name>x), (?<name>x)  kept (RE2 has both)      (?#...) -> removed
 *   \Z -> \z (end of input)   \U0001F600, \u00e9 -> the character
 *   $  -> end, or before a final \n   (with (?m): before any \n)
 *   x{,3} -> x{0,3}           []] -> [\]]  (a leading ] is literal in Python)
 *   leading (?imsx) flags     (?x) drops whitespace and # comments
 *   (?i:...) (?s:...)         kept (RE2 has scoped flags too)
 */
import { createRequire } from 'node:module';

// Loaded on the first pattern compiled: most runs have none, and need not pay for loading it at
// startup (issue #14 item 3).
let re2: typeof import('re2js') | undefined;
const re2js = () => {
  re2 ??= createRequire(import.meta.url)('re2js') as typeof import('re2js');
  return re2.RE2JS;
};

/** Longer patterns are refused: compiling is linear in the pattern, but memory is not free. */
export const MAX_PATTERN_LENGTH = 4096;

/** A compiled pattern: test() searches anywhere in the input (Python's re.search), in linear time. */
export interface SafeRegex {
  /** The pattern as given. */
  readonly pattern: string;
  test(input: string): boolean;
}

/** A pattern that cannot be compiled; the message names the field and what was expected. */
export class SafeRegexError extends Error {
  constructor(
    message: string,
    /** The problem alone, without the field and pattern (for messages that name them already). */
    readonly reason: string,
  ) {
    super(message);
    this.name = 'SafeRegexError';
  }
}

export interface SafeRegexOptions {
  /** Named in error messages, e.g. `path_regex` or `tolerance.pattern`. */
  field: string;
  /** `re2` (default): RE2 syntax as is (Go's regexp, Toxiproxy's); `python`: Python `re`, translated. */
  syntax?: 're2' | 'python';
  ignoreCase?: boolean;
  /** Default MAX_PATTERN_LENGTH. */
  maxLength?: number;
}

class Refused extends Error {}

/**
 * Compiles `pattern`, or throws SafeRegexError naming `opts.field`.
 * @example compileSafeRegex('^/api/(v1|v2)/', { field: 'path_regex' }).test('/api/v1/x') // true
 */
export function compileSafeRegex(pattern: string, opts: SafeRegexOptions): SafeRegex {
  const fail = (reason: string): never => {
    throw new SafeRegexError(`${opts.field} ${JSON.stringify(clip(pattern))} ${reason}`, reason);
  };
  if (typeof pattern !== 'string') fail('is not a string');
  const max = opts.maxLength ?? MAX_PATTERN_LENGTH;
  if (pattern.length > max) fail(`is too long: ${pattern.length} characters (the limit is ${max})`);
  let source = pattern;
  const RE2JS = re2js();
  let flags = opts.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0;
  try {
    if (opts.syntax === 'python') {
      const t = translatePython(pattern);
      source = t.source;
      flags |= t.flags;
    }
    const re = RE2JS.compile(source, flags);
    return { pattern, test: (input: string) => re.test(input) };
  } catch (err) {
    if (err instanceof Refused) return fail(err.message);
    const msg = err instanceof Error ? err.message.replace(/^error parsing regexp: /, '') : String(err);
    return fail(`is invalid: ${msg}${unsupportedHint(source)}`);
  }
}

/** The pattern, or an error message naming the field: for validators that collect issues. */
export function checkSafeRegex(pattern: string, opts: SafeRegexOptions): SafeRegex | { error: string } {
  try {
    return compileSafeRegex(pattern, opts);
  } catch (err) {
    if (err instanceof SafeRegexError) return { error: err.message };
    throw err;
  }
}

/**
 * A compiler that keeps the last `max` patterns compiled: for callers that
 * test many inputs (connections, processes) against few patterns.
 * @example const compile = safeRegexCache({ field: 'pattern' }); compile('^worker').test(cmdline)
 */
export function safeRegexCache(opts: SafeRegexOptions, max = 256): (pattern: string) => SafeRegex {
  const cache = new Map<string, SafeRegex>();
  return (pattern) => {
    let re = cache.get(pattern);
    if (re === undefined) {
      re = compileSafeRegex(pattern, opts);
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(pattern, re);
    }
    return re;
  };
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const NEEDS_BACKTRACKING =
  ' (backreferences, lookahead/lookbehind and atomic groups need backtracking, which can stall Faultline: patterns use RE2 syntax, see docs/compatibility.md)';

function unsupportedHint(source: string): string {
  return /\\[1-9]|\(\?[=!<>]|\(\?P=|[*+?}]\+/.test(source) ? NEEDS_BACKTRACKING : '';
}

// Letters Python accepts after a backslash in a str pattern.
const KNOWN_ESCAPES = new Set('abfnrtvxuUdDsSwWbBAZ0123456789'.split(''));
const META = /[\\^$.*+?()[\]{}|]/;

function escapeLiteral(ch: string): string {
  return META.test(ch) ? `\\${ch}` : ch;
}

/** Python `re` syntax to RE2's; throws Refused for what RE2 cannot run. */
function translatePython(pattern: string): { source: string; flags: number } {
  let i = 0;
  const flags = new Set<string>();
  // Global inline flags, only at the start (Python 3.11 rejects them elsewhere).
  for (let m = /^\(\?([aiLmsux]+)\)/.exec(pattern); m; m = /^\(\?([aiLmsux]+)\)/.exec(pattern.slice(i))) {
    for (const f of m[1]!) flags.add(f);
    i += m[0].length;
  }
  if (flags.has('L')) throw new Refused('uses the (?L) flag, which only applies to bytes patterns');
  const multiline = flags.has('m');
  const verbose = flags.has('x');

  let out = '';
  let inClass = false;
  let classFirst = false;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) throw new Refused('ends with a lone backslash');
      if (/[A-Za-z]/.test(next) && !KNOWN_ESCAPES.has(next)) {
        if (next === 'N') throw new Refused('uses \\N{...}: named Unicode escapes are not supported');
        throw new Refused(`has a bad escape \\${next} at position ${i}`);
      }
      if (!inClass && /[1-9]/.test(next)) {
        throw new Refused(`uses a backreference \\${next} at position ${i}${NEEDS_BACKTRACKING}`);
      }
      if (!inClass && next === 'Z') out += '\\z';
      else if (next === 'U' || next === 'u') {
        const len = next === 'U' ? 8 : 4;
        const hex = pattern.slice(i + 2, i + 2 + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) {
          throw new Refused(`has an incomplete escape \\${next} at position ${i}`);
        }
        out += escapeLiteral(String.fromCodePoint(Number.parseInt(hex, 16)));
        i += 2 + len;
        classFirst = false;
        continue;
      } else out += `\\${next}`;
      i += 2;
      classFirst = false;
      continue;
    }
    if (inClass) {
      if (c === ']' && !classFirst) inClass = false;
      out += c === ']' && classFirst ? '\\]' : c === '[' ? '\\[' : c;
      classFirst = false;
      i++;
      continue;
    }
    if (verbose && /\s/.test(c)) {
      i++;
      continue;
    }
    if (verbose && c === '#') {
      while (i < pattern.length && pattern[i] !== '\n') i++;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += '[';
      i++;
      if (pattern[i] === '^') {
        out += '^';
        i++;
      }
      classFirst = true;
      continue;
    }
    // RE2's $ without (?m) is the very end; Python's also matches before a final newline.
    // Consuming that newline is the same for a search (only whether it matches is used).
    if (c === '$') out += multiline ? '$' : '(?:\\n?\\z)';
    else if (c === '{') {
      const m = /^\{,(\d+)\}/.exec(pattern.slice(i));
      if (m) {
        out += `{0,${m[1]}}`;
        i += m[0].length;
        continue;
      }
      out += c;
    } else if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i);
      if (rest.startsWith('(?P<') || /^\(\?<[A-Za-z_]/.test(rest)) {
        out += '(?P<';
        i += rest.startsWith('(?P<') ? 4 : 3;
        continue;
      }
      if (rest.startsWith('(?P=')) {
        throw new Refused(`uses a named backreference (?P=...) at position ${i}${NEEDS_BACKTRACKING}`);
      }
      if (/^\(\?(=|!|<=|<!)/.test(rest)) {
        throw new Refused(`uses a lookahead or lookbehind at position ${i}${NEEDS_BACKTRACKING}`);
      }
      if (rest.startsWith('(?>')) {
        throw new Refused(`uses an atomic group at position ${i}${NEEDS_BACKTRACKING}`);
      }
      if (rest.startsWith('(?(')) {
        throw new Refused(`uses a conditional group at position ${i}${NEEDS_BACKTRACKING}`);
      }
      if (rest.startsWith('(?#')) {
        const end = pattern.indexOf(')', i);
        if (end < 0) throw new Refused(`has an unterminated comment at position ${i}`);
        i = end + 1;
        continue;
      }
      if (/^\(\?[aiLmsux]+\)/.test(rest)) {
        throw new Refused(`has global flags not at the start of the expression (position ${i})`);
      }
      const scoped = /^\(\?([aiLmsux-]+):/.exec(rest);
      if (scoped && /[aLmux]/.test(scoped[1]!)) {
        throw new Refused(
          `uses scoped flags (?${scoped[1]}:...) at position ${i}: only i and s can be scoped`,
        );
      }
      out += c;
    } else out += c;
    i++;
  }
  if (inClass) throw new Refused('has an unterminated character set');
  const RE2JS = re2js();
  let re2Flags = 0;
  if (flags.has('i')) re2Flags |= RE2JS.CASE_INSENSITIVE;
  if (flags.has('s')) re2Flags |= RE2JS.DOTALL;
  if (multiline) re2Flags |= RE2JS.MULTILINE;
  return { source: out, flags: re2Flags };
}
