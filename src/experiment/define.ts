import type { Experiment } from '../core/schema.js';

/**
 * Declares an experiment in TypeScript with full type checking; it returns its
 * argument unchanged. Export it as the module's default export and run the
 * file like a JSON or YAML experiment (`faultline run experiment.ts`).
 *
 * @example
 * import { defineExperiment } from 'faultline';
 *
 * export default defineExperiment({
 *   title: 'The API survives a slow database',
 *   description: 'Adds 500 ms of latency to Postgres and checks the health endpoint.',
 *   'steady-state-hypothesis': {
 *     title: 'API is healthy',
 *     probes: [
 *       { type: 'probe', name: 'health', tolerance: 200,
 *         provider: { type: 'http', url: 'http://localhost:8080/health' } },
 *     ],
 *   },
 *   method: [],
 * });
 */
export function defineExperiment<T extends Experiment>(experiment: T): T {
  return experiment;
}
