/**
 * What the schedules' tests share (server-schedules*.test.ts, e2e/dashboard-schedules.test.ts): a quick
 * experiment for schedules to fire, and a firing as the API returns it.
 */

/** An experiment that does nothing much (a process probe): quick runs. */
export function quickExperiment(title = 'quick'): string {
  return [
    `title: ${JSON.stringify(title)}`,
    'description: a quick run',
    'method:',
    '  - type: probe',
    '    name: node-exits-zero',
    `    provider: { type: process, path: ${JSON.stringify(process.execPath)}, arguments: ["-e", "0"] }`,
    '',
  ].join('\n');
}

/** A firing as GET /api/schedules/{name}/firings returns it. */
export interface FiringBody {
  due: string;
  at: string;
  firedAt: string;
  server: string;
  outcome: 'fired' | 'skipped' | 'missed';
  reason?: string;
  run?: string;
}
