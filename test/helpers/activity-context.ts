/** A minimal ActivityContext for running providers directly in tests. */
import type { ActivityContext, LogLevel } from '../../src/engine/context.js';
import { RunScopeImpl } from '../../src/engine/run-scope.js';

export interface TestActivityContext extends ActivityContext {
  logs: { level: LogLevel; message: string }[];
}

export function activityContext(overrides: Partial<ActivityContext> = {}): TestActivityContext {
  const logs: TestActivityContext['logs'] = [];
  return {
    configuration: {},
    secrets: {},
    signal: new AbortController().signal,
    baseDir: process.cwd(),
    runId: 'test-run',
    // Providers never touch faults; built-in activities that do get a real session in their own tests.
    faults: undefined as unknown as ActivityContext['faults'],
    log: (level, message) => logs.push({ level, message }),
    // A real scope: a test that opens a per-run value (the Python worker) closes it with closeScope().
    scope: new RunScopeImpl('test-run', process.env, undefined, (level, message) =>
      logs.push({ level, message }),
    ),
    logs,
    ...overrides,
  };
}
