/**
 * Where a child process's entry script is: the built .js beside the caller,
 * or the .ts source run through tsx. Shared by the watchdog and the stress
 * workers, so the watchdog (machinery) does not import a fault kind's module.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaultlineError } from '../core/errors.js';

export interface WorkerEntry {
  /** worker.js (built) or worker.ts (source). */
  script: string;
  /** A loader for `--import` when the script is TypeScript (tsx). */
  loader?: string;
}

/** `<base>.js` beside the module at `moduleUrl` (dist/), else `<base>.ts` under tsx (running from src/). */
export function entryBeside(moduleUrl: string, base: string): WorkerEntry {
  const here = dirname(fileURLToPath(moduleUrl));
  const js = join(here, `${base}.js`);
  if (existsSync(js)) return { script: js };
  const ts = join(here, `${base}.ts`);
  if (existsSync(ts)) return { script: ts, loader: import.meta.resolve('tsx') };
  throw new FaultlineError('FAULTLINE_ERR_INTERNAL', `${base} is missing beside ${here}`);
}
