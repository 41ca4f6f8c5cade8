/**
 * Recognises `faultline [global options] halt [--reason R]` without loading the CLI,
 * so bin/faultline.js can raise the halt flag and revert within milliseconds whatever
 * global options come with it. Depends on nothing: it is loaded before everything.
 */

export interface FastHalt {
  reason?: string;
  output: { verbose?: boolean; quiet?: boolean; logFormat?: 'text' | 'json' };
}

/**
 * The halt to run on the fast path, or null for anything else (the full CLI then
 * handles it, with its own errors and help). Global options may come before or after
 * `halt`, as commander takes them.
 *
 * @example parseFastHalt(['--log-format', 'json', 'halt']) // { output: { logFormat: 'json' } }
 */
export function parseFastHalt(argv: readonly string[]): FastHalt | null {
  const output: FastHalt['output'] = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--verbose') output.verbose = true;
    else if (a === '-q' || a === '--quiet') output.quiet = true;
    else if (a === '--log-format' || a.startsWith('--log-format=')) {
      const value = a === '--log-format' ? argv[++i] : a.slice('--log-format='.length);
      if (value !== 'text' && value !== 'json') return null;
      output.logFormat = value;
    } else rest.push(a);
  }
  if (rest[0] !== 'halt') return null;
  if (rest.length === 1) return { output };
  if (rest.length === 3 && rest[1] === '--reason') return { reason: rest[2]!, output };
  if (rest.length === 2 && rest[1]!.startsWith('--reason=')) {
    return { reason: rest[1]!.slice('--reason='.length), output };
  }
  return null;
}
