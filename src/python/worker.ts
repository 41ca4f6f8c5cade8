/**
 * The client of Faultline's Python worker (python/faultline_worker.py): one
 * long-lived Python process, started at the first call, running Chaos Toolkit
 * Python activities and controls in the user's interpreter. The protocol is
 * line-delimited JSON over the worker's standard streams (docs/python-worker.md).
 *
 * The worker runs in its own process group (detached), so a terminal's Ctrl-C
 * does not reach it and one SIGKILL to the group ends it with whatever it
 * started. Idle, the client holds no reference on the event loop (a library
 * user who forgets stop() is not kept waiting); while a call is pending it does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ActivityFailed } from '../core/errors.js';
import type { PythonInterpreter } from './interpreter.js';
import { PYTHON_DIR } from './interpreter.js';
import {
  CodecError,
  DEFAULT_MAX_LINE_BYTES,
  decodeValue,
  encodeValue,
  mayHoldTags,
  PROTOCOL_VERSION,
  type Reply,
  readySchema,
  replySchema,
  type WireError,
} from './protocol.js';

export interface PythonWorkerOptions {
  python: PythonInterpreter;
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Lines the worker writes to stderr (user prints): forwarded here, bounded. */
  log?(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** Longest request or reply line, in bytes (default 64 MiB). */
  maxLineBytes?: number;
  /** How long the worker may take to say it is ready (default 60 s): a hang guard for a stuck interpreter start. */
  startTimeoutMs?: number;
  /** The worker script (default python/faultline_worker.py): for tests that need a misbehaving worker. */
  workerScript?: string;
}

export interface PythonCall {
  module: string;
  func: string;
  kwargs: Record<string, unknown>;
  optional?: Record<string, unknown>;
  return?: string[];
  missingOk?: boolean;
}

export type PythonCallResult =
  | { missing?: undefined; value: unknown; returned: Record<string, unknown> }
  | { missing: 'module' | 'function'; message: string };

/** The function raised: message `<Type>: <message>`, `exceptionLines` the journal's traceback lines, `interrupt` when it raised InterruptExecution. */
export class PythonError extends ActivityFailed {
  /** The exception class's name, e.g. `RuntimeError`. */
  readonly pythonType: string;
  /** `<module>.<qualname>` of the exception class, e.g. `builtins.RuntimeError`. */
  readonly pythonQualname: string;
  readonly exceptionLines: string[];
  readonly interrupt: boolean;
  /** The `return` entries as they were when the function raised (a control that mutated, then interrupted). */
  readonly returned: Record<string, unknown>;
  constructor(error: WireError, returned: Record<string, unknown> = {}) {
    super(error.summary);
    this.name = 'PythonError';
    this.pythonType = error.type;
    this.pythonQualname = error.qualname;
    this.exceptionLines = error.traceback;
    this.interrupt = error.interrupt;
    this.returned = returned;
  }
}

/** The worker died or was stopped while a call ran: message names the call (module.func) and the exit code/signal. */
export class PythonWorkerGone extends ActivityFailed {
  constructor(
    message: string,
    readonly call: string,
  ) {
    super(message);
    this.name = 'PythonWorkerGone';
  }
}

/** A call whose AbortSignal fired: name 'AbortError', and an ActivityFailed for the journal. */
export class PythonCallAborted extends ActivityFailed {
  constructor(
    message: string,
    readonly call: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** Longest stderr line forwarded to log(); the rest of the line is dropped and counted. */
const STDERR_LINE_BYTES = 4096;
/** stderr lines forwarded a second at most; the rest are counted, and the count logged. */
const STDERR_LINES_PER_SECOND = 200;
/** Lines on stdout before the ready line that are tolerated (an interpreter's start-up printing). */
const MAX_NOISE_LINES = 100;
/** stderr lines kept for error messages (a failed start, a worker that died). */
const STDERR_TAIL_LINES = 12;

/** Splits a byte stream into lines, never holding more than `max` bytes of an unfinished one. */
class LineSplitter {
  #parts: Buffer[] = [];
  #size = 0;
  #skipping = false;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: Buffer, truncated: boolean) => void,
    /** Called once per over-long line; `skip` true drops its rest, false stops splitting. */
    private readonly onTooLong: (line: Buffer) => boolean,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.#skipping) {
        if (nl >= 0) this.#skipping = false;
        start = end + 1;
        continue;
      }
      const piece = chunk.subarray(start, end);
      if (this.#size + piece.length > this.max) {
        const head = Buffer.concat([...this.#parts, piece]).subarray(0, this.max);
        this.#parts = [];
        this.#size = 0;
        if (!this.onTooLong(head)) return;
        this.#skipping = nl < 0;
        start = end + 1;
        continue;
      }
      if (nl < 0) {
        this.#parts.push(piece);
        this.#size += piece.length;
        return;
      }
      const line = this.#size === 0 ? piece : Buffer.concat([...this.#parts, piece]);
      this.#parts = [];
      this.#size = 0;
      this.onLine(line, false);
      start = nl + 1;
    }
  }

  /** The unfinished line, if any (the stream ended without a newline). */
  rest(): Buffer | undefined {
    return this.#size ? Buffer.concat(this.#parts) : undefined;
  }
}

/** The worker's stderr: forwarded line by line to log(), bounded in length and rate; the last lines kept. */
class StderrSink {
  readonly tail: string[] = [];
  #windowStart = 0;
  #inWindow = 0;
  #dropped = 0;
  readonly splitter: LineSplitter;

  constructor(private readonly log: PythonWorkerOptions['log']) {
    this.splitter = new LineSplitter(
      STDERR_LINE_BYTES,
      (line) => this.line(line.toString('utf8')),
      (head) => {
        this.line(`${head.toString('utf8')} [faultline: line truncated at ${STDERR_LINE_BYTES} bytes]`);
        return true;
      },
    );
  }

  /** One line of output: kept in the tail, forwarded unless over the rate. */
  line(text: string): void {
    this.tail.push(text);
    if (this.tail.length > STDERR_TAIL_LINES) this.tail.shift();
    if (!this.log) return;
    const now = Date.now();
    if (now - this.#windowStart >= 1000) {
      this.flushDropped();
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= STDERR_LINES_PER_SECOND) {
      this.#dropped++;
      return;
    }
    this.#inWindow++;
    this.#emit('info', `python: ${text}`);
  }

  end(): void {
    const rest = this.splitter.rest();
    if (rest) this.line(rest.toString('utf8'));
    this.flushDropped();
  }

  /** A throwing log callback must not become an uncaught exception in a stream handler. */
  #emit(level: 'info' | 'warn', message: string): void {
    try {
      this.log?.(level, message);
    } catch {
      // the caller's logger failed: the line is lost, the worker is not
    }
  }

  flushDropped(): void {
    if (this.#dropped && this.log) {
      this.#emit(
        'warn',
        `python: ${this.#dropped} lines of stderr not shown (more than ${STDERR_LINES_PER_SECOND} a second)`,
      );
    }
    this.#dropped = 0;
  }

  /** The last lines, for an error message. */
  describe(): string {
    return this.tail.length ? `; its stderr ended with:\n${this.tail.join('\n')}` : '';
  }
}

interface Pending {
  what: string;
  resolve(result: PythonCallResult): void;
  reject(err: Error): void;
  signal?: AbortSignal;
  onAbort?: () => void;
  aborted?: boolean;
}

/** One spawned worker process, from spawn to exit. */
class WorkerProcess {
  readonly child: ChildProcess;
  readonly pending = new Map<number, Pending>();
  info?: { python: string; executable: string };
  /** False from the moment it is told to die or is seen dying: no new call goes to it. */
  alive = true;
  readonly exited: Promise<void>;
  #ready = false;
  #queue: string[] = [];
  #failure?: ActivityFailed;
  #stopped = false;
  #exit?: { code: number | null; signal: NodeJS.Signals | null };
  #finished = false;
  #noise = 0;
  #resolveExited!: () => void;
  #startTimer?: NodeJS.Timeout;
  #closeGuard?: NodeJS.Timeout;
  readonly #stderr: StderrSink;
  readonly #stdout: LineSplitter;

  constructor(
    private readonly options: PythonWorkerOptions,
    maxLineBytes: number,
  ) {
    this.exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });
    const script = options.workerScript ?? `${PYTHON_DIR}faultline_worker.py`;
    this.#stderr = new StderrSink(options.log);
    this.#stdout = new LineSplitter(
      maxLineBytes,
      (line) => this.#onLine(line),
      (head) => {
        this.#fail(
          `the Python worker wrote a line longer than ${maxLineBytes} bytes (maxLineBytes), starting ${preview(head)}`,
        );
        return false;
      },
    );
    this.child = spawn(
      options.python.command,
      ['-u', script, '--max-line-bytes', String(maxLineBytes), '--parent-pid', String(process.pid)],
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group: a terminal's Ctrl-C does not reach it (the
        // runner decides when it stops) and one kill reaches all it started.
        detached: true,
      },
    );
    this.child.on('error', (err) => {
      if (this.child.pid === undefined) {
        const hint =
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? ` (the interpreter, or the working directory ${options.cwd}, does not exist)`
            : '';
        this.#failure ??= new ActivityFailed(
          `cannot start the Python worker with ${this.#interpreter()}: ${err.message}${hint}`,
        );
        this.alive = false;
        this.#finish();
      }
    });
    this.child.on('exit', (code, signal) => this.#onExit(code, signal));
    this.child.stdin!.on('error', () => {
      // EPIPE when the worker is gone: its exit is reported instead.
    });
    this.child.stdout!.on('data', (chunk: Buffer) => this.#stdout.push(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => this.#stderr.splitter.push(chunk));
    this.child.stderr!.on('error', () => {});
    this.child.stdout!.on('error', () => {});
    this.#startTimer = setTimeout(() => {
      this.#fail(
        `the Python worker (${this.#interpreter()}) did not say it was ready within ${Math.round(startTimeout(options) / 1000)} s`,
      );
    }, startTimeout(options));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  #interpreter(): string {
    return `${this.options.python.command} (from ${this.options.python.source})`;
  }

  call(id: number, what: string, line: string, signal?: AbortSignal): Promise<PythonCallResult> {
    return new Promise((resolve, reject) => {
      const p: Pending = { what, resolve, reject, signal };
      if (signal) {
        p.onAbort = () => this.#abort(p);
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.pending.set(id, p);
      this.#setRef(true);
      if (this.#ready) this.child.stdin!.write(line);
      else this.#queue.push(line);
    });
  }

  /** Kills the worker's process group; pending calls reject when it is gone. */
  kill(reason: 'stop' | 'abort' | 'fail'): void {
    if (reason === 'stop') this.#stopped = true;
    this.alive = false;
    if (this.#finished) return;
    // Held until the exit is seen, so stop() and the pending calls settle.
    this.#setRef(true);
    this.#killGroup();
    if (this.#exit) return;
    try {
      this.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  #killGroup(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // the group is empty already
    }
  }

  #abort(p: Pending): void {
    p.aborted = true;
    this.kill('abort');
  }

  #fail(message: string): void {
    this.#failure ??= new ActivityFailed(message);
    this.kill('fail');
  }

  #settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    if (this.pending.size === 0) this.#setRef(false);
    return p;
  }

  /** Holds the event loop only while something waits on the worker. */
  #setRef(on: boolean): void {
    const method = on ? 'ref' : 'unref';
    this.child[method]();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) {
      (s as unknown as { ref?(): void; unref?(): void } | null)?.[method]?.();
    }
  }

  #onLine(buf: Buffer): void {
    if (this.#failure) return;
    const text = buf.toString('utf8');
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      msg = undefined;
      if (this.#ready) {
        this.#fail(`the Python worker wrote a line that is not a protocol message: ${preview(buf)}`);
        return;
      }
    }
    if (!this.#ready) {
      this.#onReady(msg, buf);
      return;
    }
    const parsed = replySchema.safeParse(msg);
    if (!parsed.success) {
      this.#fail(`the Python worker wrote a reply that does not match the protocol: ${preview(buf)}`);
      return;
    }
    this.#onReply(parsed.data, text, buf);
  }

  #onReady(msg: unknown, buf: Buffer): void {
    if (!(msg !== null && typeof msg === 'object' && 'ready' in msg)) {
      // Output before the worker ran (a sitecustomize or .pth file printing):
      // shown as the worker's stderr is, since the worker did not write it.
      if (++this.#noise > MAX_NOISE_LINES) {
        this.#fail(
          `the Python worker (${this.#interpreter()}) wrote more than ${MAX_NOISE_LINES} lines to stdout before its ready line, the last ${preview(buf)}`,
        );
        return;
      }
      this.#stderr.line(
        `(stdout before the worker started) ${buf.subarray(0, STDERR_LINE_BYTES).toString('utf8')}`,
      );
      return;
    }
    const ready = readySchema.safeParse(msg);
    if (!ready.success) {
      this.#fail(
        `the Python worker (${this.#interpreter()}) wrote ${preview(buf)} instead of its ready line`,
      );
      return;
    }
    if (ready.data.protocol !== PROTOCOL_VERSION) {
      this.#fail(
        `the Python worker speaks protocol ${ready.data.protocol}, this Faultline ${PROTOCOL_VERSION} (mixed installation?)`,
      );
      return;
    }
    clearTimeout(this.#startTimer);
    this.#ready = true;
    this.info = { python: ready.data.python, executable: ready.data.executable };
    for (const line of this.#queue) this.child.stdin!.write(line);
    this.#queue = [];
  }

  #onReply(reply: Reply, text: string, buf: Buffer): void {
    const p = reply.id === null ? undefined : this.#settle(reply.id);
    if (!p) {
      const what = reply.id === null ? 'a reply without an id' : `a reply to unknown call ${reply.id}`;
      const detail = !reply.ok ? `: ${reply.error.message}` : '';
      this.#fail(`the Python worker sent ${what}${detail} (${preview(buf)})`);
      return;
    }
    if (!reply.ok) {
      const { error } = reply;
      if (error.faultline) {
        p.reject(new ActivityFailed(`the Python worker could not run ${p.what}: ${error.message}`));
        return;
      }
      let returned = reply.returned ?? {};
      try {
        if (mayHoldTags(text)) returned = decodeValue(returned, 'returned') as Record<string, unknown>;
      } catch {
        returned = {};
      }
      p.reject(new PythonError(error, returned));
      return;
    }
    if (reply.missing !== undefined) {
      p.resolve({ missing: reply.missing, message: reply.message });
      return;
    }
    let value = reply.value;
    let returned = reply.returned;
    if (mayHoldTags(text)) {
      try {
        value = decodeValue(value);
        returned = decodeValue(returned, 'returned') as Record<string, unknown>;
      } catch (err) {
        const reason = err instanceof CodecError ? err.message : String(err);
        p.reject(new ActivityFailed(`the reply of ${p.what} cannot be decoded: ${reason}`));
        return;
      }
    }
    p.resolve({ value, returned });
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.#exit = { code, signal };
    this.alive = false;
    clearTimeout(this.#startTimer);
    // What the worker started is in its group: nothing of it outlives the worker.
    this.#killGroup();
    // The last replies may still be in the stdout pipe: settle once it is read
    // (it closes with the worker: nothing else holds the protocol channel).
    if (this.child.stdout!.readableEnded || this.child.stdout!.destroyed) {
      this.#finish();
      return;
    }
    this.child.stdout!.once('close', () => this.#finish());
    // A hang guard only: stdout of a dead process always closes.
    this.#closeGuard = setTimeout(() => this.#finish(), 2000);
  }

  /** The worker is gone: every pending call is answered, the pipes released. */
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#startTimer);
    clearTimeout(this.#closeGuard);
    this.#stderr.end();
    const pid = this.child.pid;
    const exit = this.#exit;
    const how = !exit
      ? 'could not be started'
      : this.#stopped
        ? 'was stopped'
        : exit.code !== null
          ? `exited with code ${exit.code}`
          : `was killed by ${exit.signal}`;
    for (const [id, p] of [...this.pending]) {
      this.#settle(id);
      if (p.aborted) {
        const reason = p.signal?.reason;
        const why = reason instanceof Error ? reason.message : reason ? String(reason) : '';
        p.reject(
          new PythonCallAborted(`the call of ${p.what} was aborted${why ? `: ${why}` : ''}`, p.what, {
            cause: reason,
          }),
        );
      } else if (this.#failure) {
        p.reject(this.#failure);
      } else if (!this.#ready) {
        p.reject(
          new ActivityFailed(
            `the Python worker (${this.#interpreter()}) ${how} before it was ready${this.#stderr.describe()}`,
          ),
        );
      } else {
        p.reject(
          new PythonWorkerGone(
            `the Python worker (pid ${pid}) ${how} while running ${p.what}${this.#stopped ? '' : this.#stderr.describe()}`,
            p.what,
          ),
        );
      }
    }
    // A grandchild that left the group may still hold stderr: not our business any more.
    this.child.stdin?.destroy();
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
    this.#setRef(false);
    this.#resolveExited();
  }
}

function preview(buf: Buffer): string {
  const text = buf.subarray(0, 200).toString('utf8');
  return JSON.stringify(buf.length > 200 ? `${text}…` : text);
}

function startTimeout(options: PythonWorkerOptions): number {
  return options.startTimeoutMs ?? 60_000;
}

function checkCall(request: PythonCall): void {
  for (const field of ['module', 'func'] as const) {
    if (typeof request[field] !== 'string' || request[field] === '') {
      throw new ActivityFailed(`Python call: ${field}: expected a non-empty string`);
    }
  }
  const isDict = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isDict(request.kwargs)) throw new ActivityFailed('Python call: kwargs: expected an object');
  if (request.optional !== undefined && !isDict(request.optional)) {
    throw new ActivityFailed('Python call: optional: expected an object');
  }
  if (
    request.return !== undefined &&
    !(Array.isArray(request.return) && request.return.every((n) => typeof n === 'string'))
  ) {
    throw new ActivityFailed('Python call: return: expected a list of strings');
  }
}

export class PythonWorker {
  readonly #options: PythonWorkerOptions;
  readonly #maxLineBytes: number;
  #proc?: WorkerProcess;
  #nextId = 1;

  constructor(options: PythonWorkerOptions) {
    this.#options = options;
    const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isSafeInteger(max) || max < 1024) {
      throw new ActivityFailed(`maxLineBytes: expected a whole number of bytes, at least 1024, got ${max}`);
    }
    this.#maxLineBytes = max;
  }

  /**
   * Starts the worker if none runs (lazily, at the first call), then calls.
   * Aborting `signal` mid-call stops the worker (SIGKILL to its process group)
   * and rejects with an Error whose name is 'AbortError' (other calls in
   * flight reject with PythonWorkerGone); the next call starts a fresh worker.
   */
  call(request: PythonCall, signal?: AbortSignal): Promise<PythonCallResult> {
    const what = `${request.module}.${request.func}`;
    try {
      checkCall(request);
      if (signal?.aborted) {
        const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? '');
        throw new PythonCallAborted(`the call of ${what} was aborted${why ? `: ${why}` : ''}`, what, {
          cause: signal.reason,
        });
      }
      const id = this.#nextId++;
      const line = `${JSON.stringify({
        id,
        op: 'call',
        module: request.module,
        func: request.func,
        kwargs: encodeValue(request.kwargs, 'kwargs'),
        optional: encodeValue(request.optional ?? {}, 'optional'),
        return: request.return ?? [],
        missing_ok: request.missingOk ?? false,
      })}\n`;
      const bytes = Buffer.byteLength(line) - 1;
      if (bytes > this.#maxLineBytes) {
        throw new ActivityFailed(
          `the arguments of ${what} make a request of ${bytes} bytes, over the limit of ${this.#maxLineBytes} bytes (maxLineBytes)`,
        );
      }
      if (!this.#proc?.alive) this.#proc = new WorkerProcess(this.#options, this.#maxLineBytes);
      return this.#proc.call(id, what, line, signal);
    } catch (err) {
      if (err instanceof CodecError) {
        return Promise.reject(
          new ActivityFailed(`the arguments of ${what} cannot be sent to Python: ${err.message}`),
        );
      }
      return Promise.reject(err);
    }
  }

  /** The running worker's pid, if any. */
  get pid(): number | undefined {
    return this.#proc?.alive ? this.#proc.pid : undefined;
  }

  /** Start-up facts of the running worker (python version, executable). */
  get info(): { python: string; executable: string } | undefined {
    return this.#proc?.alive ? this.#proc.info : undefined;
  }

  /** Stops the worker (its whole process group), waits until it is gone; idempotent. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    this.#proc = undefined;
    if (!proc) return;
    proc.kill('stop');
    await proc.exited;
  }
}
