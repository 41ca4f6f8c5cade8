/**
 * `json`: a summary document (verdict, exit code, counts, recovery, load per
 * run, pass rate over the runs) for scripts and dashboards; the journals
 * themselves stay the full record.
 */
import { escapeJsonControls } from '../core/control-chars.js';
import { hypothesisRows, recoveryOf, safeguardOf, summarize, trendOf, verdictOf } from './model.js';
import type { Reporter } from './types.js';

export const jsonReporter: Reporter = {
  name: 'json',
  extensions: ['.json'],
  description: 'a summary document: verdict, hypothesis, faults, recovery and load per run, pass rate',
  render(journals, opts) {
    const trend = trendOf(journals);
    const doc = {
      faultline_report: 1,
      generated_at: (opts.now ?? new Date()).toISOString(),
      summary: {
        runs: trend.runs.length,
        passed: trend.passed,
        pass_rate: trend.passRate,
        mean_mttr: trend.meanMttr,
      },
      runs: journals.map((j) => ({
        ...summarize(j),
        verdict_label: verdictOf(j).label,
        hypothesis: hypothesisRows(j).map((r) => ({
          probe: r.probe,
          tolerance: r.tolerance ?? null,
          before: r.before ? { value: r.before.value, met: r.before.met ?? null } : null,
          during: r.during.map((c) => ({ value: c.value, met: c.met ?? null })),
          during_no_fault_active: r.outside.map((c) => ({ value: c.value, met: c.met ?? null })),
          after: r.after ? { value: r.after.value, met: r.after.met ?? null } : null,
        })),
        faults: j.faultline.faults,
        unreverted: j.faultline.unreverted,
        safeguard: safeguardOf(j) ?? null,
        recovery: recoveryOf(j) ?? null,
      })),
    };
    // JSON.stringify leaves DEL, C1 and Unicode controls raw: escaped, so the document is safe to print.
    return `${escapeJsonControls(JSON.stringify(doc, null, 2))}\n`;
  },
};
