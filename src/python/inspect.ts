/**
 * Validation of Python activities and controls the way Chaos Toolkit
 * validates them (the module is found, it exposes the function, the
 * arguments fit its signature), by Faultline's one-shot inspector
 * (python/faultline_inspect.py) in the user's Python. By default nothing of
 * the user's runs: the inspector locates modules and reads their source with
 * `ast`; `CheckContext.importModules` (`validate --import-modules`) imports
 * them as Chaos Toolkit does. What could not be checked is a note.
 *
 * Every check requested within one turn of the event loop (a whole
 * experiment's activities) goes to ONE inspector process.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';
import type { Issue } from '../core/errors.js';
import { formatPath } from '../core/positions.js';
import type { PythonProvider } from '../core/schema.js';
import type { CheckContext } from '../engine/context.js';
import type { ControlProvider } from '../engine/controls.js';
import { noPython, PYTHON_DIR, type PythonInterpreter, resolvePython } from './interpreter.js';

/** The inspector script. */
export const INSPECTOR = join(PYTHON_DIR, 'faultline_inspect.py');

/** A hang guard only: a static check of a whole experiment takes well under a second. */
export const INSPECT_TIMEOUT_MS = 120_000;

/** Replies larger than this are refused (a reply lists parameters, not data). */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

const ParamSchema = z.object({
  name: z.string(),
  kind: z.enum(['positional_only', 'positional_or_keyword', 'var_positional', 'keyword_only', 'var_keyword']),
  default: z.boolean(),
});

/** What the inspector says about one module (and function). */
const CheckResultSchema = z.object({
  id: z.number(),
  status: z.enum(['ok', 'found', 'no-module', 'no-func', 'unchecked', 'error']),
  params: z.array(ParamSchema).optional(),
  how: z.enum(['static', 'live']).optional(),
  decorated: z.boolean().optional(),
  reason: z.string().optional(),
  detail: z.string().optional(),
});
export type CheckResult = z.infer<typeof CheckResultSchema>;
export type PythonParam = z.infer<typeof ParamSchema>;

const FailureSchema = z.object({ ok: z.literal(false), error: z.string() });
const CheckReplySchema = z.union([
  z.object({ ok: z.literal(true), results: z.array(CheckResultSchema) }),
  FailureSchema,
]);

/** Runs the inspector once with one JSON request; resolves with its parsed JSON reply. */
export function runInspector(
  python: PythonInterpreter,
  request: unknown,
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // -B: validation leaves no __pycache__ behind in the user's directories.
    const child = spawn(python.command, ['-B', INSPECTOR], { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let settled = false;
    const fail = (message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(new Error(message));
    };
    const timer = setTimeout(
      () =>
        fail(`the Python inspector (${python.command}) did not answer within ${INSPECT_TIMEOUT_MS / 1000} s`),
      INSPECT_TIMEOUT_MS,
    );
    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > MAX_REPLY_BYTES) fail('the Python inspector replied with more than 64 MiB');
      else out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      // The tail is what explains a crash; imported code may print a lot.
      err = (err + d.toString()).slice(-4000);
    });
    // The child may exit before reading its request (a broken interpreter): the close handler reports it.
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => fail(`cannot start ${python.command}: ${e.message}`));
    child.on('close', (code, signal) => {
      if (settled) return;
      const text = Buffer.concat(out).toString('utf8').trim();
      const last = text.slice(text.lastIndexOf('\n') + 1);
      try {
        const reply = JSON.parse(last) as unknown;
        settled = true;
        clearTimeout(timer);
        resolve(reply);
      } catch {
        const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const tail = err.trim().split('\n').slice(-3).join(' | ');
        fail(`the Python inspector (${python.command}) ${why} without a reply${tail ? `: ${tail}` : ''}`);
      }
    });
    child.stdin.end(JSON.stringify(request));
  });
}

// ---------------------------------------------------------------- batching

interface Waiter {
  resolve(result: CheckResult): void;
  reject(err: Error): void;
}

interface Batch {
  python: PythonInterpreter;
  env: NodeJS.ProcessEnv;
  importModules: boolean;
  /** By `module\0func`: each distinct question is asked once. */
  items: Map<string, { module: string; func: string | null; waiters: Waiter[] }>;
}

const open = new Map<string, Batch>();

/** Batches are per environment object: imported modules may read any variable, not only PYTHONPATH. */
const envIds = new WeakMap<NodeJS.ProcessEnv, number>();
let nextEnvId = 0;

function batchKey(python: PythonInterpreter, env: NodeJS.ProcessEnv, importModules: boolean): string {
  let id = envIds.get(env);
  if (id === undefined) {
    id = nextEnvId++;
    envIds.set(env, id);
  }
  return JSON.stringify([python.command, importModules, id]);
}

async function flush(batch: Batch): Promise<void> {
  const entries = [...batch.items.values()];
  const request = {
    op: 'check',
    import: batch.importModules,
    items: entries.map((e, id) => ({ id, module: e.module, func: e.func })),
  };
  try {
    const reply = CheckReplySchema.safeParse(await runInspector(batch.python, request, batch.env));
    if (!reply.success) throw new Error('the Python inspector gave a reply Faultline does not understand');
    if (!reply.data.ok) throw new Error(`the Python inspector refused the request: ${reply.data.error}`);
    const byId = new Map(reply.data.results.map((r) => [r.id, r]));
    entries.forEach((e, id) => {
      const result = byId.get(id);
      for (const w of e.waiters) {
        if (result) w.resolve(result);
        else w.reject(new Error(`the Python inspector said nothing about module '${e.module}'`));
      }
    });
  } catch (err) {
    for (const e of entries) for (const w of e.waiters) w.reject(err as Error);
  }
}

/**
 * What the inspector says about `module` (and `func`; null: the module only),
 * asked together with every other question of the same turn.
 */
export function inspectPython(
  python: PythonInterpreter,
  env: NodeJS.ProcessEnv,
  importModules: boolean,
  module: string,
  func: string | null,
): Promise<CheckResult> {
  const key = batchKey(python, env, importModules);
  let batch = open.get(key);
  if (!batch) {
    const created: Batch = { python, env, importModules, items: new Map() };
    batch = created;
    open.set(key, created);
    // After the current turn: every check the validation starts synchronously joins this batch.
    setImmediate(() => {
      open.delete(key);
      void flush(created);
    });
  }
  const itemKey = `${module}\u0000${func ?? ''}`;
  let item = batch.items.get(itemKey);
  if (!item) {
    item = { module, func, waiters: [] };
    batch.items.set(itemKey, item);
  }
  const waiters = item.waiters;
  return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
}

// ---------------------------------------------------------------- activities

const inActivity = (ctx: CheckContext) =>
  ctx.activity !== undefined ? ` in activity '${ctx.activity}'` : '';

const argumentPath = (name: string) => formatPath(['arguments', name]);

/**
 * The arguments against the parameters, as Chaos Toolkit passes them: all by
 * name, `configuration` always supplied when the function takes it, `secrets`
 * only when the provider declares `secrets`.
 */
export function bindArguments(
  params: readonly PythonParam[],
  args: readonly string[],
  func: string,
  secretsDeclared: boolean,
): Issue[] {
  const issues: Issue[] = [];
  const supplied = new Set(args);
  const named = new Set(params.map((p) => p.name));
  if (named.has('configuration')) supplied.add('configuration');
  if (named.has('secrets') && secretsDeclared) supplied.add('secrets');
  const byName = new Set(
    params.filter((p) => p.kind === 'positional_or_keyword' || p.kind === 'keyword_only').map((p) => p.name),
  );
  const takesAny = params.some((p) => p.kind === 'var_keyword');
  for (const p of params) {
    if (p.default) continue;
    if (p.kind === 'positional_only') {
      issues.push({
        path: 'func',
        message: `function '${func}' has a positional-only parameter ${p.name}: Chaos Toolkit passes arguments by name, so it cannot be called`,
      });
    } else if (byName.has(p.name) && !supplied.has(p.name)) {
      const hint =
        p.name === 'secrets'
          ? ' (the runner passes secrets only when the provider declares them: add `secrets: [scope, ...]` to the provider)'
          : '';
      issues.push({
        path: 'arguments',
        message: `required argument ${p.name} is missing from activity '${func}'${hint}`,
      });
    }
  }
  if (!takesAny) {
    for (const name of args) {
      if (!byName.has(name)) {
        issues.push({
          path: argumentPath(name),
          message: `argument ${name} is not part of the function signature in activity '${func}'`,
        });
      }
    }
  }
  return issues;
}

/** The note for what could not be checked, by the inspector's reason. */
function uncheckedNote(module: string, func: string, reason: string | undefined, detail?: string): Issue {
  const importIt = '--import-modules imports it';
  switch (reason) {
    case 'extension':
      return {
        path: 'module',
        message: `module ${module} is a compiled extension: its function ${func} was not checked; ${importIt}`,
      };
    case 'compiled':
      return {
        path: 'module',
        message: `module ${module} has only compiled bytecode, no source: its function ${func} was not checked; ${importIt}`,
      };
    case 'no-signature':
      return {
        path: 'func',
        message: `the signature of ${module}.${func} cannot be read: its arguments were not checked`,
      };
    case 'imported':
      return {
        path: 'func',
        message: `function ${func} of module ${module} is imported from ${detail === '*' || !detail ? 'another module' : detail}: it could not be checked statically; ${importIt}`,
      };
    case 'dynamic':
      return {
        path: 'func',
        message: `function ${func} of module ${module} is made when the module runs (an assignment or a module __getattr__): it could not be checked statically; ${importIt}`,
      };
    default:
      return {
        path: 'module',
        message: `module ${module} could not be read${detail ? ` (${detail})` : reason ? ` (${reason})` : ''}: its function ${func} was not checked; ${importIt}`,
      };
  }
}

function pythonMissing(what: string, env: NodeJS.ProcessEnv): Issue {
  return { path: '', message: `${what} needs Python, and ${noPython(env)}` };
}

/**
 * Chaos Toolkit's validation of a python activity (module found, function
 * exposed, arguments bound), executing nothing unless `ctx.importModules`.
 * Issue paths are relative to the provider (`module`, `func`, `arguments.x`);
 * what could not be checked goes to `ctx.note`.
 */
export async function checkPythonActivity(provider: PythonProvider, ctx: CheckContext): Promise<Issue[]> {
  const env = ctx.env ?? process.env;
  const python = resolvePython(env);
  const { module, func } = provider;
  if (!python) {
    const who =
      ctx.activity !== undefined ? `activity '${ctx.activity}'` : `the python activity ${module}.${func}`;
    return [pythonMissing(`${who} (module '${module}')`, env)];
  }
  const result = await inspectPython(python, env, ctx.importModules === true, module, func);
  switch (result.status) {
    case 'no-module':
      return [{ path: 'module', message: `could not find Python module '${module}'${inActivity(ctx)}` }];
    case 'no-func':
      return [
        {
          path: 'func',
          message: `the python module '${module}' does not expose a function called '${func}'${inActivity(ctx)}`,
        },
      ];
    case 'error':
      return [
        {
          path: 'module',
          message:
            result.reason === 'syntax'
              ? `Python module '${module}' cannot be imported${inActivity(ctx)}: SyntaxError in ${result.detail}`
              : `importing Python module '${module}' failed${inActivity(ctx)}: ${result.detail}`,
        },
      ];
    case 'unchecked':
      ctx.note?.(uncheckedNote(module, func, result.reason, result.detail));
      return [];
    case 'ok': {
      if (result.decorated) {
        ctx.note?.({
          path: 'func',
          message: `function ${func} of module ${module} is decorated: its arguments were checked against the function as written (a decorator may change them; --import-modules checks the decorated function)`,
        });
      }
      const args = Object.keys(provider.arguments ?? {});
      return bindArguments(result.params ?? [], args, func, provider.secrets !== undefined);
    }
    default:
      return [];
  }
}

/**
 * Chaos Toolkit's validation of a python control: a module that cannot be
 * found is a WARNING (the run carries on without the control), never an
 * error. Returns the warnings, paths relative to the control's provider.
 * (Chaos Toolkit's safeguards control is not a module to find: callers leave it out.)
 */
export async function checkPythonControl(
  provider: ControlProvider,
  control: string,
  ctx: CheckContext,
): Promise<Issue[]> {
  const env = ctx.env ?? process.env;
  const python = resolvePython(env);
  const carryOn = 'The experiment will carry on running nonetheless.';
  if (!python) {
    const issue = pythonMissing(`control '${control}' (module '${provider.module}')`, env);
    return [{ ...issue, message: `${issue.message}. ${carryOn}` }];
  }
  const result = await inspectPython(python, env, ctx.importModules === true, provider.module, null);
  if (result.status === 'no-module') {
    return [
      {
        path: 'module',
        message: `could not find Python module '${provider.module}' in control '${control}'. Did you install the Python module? ${carryOn}`,
      },
    ];
  }
  if (result.status === 'error') {
    return [
      {
        path: 'module',
        message: `importing Python module '${provider.module}' of control '${control}' failed: ${result.detail}. ${carryOn}`,
      },
    ];
  }
  return [];
}
