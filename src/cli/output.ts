/**
 * Terminal output: log lines as text (`[time LEVEL] message`, as Chaos Toolkit
 * prints them) or JSON (one object a line), on stderr so stdout stays clean for
 * data (`schema`, `--json`). `--quiet` keeps errors and the final summary.
 * Every line passes through escapeControlChars (text) or escapeJsonControls
 * (JSON) here, whatever called it: a title or a server's answer cannot drive
 * the terminal (docs/security.md#terminal-output).
 */
import { escapeControlChars, escapeJsonControls } from '../core/control-chars.js';
import type { LogLevel } from '../engine/context.js';

export { escapeControlChars };

export interface Output {
  readonly tty: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly json: boolean;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A line that survives --quiet (final summaries). */
  summary(message: string, fields?: Record<string, unknown>): void;
  /** Raw text to stderr (live view redraws): the caller's own escapes; escape what it interpolates. */
  raw(text: string): void;
}

export interface OutputOptions {
  verbose?: boolean;
  quiet?: boolean;
  logFormat?: 'text' | 'json';
  stream?: NodeJS.WriteStream;
}

const COLORS: Record<LogLevel, string> = { debug: '\x1b[2m', info: '', warn: '\x1b[33m', error: '\x1b[31m' };

function stamp(d = new Date()): string {
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/**
 * Data on stdout (tables, `get` output) that carries names from servers or
 * the ledger: control characters shown as escapes, lines kept.
 */
export function printText(text: string, stream: NodeJS.WritableStream = process.stdout): void {
  stream.write(escapeControlChars(text, { keepLines: true }));
}

/** A JSON document on stdout, pretty-printed, with DEL, C1 and Unicode controls escaped too. */
export function printJsonDocument(value: unknown, stream: NodeJS.WritableStream = process.stdout): void {
  stream.write(`${escapeJsonControls(JSON.stringify(value, null, 2))}\n`);
}

export function createOutput(options: OutputOptions = {}): Output {
  const stream = options.stream ?? process.stderr;
  const json = options.logFormat === 'json';
  const tty = Boolean(stream.isTTY) && !json && process.env.TERM !== 'dumb';
  const quiet = Boolean(options.quiet);
  const verbose = Boolean(options.verbose);
  const write = (level: LogLevel | 'summary', message: string, fields?: Record<string, unknown>) => {
    if (json) {
      const line = JSON.stringify({
        time: new Date().toISOString(),
        level: level === 'summary' ? 'info' : level,
        message,
        ...fields,
      });
      stream.write(`${escapeJsonControls(line)}\n`);
      return;
    }
    const lvl = level === 'summary' ? 'INFO' : level.toUpperCase();
    const text = `[${stamp()} ${lvl}] ${escapeControlChars(message, { keepLines: true })}`;
    const color = level === 'summary' ? '' : COLORS[level];
    stream.write(tty && color ? `${color}${text}\x1b[0m\n` : `${text}\n`);
  };
  return {
    tty,
    quiet,
    verbose,
    json,
    debug: (m, f) => verbose && write('debug', m, f),
    info: (m, f) => !quiet && write('info', m, f),
    warn: (m, f) => !quiet && write('warn', m, f),
    error: (m, f) => write('error', m, f),
    summary: (m, f) => write('summary', m, f),
    raw: (t) => stream.write(t),
  };
}
