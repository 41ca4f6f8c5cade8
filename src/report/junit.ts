/**
 * `junit`: JUnit XML as Ant writes it (the schema Jenkins, GitLab, GitHub
 * test-report actions and most CI systems ingest). One <testsuite> per run;
 * each steady-state probe (per phase), method and rollback activity, fault,
 * safeguard and the recovery check is a <testcase>. A tolerance not met, a
 * safeguard trip, an unreverted fault or no recovery is a <failure>; an
 * activity that raised is an <error>. Only what the strict Ant schema allows
 * is written (no <skipped>, no attributes on <testsuites>), so any consumer
 * reads it.
 */
import type { ActivityRun, Journal } from '../core/journal.js';
import { escapeXml as attr, escapeXmlText as text } from './escape.js';
import {
  duringText,
  errorOf,
  formatTolerance,
  formatValue,
  hypothesisRows,
  methodChecks,
  parseTime,
  recoveryOf,
  recoveryText,
  safeguardNames,
  safeguardOf,
  verdictOf,
} from './model.js';
import type { Reporter } from './types.js';

interface Case {
  classname: string;
  name: string;
  time: number;
  failure?: { type: string; message: string; detail: string };
  error?: { type: string; message: string; detail: string };
}

const seconds = (n: number | undefined) =>
  Number.isFinite(n) && (n as number) > 0 ? (n as number).toFixed(3) : '0';

/** Ant's timestamp: ISO-8601 to the second, no zone (UTC here). */
function antTimestamp(iso: string): string {
  const t = parseTime(iso);
  return (t === undefined ? new Date(0) : new Date(t)).toISOString().slice(0, 19);
}

/** xs:token attributes cannot be empty where the schema says minLength 1. */
const nonEmpty = (s: string, fallback: string) => (s.trim() === '' ? fallback : s);

function activityCase(classname: string, r: ActivityRun): Case {
  const c: Case = { classname, name: nonEmpty(r.activity.name, '(unnamed)'), time: r.duration };
  if (r.status === 'failed') {
    const message = errorOf(r) ?? 'the activity failed';
    c.error = { type: 'ActivityFailed', message, detail: (r.exception ?? [message]).join('') };
  }
  return c;
}

function casesOf(j: Journal): Case[] {
  const cases: Case[] = [];
  for (const row of hypothesisRows(j)) {
    const tol = formatTolerance(row.tolerance);
    for (const [phase, check] of [
      ['before', row.before],
      ['after', row.after],
    ] as const) {
      if (!check) continue;
      const c: Case = { classname: `hypothesis.${phase}`, name: row.probe, time: check.duration ?? 0 };
      if (check.status === 'failed') {
        const message = check.error ?? 'the probe failed';
        c.error = { type: 'ProbeFailed', message, detail: message };
      } else if (check.met === false) {
        const message = `value ${formatValue(check.value, 200)} does not meet tolerance ${tol}`;
        c.failure = { type: 'ToleranceNotMet', message, detail: message };
      }
      cases.push(c);
    }
    // Every check of the method, as the verdict counts them; the message says which were made under a fault.
    const checks = methodChecks(row);
    if (checks.length > 0) {
      const c: Case = {
        classname: 'hypothesis.during',
        name: row.probe,
        time: checks.reduce((a, x) => a + (x.duration ?? 0), 0),
      };
      const bad = checks.filter((x) => x.met !== true);
      if (bad.length > 0) {
        const message = `${duringText(j, row)} (tolerance ${tol})`;
        const detail = checks
          .map(
            (x, i) =>
              `check ${i + 1}${row.during.includes(x) ? ' (fault active)' : ''}: ${x.error ? `error: ${x.error}` : formatValue(x.value, 200)} ${x.met === true ? 'met' : 'NOT met'}`,
          )
          .join('\n');
        c.failure = { type: 'ToleranceNotMet', message, detail };
      }
      cases.push(c);
    }
  }
  for (const r of j.run) cases.push(activityCase('method', r));
  for (const r of j.rollbacks) cases.push(activityCase('rollbacks', r));
  const unreverted = new Set(j.faultline.unreverted.map((f) => f.id));
  for (const f of j.faultline.faults) {
    const from = parseTime(f.injected_at);
    const to = parseTime(f.reverted_at);
    const c: Case = {
      classname: 'faults',
      name: `${f.kind} ${f.target}`,
      time: from !== undefined && to !== undefined ? (to - from) / 1000 : 0,
    };
    if (unreverted.has(f.id) || f.error || (f.verified === false && !f.irreversible)) {
      const message = f.error ?? (f.reverted_at ? 'the revert could not be verified' : 'not reverted');
      c.failure = { type: 'FaultNotReverted', message, detail: `${message}\nid: ${f.id}` };
    }
    cases.push(c);
  }
  const trip = safeguardOf(j);
  for (const name of safeguardNames(j)) {
    const c: Case = { classname: 'safeguards', name, time: 0 };
    if (trip?.name === name) {
      const message =
        trip.reason ??
        `value ${formatValue(trip.value, 200)} breached tolerance ${formatTolerance(trip.tolerance)}`;
      c.failure = {
        type: 'SafeguardTripped',
        message,
        detail: `${message}\nbreached at ${trip.breached_at}`,
      };
    }
    cases.push(c);
  }
  const rec = recoveryOf(j);
  if (rec) {
    const { state, text: sentence } = recoveryText(rec);
    // Ant's schema has no <skipped>: a recovery not measured says so in its name, and passes.
    const name = state === 'skipped' ? `time to recover (${sentence.replace(/\.$/, '')})` : 'time to recover';
    const c: Case = { classname: 'recovery', name, time: rec.mttr ?? 0 };
    if (state === 'not-recovered') {
      const message = `did not recover within ${rec.deadline} s of the faults being reverted`;
      c.failure = { type: 'NotRecovered', message, detail: sentence };
      c.time = rec.deadline;
    }
    cases.push(c);
  }
  return cases;
}

function renderCase(c: Case): string {
  const open = `    <testcase name="${attr(c.name)}" classname="${attr(c.classname)}" time="${seconds(c.time)}"`;
  const problem = c.failure ? ['failure', c.failure] : c.error ? ['error', c.error] : undefined;
  if (!problem) return `${open}/>`;
  const [tag, p] = problem as ['failure' | 'error', NonNullable<Case['failure']>];
  return `${open}>\n      <${tag} message="${attr(p.message)}" type="${attr(p.type)}">${text(p.detail)}</${tag}>\n    </testcase>`;
}

function renderSuite(j: Journal, id: number): string {
  const cases = casesOf(j);
  const v = verdictOf(j);
  const fl = j.faultline;
  const props: [string, string][] = [
    ['run_id', fl.run_id],
    ['status', j.status],
    ['deviated', String(j.deviated)],
    ['verdict', v.kind],
    ['exit_code', String(v.exitCode)],
    ['faultline_version', fl.version],
    ['node', j.node],
    ['platform', j.platform],
    ['hypothesis_strategy', fl.strategies?.hypothesis ?? ''],
    ['rollback_strategy', fl.strategies?.rollbacks ?? ''],
  ];
  const out = [
    `  <testsuite name="${attr(nonEmpty(j.experiment.title, 'experiment'))}" package="faultline" id="${id}"` +
      ` timestamp="${antTimestamp(j.start)}" hostname="${attr(nonEmpty(fl.host || '', 'localhost'))}"` +
      ` tests="${cases.length}" failures="${cases.filter((c) => c.failure).length}"` +
      ` errors="${cases.filter((c) => c.error && !c.failure).length}" time="${seconds(j.duration)}">`,
    '    <properties>',
    ...props
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => `      <property name="${name}" value="${attr(String(value))}"/>`),
    '    </properties>',
    ...cases.map(renderCase),
    `    <system-out>${text([`verdict: ${v.label} (exit code ${v.exitCode})`, ...v.reasons, ...v.warnings].join('\n'))}</system-out>`,
    '    <system-err></system-err>',
    '  </testsuite>',
  ];
  return out.join('\n');
}

export const junitReporter: Reporter = {
  name: 'junit',
  extensions: ['.xml'],
  description: 'JUnit XML for CI test reports: probes, activities, faults and safeguards as test cases',
  render(journals) {
    return [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<testsuites>',
      ...journals.map((j, i) => renderSuite(j, i)),
      '</testsuites>',
      '',
    ].join('\n');
  },
};
