/**
 * Run resources: things an experiment declares that Faultline starts for the
 * duration of a run and stops after every fault is reverted (in-process
 * proxies, the load generator). Each resource owns one top-level key
 * of the experiment and may contribute configuration values (for example
 * the address a proxy listens on), which activities then use through `${name}`.
 */
import type { Configuration, Experiment } from './schema.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface StartedResource {
  /** Values merged into the configuration before any activity runs. */
  configuration?: Configuration;
  stop(): Promise<void>;
  /**
   * What the resource measured, for the journal (`faultline[key]`), read after
   * stop() (the load generator's totals, percentiles and per-second series).
   */
  journal?(): unknown;
}

export interface RunResource {
  /** The experiment's top-level key this resource reads (e.g. `proxies`). */
  key: string;
  /** Starts the resource; returns undefined when the experiment does not declare it. */
  start(
    declaration: unknown,
    ctx: {
      experiment: Experiment;
      configuration: Configuration;
      log(level: LogLevel, message: string): void;
    },
  ): Promise<StartedResource>;
}
