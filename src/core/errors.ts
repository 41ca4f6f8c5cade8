/**
 * Typed errors with stable codes. Every user-facing failure is a FaultlineError
 * carrying one of the codes below; the CLI maps `exitCode` to the process exit
 * status and prints `message` without a stack trace. docs/errors.md lists every
 * code, and every code here is thrown somewhere in src/ (a unit test checks both
 * ways, so a code nothing raises is removed rather than documented).
 */
export const ERROR_CODES = {
  FAULTLINE_ERR_USAGE: 'a command-line argument or option is invalid',
  FAULTLINE_ERR_LOAD: 'the experiment source cannot be read or fetched',
  FAULTLINE_ERR_PARSE: 'the experiment source is not valid JSON or YAML',
  FAULTLINE_ERR_VALIDATION: 'the experiment does not match the format',
  FAULTLINE_ERR_CONFIG: 'configuration, secrets or --var values cannot be resolved',
  FAULTLINE_ERR_ACTIVITY: 'an activity failed (connection error, timeout, thrown error)',
  FAULTLINE_ERR_INTERRUPTED: 'the run was interrupted (signal, control, halt, safeguard)',
  FAULTLINE_ERR_POLICY: 'a run policy refused the run (production approval, time windows, blast radius)',
  FAULTLINE_ERR_HALTED: 'a halt is in force; new runs are refused until `faultline halt --release`',
  FAULTLINE_ERR_FAULT: 'a fault could not be injected',
  FAULTLINE_ERR_UNSUPPORTED:
    'this machine cannot inject the fault (a kernel feature, a tool or root is missing); the message says what to use instead',
  FAULTLINE_ERR_LEDGER: 'the fault ledger cannot be read or written',
  FAULTLINE_ERR_PROXY: 'the fault proxy or its control API failed, refused a request or cannot be reached',
  FAULTLINE_ERR_FLEET: 'the fleet cannot be reached (NATS, JetStream) or an agent refused or did not answer',
  FAULTLINE_ERR_STORE:
    "the control plane's database cannot be opened, migrated or reached (`faultline serve --database`)",
  FAULTLINE_ERR_INTERNAL: 'an unexpected internal error (a bug: please report it)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Exit status for invalid input (usage, unreadable file, validation). */
export const EXIT_INVALID_INPUT = 2;

const INVALID_INPUT_CODES: ReadonlySet<ErrorCode> = new Set([
  'FAULTLINE_ERR_USAGE',
  'FAULTLINE_ERR_LOAD',
  'FAULTLINE_ERR_PARSE',
  'FAULTLINE_ERR_VALIDATION',
  'FAULTLINE_ERR_CONFIG',
  'FAULTLINE_ERR_POLICY',
]);

/** One problem found in a document, with its path and, for files, its position. */
export interface Issue {
  /** Dotted path with indexes, e.g. `method[2].provider.url`. Empty for the document itself. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export class FaultlineError extends Error {
  readonly code: ErrorCode;
  readonly issues: readonly Issue[];
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; issues?: Issue[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FaultlineError';
    this.code = code;
    this.issues = options.issues ?? [];
  }
  /** 2 for invalid input, 1 otherwise. */
  get exitCode(): number {
    return INVALID_INPUT_CODES.has(this.code) ? EXIT_INVALID_INPUT : 1;
  }
}

/** Raised (by a control, a signal handler, a halt or a safeguard) to end the run as `interrupted`. */
export class InterruptExecution extends Error {
  readonly code = 'FAULTLINE_ERR_INTERRUPTED' as const;
  constructor(message = 'the run was interrupted') {
    super(message);
    this.name = 'InterruptExecution';
  }
}

/** An activity failed: the journal records it as `failed` with this message. */
export class ActivityFailed extends Error {
  readonly code = 'FAULTLINE_ERR_ACTIVITY' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ActivityFailed';
  }
}

/**
 * A schema issue's path (zod's `['requests', 0, 'url']`) as Issue.path spells it:
 * `requests[0].url`, after `prefix` when given (`load` gives `load.requests[0].url`).
 */
export function issuePath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

/** Formats an issue as `path: message (line L, column C)`. */
export function formatIssue(issue: Issue, source?: string): string {
  const where =
    issue.line === undefined ? '' : ` (${source ? `${source}:` : 'line '}${issue.line}:${issue.column ?? 1})`;
  return `${issue.path ? `${issue.path}: ` : ''}${issue.message}${where}`;
}

export function isFaultlineError(err: unknown): err is FaultlineError {
  return err instanceof FaultlineError;
}
