/**
 * `faultline discover PACKAGE`: the activities of an installed Python package
 * (a Chaos Toolkit extension), as `chaos discover --no-install PACKAGE` finds
 * them: the package is imported in the user's Python (an explicit request:
 * its code runs) and its `discover(discover_system=False)` is called when it
 * has one; otherwise the public functions of its modules are listed. Nothing
 * is ever installed.
 */
import { z } from 'zod';
import { FaultlineError } from '../core/errors.js';
import { runInspector } from './inspect.js';
import { noPython, resolvePython } from './interpreter.js';

export interface DiscoveredArgument {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

/**
 * One activity as `faultline discover` lists it. `function`: a function of a
 * package without discover(), in a module named neither `actions` nor `probes`.
 */
export interface DiscoveredActivity {
  type: 'action' | 'probe' | 'function';
  module: string;
  func: string;
  doc: string;
  arguments: DiscoveredArgument[];
  /** The provider type that runs it: `python` for a package's; built-ins leave it out. */
  provider?: 'python';
}

/** The package itself. */
export interface DiscoveredExtension {
  /** The package asked for. */
  package: string;
  /** The extension's name (its discover() says), else the package's. */
  name: string;
  version: string | null;
  /** `discover`: the package's own discover(); `modules`: its modules' public functions. */
  source: 'discover' | 'modules';
  /** The interpreter that imported it. */
  python: string;
  /** Modules that could not be imported while listing functions, with why. */
  skipped: { module: string; reason: string }[];
}

export type DiscoveredPackage = DiscoveredActivity[] & { extension: DiscoveredExtension };

const ArgSchema = z.object({
  name: z.string(),
  default: z.unknown().optional(),
  type: z.string().optional(),
});
const ActivitySchema = z.object({
  type: z.enum(['action', 'probe', 'function']),
  name: z.string(),
  mod: z.string(),
  doc: z.string(),
  arguments: z.array(ArgSchema),
});
const ReplySchema = z.union([
  z.object({ ok: z.literal(false), error: z.string() }),
  z.object({ ok: z.literal(true), found: z.literal(false) }),
  z.object({ ok: z.literal(true), found: z.literal(true), error: z.string() }),
  z.object({
    ok: z.literal(true),
    found: z.literal(true),
    extension: z.object({
      name: z.string(),
      version: z.string().nullable(),
      source: z.enum(['discover', 'modules']),
    }),
    activities: z.array(ActivitySchema),
    skipped: z.array(z.object({ module: z.string(), reason: z.string() })),
  }),
]);

/** Supplied by the runner (Chaos Toolkit), never written in `arguments`: not listed. */
const SUPPLIED = new Set(['configuration', 'secrets']);

const PYTHON_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Whether `name` could name a Python package (dotted identifiers). */
export function isPythonModuleName(name: string): boolean {
  return name.length <= 500 && PYTHON_NAME.test(name);
}

/**
 * The activities of the installed package `pkg`, in the Python a run would
 * use (FAULTLINE_PYTHON, VIRTUAL_ENV, python3 on PATH). Throws
 * FAULTLINE_ERR_USAGE (exit 2) naming the package when it is not installed
 * or when there is no Python.
 */
export async function discoverPythonPackage(
  pkg: string,
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<DiscoveredPackage> {
  const env = options.env ?? process.env;
  if (!isPythonModuleName(pkg)) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `package: expected a Python package name (dotted identifiers, e.g. chaosk8s), got '${pkg.slice(0, 80)}'`,
    );
  }
  const python = resolvePython(env);
  if (!python) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `package '${pkg}': discovering a Python package needs Python, and ${noPython(options.env)}`,
    );
  }
  const raw = await runInspector(python, { op: 'discover', package: pkg }, env, options.cwd).catch(
    (err: Error) => {
      throw new FaultlineError('FAULTLINE_ERR_USAGE', `package '${pkg}': ${err.message}`);
    },
  );
  const reply = ReplySchema.safeParse(raw);
  if (!reply.success) {
    throw new FaultlineError(
      'FAULTLINE_ERR_INTERNAL',
      `package '${pkg}': the Python inspector gave a reply Faultline does not understand`,
    );
  }
  const r = reply.data;
  if (!r.ok) throw new FaultlineError('FAULTLINE_ERR_USAGE', `package '${pkg}': ${r.error}`);
  if (!r.found) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `package '${pkg}' is not installed in ${python.command} (from ${python.source}); faultline discover installs nothing: install it (pip install ...) in that Python, activate its virtual environment, or set FAULTLINE_PYTHON`,
    );
  }
  if ('error' in r) throw new FaultlineError('FAULTLINE_ERR_USAGE', `package '${pkg}': ${r.error}`);
  const activities: DiscoveredActivity[] = r.activities.map((a) => ({
    type: a.type,
    module: a.mod,
    func: a.name,
    doc: a.doc.split('\n')[0] ?? '',
    provider: 'python' as const,
    arguments: a.arguments
      .filter((arg) => !SUPPLIED.has(arg.name))
      .map((arg) => ({
        name: arg.name,
        type: arg.type ?? 'any',
        required: !('default' in arg),
        ...('default' in arg ? { default: arg.default } : {}),
      })),
  }));
  activities.sort((a, b) => `${a.module}.${a.func}`.localeCompare(`${b.module}.${b.func}`));
  const extension: DiscoveredExtension = {
    package: pkg,
    name: r.extension.name,
    version: r.extension.version,
    source: r.extension.source,
    python: python.command,
    skipped: r.skipped,
  };
  return Object.assign(activities, { extension });
}
