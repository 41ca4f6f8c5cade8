/**
 * The `node` provider: Faultline's counterpart of Chaos Toolkit's python
 * provider. `module` is a path relative to the experiment's directory, an
 * absolute path, a file URL or a package name (resolved from the experiment's
 * directory); `func` is an export, `default` unless given. The function is
 * called as `fn({...arguments}, {configuration, secrets, signal, log})`, may be
 * async, and its return value is the output. A thrown error fails the activity
 * with `<ErrorName>: <message>`. `.js`, `.mjs`, `.cjs` and `.ts` modules load.
 *
 * @example
 * // probes/health.mjs
 * export async function healthy({ url }, { signal }) {
 *   return (await fetch(url, { signal })).ok;
 * }
 * // experiment: {"type": "node", "module": "./probes/health.mjs", "func": "healthy", "arguments": {"url": "..."}}
 */
import { existsSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ActivityFailed, type Issue } from '../core/errors.js';
import { isDict } from '../core/python.js';
import type { Configuration, NodeProvider, Secrets } from '../core/schema.js';
import type { ActivityContext, LogLevel, ProviderRunner } from '../engine/context.js';
import { abortedError, errorText } from './util.js';

/** The second argument a node activity receives. */
export interface NodeActivityContext {
  configuration: Configuration;
  secrets: Secrets;
  /** Aborted when the run is interrupted: stop promptly. */
  signal: AbortSignal;
  log(level: LogLevel, message: string): void;
}

export type NodeActivity = (args: Record<string, unknown>, ctx: NodeActivityContext) => unknown;

const TS_FILE = /\.[cm]?ts$/;
const SCRIPT_FILE = /\.([cm]?js|[cm]?ts)$/;

function packageName(spec: string): [name: string, subpath: string] {
  const parts = spec.split('/');
  const n = spec.startsWith('@') ? 2 : 1;
  return [parts.slice(0, n).join('/'), parts.slice(n).join('/')];
}

function exportTarget(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (Array.isArray(entry)) return entry.map(exportTarget).find((t) => t !== undefined);
  if (isDict(entry)) {
    for (const condition of ['import', 'node', 'default']) {
      const t = exportTarget(entry[condition]);
      if (t) return t;
    }
  }
  return undefined;
}

/** An ESM-only package (no `require` export) found from `baseDir`, by its `exports` map. */
function resolveEsmPackage(spec: string, baseDir: string): string | undefined {
  const [name, subpath] = packageName(spec);
  const require = createRequire(join(baseDir, 'noop.js'));
  for (const dir of require.resolve.paths(name) ?? []) {
    const pkgDir = join(dir, name);
    const pkgFile = join(pkgDir, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports?: unknown; main?: string };
    const key = subpath ? `./${subpath}` : '.';
    const exp = pkg.exports;
    const entry =
      isDict(exp) && Object.keys(exp).some((k) => k.startsWith('.'))
        ? exp[key]
        : key === '.'
          ? exp
          : undefined;
    const target = exportTarget(entry) ?? (key === '.' && pkg.main ? pkg.main : undefined);
    return target ? join(pkgDir, target) : undefined;
  }
  return undefined;
}

/** The URL a node provider's `module` loads, resolved against the experiment's directory. */
export function resolveNodeModule(module: string, baseDir: string): string {
  if (module.startsWith('file:')) return module;
  if (isAbsolute(module)) return pathToFileURL(module).href;
  const local = resolve(baseDir, module);
  if (
    module.startsWith('./') ||
    module.startsWith('../') ||
    (SCRIPT_FILE.test(module) && existsSync(local))
  ) {
    return pathToFileURL(local).href;
  }
  const require = createRequire(join(baseDir, 'noop.js'));
  try {
    return pathToFileURL(require.resolve(module)).href;
  } catch (err) {
    const esm = resolveEsmPackage(module, baseDir);
    if (esm) return pathToFileURL(esm).href;
    try {
      // Packages installed next to Faultline itself.
      return import.meta.resolve(module);
    } catch {
      throw new Error(
        `cannot find module '${module}' from ${baseDir}: ${(err as Error).message.split('\n')[0]}`,
      );
    }
  }
}

/** Module files larger than this are refused: a provider module is code, not data. */
export const MAX_MODULE_BYTES = 16 * 1024 * 1024;

/**
 * A module file must be a regular file of bounded size: `module: /dev/zero`
 * used to hang the run reading 2 GB. (Only the module named in the experiment
 * is checked; what it imports in turn is ordinary code.)
 */
async function checkModuleFile(url: string, module: string, mustExist = false): Promise<void> {
  if (!url.startsWith('file:')) return;
  const info = await stat(fileURLToPath(url)).catch(() => undefined);
  // A file that is not there: the import reports it as it always did.
  if (!info) {
    if (mustExist) throw new Error(`no such file ${fileURLToPath(url)}`);
    return;
  }
  if (!info.isFile()) {
    throw new Error(
      `module '${module}' is not a regular file (a device, a pipe or a directory cannot be loaded)`,
    );
  }
  if (info.size > MAX_MODULE_BYTES) {
    throw new Error(
      `module '${module}' is ${info.size} bytes; module files are limited to ${MAX_MODULE_BYTES} bytes (16 MiB)`,
    );
  }
}

async function importModule(url: string): Promise<Record<string, unknown>> {
  if (TS_FILE.test(new URL(url).pathname)) {
    let tsImport: (specifier: string, parent: string) => Promise<unknown>;
    try {
      ({ tsImport } = await import('tsx/esm/api'));
    } catch {
      throw new Error('loading a TypeScript module needs the `tsx` package installed');
    }
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url)) as Record<string, unknown>;
}

function pickExport(ns: Record<string, unknown>, func: string): NodeActivity | undefined {
  const direct = ns[func];
  if (typeof direct === 'function') return direct as NodeActivity;
  // CommonJS `exports.fn = ...` that Node's static analysis did not surface.
  const cjs = ns.default;
  if ((isDict(cjs) || typeof cjs === 'function') && func !== 'default') {
    const nested = (cjs as Record<string, unknown>)[func];
    if (typeof nested === 'function') return nested as NodeActivity;
  }
  return undefined;
}

/**
 * Modules already imported, by URL. Node caches an imported module for the
 * life of the process whatever happens to its file afterwards, so checking the
 * file again before each activity (a stat per call: most of the engine's
 * per-activity cost, bench/engine-overhead.mjs) would guard nothing.
 */
const imported = new Map<string, Record<string, unknown>>();

async function importChecked(url: string, module: string): Promise<Record<string, unknown>> {
  const known = imported.get(url);
  if (known) return known;
  await checkModuleFile(url, module);
  const ns = await importModule(url);
  imported.set(url, ns);
  return ns;
}

/** Loads the function a node provider names; throws with a message fit for an Issue. */
export async function loadNodeActivity(provider: NodeProvider, baseDir: string): Promise<NodeActivity> {
  const func = provider.func ?? 'default';
  const url = resolveNodeModule(provider.module, baseDir);
  const ns = await importChecked(url, provider.module);
  const fn = pickExport(ns, func);
  if (!fn) throw new MissingExport(`module '${provider.module}' does not export a function '${func}'`);
  return fn;
}

class MissingExport extends Error {}

/** A module named in an experiment, cut for messages (a `data:` URL can be the whole module). */
function shownModule(module: string): string {
  return module.length > 60 ? `${module.slice(0, 60)}…` : module;
}

/**
 * What validation can check without executing the module: it resolves, and
 * its file is a regular file within the size limit. Importing would run its
 * top-level code, so whether `func` is exported is left to the run (a note says so).
 */
async function checkWithoutImport(
  provider: NodeProvider,
  baseDir: string,
  note: ((issue: Issue) => void) | undefined,
): Promise<Issue[]> {
  const func = provider.func ?? 'default';
  const shown = shownModule(provider.module);
  const url = resolveNodeModule(provider.module, baseDir);
  await checkModuleFile(url, shown, true);
  note?.({
    path: 'module',
    message: `module '${shown}' was not imported: its function '${func}' is checked when the experiment runs (--import-modules imports it now, running its code)`,
  });
  return [];
}

function callWithSignal(
  fn: NodeActivity,
  args: Record<string, unknown>,
  ctx: ActivityContext,
): Promise<unknown> {
  const { signal } = ctx;
  if (signal.aborted) return Promise.reject(abortedError(signal, 'node activity'));
  return new Promise((resolvePromise, reject) => {
    // A function that ignores its signal must not hold the run: stop waiting on abort.
    const onAbort = () => reject(abortedError(signal, 'node activity'));
    signal.addEventListener('abort', onAbort, { once: true });
    const context: NodeActivityContext = {
      configuration: ctx.configuration,
      secrets: ctx.secrets,
      signal,
      log: (level, message) => ctx.log(level, message),
    };
    Promise.resolve()
      .then(() => fn({ ...args }, context))
      .then(resolvePromise, (err: unknown) =>
        reject(
          signal.aborted
            ? abortedError(signal, 'node activity')
            : new ActivityFailed(errorText(err), { cause: err }),
        ),
      )
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export const nodeProvider: ProviderRunner<NodeProvider> = {
  type: 'node',

  async run(provider, ctx) {
    if (ctx.signal.aborted) throw abortedError(ctx.signal, 'node activity');
    let fn: NodeActivity;
    try {
      fn = await loadNodeActivity(provider, ctx.baseDir);
    } catch (err) {
      throw new ActivityFailed(
        err instanceof MissingExport
          ? err.message
          : `cannot load module '${provider.module}': ${errorText(err)}`,
        {
          cause: err,
        },
      );
    }
    return callWithSignal(fn, isDict(provider.arguments) ? provider.arguments : {}, ctx);
  },

  async check(provider, { baseDir, importModules, note }) {
    try {
      if (!importModules) return await checkWithoutImport(provider, baseDir, note);
      await loadNodeActivity(provider, baseDir);
      return [];
    } catch (err) {
      const issue: Issue =
        err instanceof MissingExport
          ? { path: 'func', message: err.message }
          : { path: 'module', message: `cannot load module '${provider.module}': ${errorText(err)}` };
      return [issue];
    }
  },
};
