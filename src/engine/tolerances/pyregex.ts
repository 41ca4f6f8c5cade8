/**
 * Python `re` patterns as JavaScript RegExps, translating only what differs
 * in meaning or syntax for patterns people write in tolerances:
 *
 *   (?P<name>x)  -> (?<name>x)        (?P=name) -> \k<name>      (?#...) -> removed
 *   \A -> start of input              \Z -> end of input
 *   $  -> end, or before a final \n   (with (?m): before any \n)
 *   .  -> any character but \n        (with (?s): any character)
 *   x{,3} -> x{0,3}                   []] -> [\]]  (a leading ] is literal in Python)
 *   leading (?imsx) flags             (?x) drops whitespace and # comments
 *
 * Python-only features with no JS equivalent (scoped flags `(?i:...)`,
 * `\N{...}`, bytes flags) are reported as errors rather than mistranslated.
 */

export class PyRegexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PyRegexError';
  }
}

// Letters Python accepts after a backslash in a str pattern.
const KNOWN_ESCAPES = new Set('abfnrtvxuUdDsSwWbBAZ0123456789'.split(''));
const META = /[\\^$.*+?()[\]{}|/]/;

function escapeLiteral(ch: string): string {
  return META.test(ch) ? `\\${ch}` : ch;
}

/** Translates a Python pattern; throws PyRegexError or a SyntaxError from RegExp. */
export function compilePythonRegex(pattern: string): RegExp {
  let i = 0;
  const flags = new Set<string>();
  // Global inline flags, only at the start (Python 3.11 rejects them elsewhere).
  for (let m = /^\(\?([aiLmsux]+)\)/.exec(pattern); m; m = /^\(\?([aiLmsux]+)\)/.exec(pattern.slice(i))) {
    for (const f of m[1]!) flags.add(f);
    i += m[0].length;
  }
  if (flags.has('L')) throw new PyRegexError('the (?L) flag only applies to bytes patterns');
  const multiline = flags.has('m');
  const dotAll = flags.has('s');
  const verbose = flags.has('x');

  let out = '';
  let inClass = false;
  let classFirst = false;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) throw new PyRegexError('bad escape (end of pattern)');
      if (/[A-Za-z]/.test(next) && !KNOWN_ESCAPES.has(next)) {
        if (next === 'N') throw new PyRegexError('named Unicode escapes \\N{...} are not supported');
        throw new PyRegexError(`bad escape \\${next} at position ${i}`);
      }
      if (!inClass && next === 'A') out += '(?<![\\s\\S])';
      else if (!inClass && next === 'Z') out += '(?![\\s\\S])';
      else if (next === 'U') {
        const hex = pattern.slice(i + 2, i + 10);
        if (!/^[0-9a-fA-F]{8}$/.test(hex)) throw new PyRegexError(`incomplete escape \\U at position ${i}`);
        out += escapeLiteral(String.fromCodePoint(Number.parseInt(hex, 16)));
        i += 10;
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
    if (c === '.') out += dotAll ? '[\\s\\S]' : '[^\\n]';
    else if (c === '$') out += multiline ? '(?=\\n|(?![\\s\\S]))' : '(?=\\n?(?![\\s\\S]))';
    else if (c === '^') out += multiline ? '(?:(?<![\\s\\S])|(?<=\\n))' : '^';
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
      if (rest.startsWith('(?P<')) {
        out += '(?<';
        i += 4;
        continue;
      }
      const backref = /^\(\?P=([A-Za-z_][A-Za-z0-9_]*)\)/.exec(rest);
      if (backref) {
        out += `\\k<${backref[1]}>`;
        i += backref[0].length;
        continue;
      }
      if (rest.startsWith('(?#')) {
        const end = pattern.indexOf(')', i);
        if (end < 0) throw new PyRegexError(`missing ), unterminated comment at position ${i}`);
        i = end + 1;
        continue;
      }
      if (/^\(\?[aiLmsux]+\)/.test(rest)) {
        throw new PyRegexError(`global flags not at the start of the expression at position ${i}`);
      }
      if (/^\(\?[aiLmsux-]+:/.test(rest)) {
        throw new PyRegexError(`scoped inline flags such as (?i:...) are not supported (position ${i})`);
      }
      out += c;
    } else out += c;
    i++;
  }
  if (inClass) throw new PyRegexError('unterminated character set');
  // No `m`/`s` flags: `^`, `$` and `.` are translated above; never `g` (stateful).
  return new RegExp(out, flags.has('i') ? 'i' : '');
}
