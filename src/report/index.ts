/**
 * Reports from run journals: one reporter per format, registered here.
 *
 * @example
 *   const html = renderReport('html', [journal]);
 */

import type { Journal } from '../core/journal.js';
import { Registry } from '../core/registry.js';
import { htmlReporter } from './html.js';
import { jsonReporter } from './json.js';
import { junitReporter } from './junit.js';
import { markdownReporter } from './markdown.js';
import { parseTime } from './model.js';
import type { Reporter, ReportOptions } from './types.js';

export { parseJournal } from './journal.js';
export { verdictOf } from './model.js';
export type { Reporter, ReportOptions } from './types.js';

export const reporters = new Registry<Reporter>('report format');
for (const r of [htmlReporter, markdownReporter, junitReporter, jsonReporter]) reporters.register(r.name, r);

/** The format a file name asks for (`report.html` -> html), if any. */
export function formatForPath(path: string): string | undefined {
  const lower = path.toLowerCase();
  for (const [name, r] of reporters.entries()) if (r.extensions.some((e) => lower.endsWith(e))) return name;
  return undefined;
}

/** Renders journals (sorted oldest first) in a registered format; throws on an unknown one. */
export function renderReport(format: string, journals: readonly Journal[], opts: ReportOptions = {}): string {
  const reporter = reporters.get(format);
  if (!reporter)
    throw new Error(`unknown report format '${format}' (expected ${reporters.names().join(', ')})`);
  const sorted = [...journals].sort((a, b) => (parseTime(a.start) ?? 0) - (parseTime(b.start) ?? 0));
  return reporter.render(sorted, opts);
}
