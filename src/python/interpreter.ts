/**
 * Which Python runs a run's Python activities: `FAULTLINE_PYTHON` if set, else
 * the active virtual environment's (`VIRTUAL_ENV`), else `python3` on `PATH`,
 * the order a Chaos Toolkit user expects (their extensions are installed in
 * the environment they activated). Found without running anything.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PythonInterpreter {
  /** Absolute path of the interpreter. */
  command: string;
  /** Where it came from, for messages. */
  source: 'FAULTLINE_PYTHON' | 'VIRTUAL_ENV' | 'PATH';
}

/** What to do when no Python is found, for messages that name the activity. */
export const INSTALL_PYTHON =
  'install Python 3 (Debian: apt-get install python3), activate a virtual environment, or set FAULTLINE_PYTHON to an interpreter';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The interpreter, or undefined when there is none (the caller names the
 * activity that needs it and says what to install: INSTALL_PYTHON).
 */
export function resolvePython(env: NodeJS.ProcessEnv = process.env): PythonInterpreter | undefined {
  const forced = env.FAULTLINE_PYTHON;
  if (forced) {
    const command = isAbsolute(forced) || forced.includes('/') ? resolve(forced) : onPath(forced, env);
    return command && executable(command) ? { command, source: 'FAULTLINE_PYTHON' } : undefined;
  }
  const venv = env.VIRTUAL_ENV;
  if (venv) {
    for (const name of ['python3', 'python']) {
      const command = join(venv, 'bin', name);
      if (executable(command)) return { command, source: 'VIRTUAL_ENV' };
    }
  }
  const command = onPath('python3', env);
  return command ? { command, source: 'PATH' } : undefined;
}

/**
 * Why no interpreter was found, and what to do, for a message that names what
 * needs it: `activity 'x' needs Python, and <noPython(env)>`.
 */
export function noPython(env: NodeJS.ProcessEnv = process.env): string {
  const forced = env.FAULTLINE_PYTHON;
  if (forced)
    return `FAULTLINE_PYTHON (${forced}) is not an executable file: point it at a Python 3 interpreter`;
  return `none was found: ${INSTALL_PYTHON}`;
}

/**
 * The directory of Faultline's own Python files (the worker, the inspector and
 * the chaoslib shim): `python/` at the package root, two levels above both
 * src/python/ and dist/python/.
 */
export const PYTHON_DIR = fileURLToPath(new URL('../../python/', import.meta.url));
