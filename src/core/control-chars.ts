/**
 * Text from experiments, journals and servers (titles, activity names, probe
 * outputs, proxy names) reaches terminals; a raw control character in it acts
 * on the terminal: an experiment title once set the window title and cleared
 * the screen (`\x1b]0;pwned\x07\x1b[2J`). Every such string is shown through
 * escapeControlChars, which turns each control character into a visible
 * escape (`\x1b`), so the text reads the same and does nothing.
 * docs/security.md#terminal-output.
 */

/**
 * C0 controls, DEL and C1 controls (0x80-0x9f: 0x9b is an 8-bit CSI to some
 * terminals), plus the Unicode bidirectional overrides and isolates and the
 * line/paragraph separators (they reorder or break what is shown).
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_KEEP_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function visible(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `s` with every control character replaced by a visible escape; with
 * `keepLines`, newlines and tabs stay (a message of several lines).
 *
 * @example escapeControlChars('a\x1b[2Jb') // 'a\\x1b[2Jb'
 */
export function escapeControlChars(s: string, options: { keepLines?: boolean } = {}): string {
  return s.replace(options.keepLines ? CONTROL_KEEP_LINES : CONTROL, visible);
}

/**
 * JSON text safe for a terminal: JSON.stringify escapes C0 but leaves DEL, C1
 * and the Unicode controls raw; they become \u escapes (the same JSON value).
 */
export function escapeJsonControls(json: string): string {
  return json.replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
