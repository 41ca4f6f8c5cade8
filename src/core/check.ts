/**
 * What a provider's validation check can know: a pure shape shared by the
 * engine's provider and control interfaces and by validation.
 */
import type { Issue } from './errors.js';
import type { Targets } from './fleet.js';

/** What validation can know about where an experiment lives. */
export interface CheckContext {
  baseDir: string;
  /**
   * Import code (node modules) to check it, e.g. that an export exists. Off by
   * default: validation must execute nothing (`faultline validate --import-modules` turns it on).
   */
  importModules?: boolean;
  /** What was not checked and why (a module not imported); neither an issue nor a warning. */
  note?(issue: Issue): void;
  /** The activity's name, for messages that name it as Chaos Toolkit's do. */
  activity?: string;
  /** The environment the run will have (which Python, PYTHONPATH); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The activity's `targets:` (a fault aimed at the fleet's workloads leaves out what they fill). */
  targets?: Targets;
}
