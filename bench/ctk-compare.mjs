#!/usr/bin/env node
// Faultline against Chaos Toolkit, end to end, side by side in the same run (issue #14 item 3):
// `--version`, `validate` and `run` of a one-action experiment (`process` `true`), and `run` of
// 200 such actions. Every measurement is a real process spawn, as a user's shell would make it.
// Chaos Toolkit is used when found: env CHAOS_CMD (a command line, split on spaces), else `chaos`
// on PATH; without it only the Faultline half is measured, and the output says so.
// Rounds are interleaved (every command once per round, in turn) so that drift on a shared machine
// hits both tools alike; the figure is the median over the rounds.
// usage: node bench/ctk-compare.mjs [rounds=10] [actions=200]   (build first: npm run build)
//   env FAULTLINE_CHECKOUTS=<dir>[,<dir>...]: measure the builds in these checkouts (before and after
//   a change, say) instead of this one, each interleaved with the others and with Chaos Toolkit.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const rounds = Number(process.argv[2] ?? 10);
const actions = Number(process.argv[3] ?? 200);
// Beyond this share of Chaos Toolkit's time, Faultline misses issue #14's target.
const TARGET_RATIO = 0.6;

const checkouts = process.env.FAULTLINE_CHECKOUTS
  ? process.env.FAULTLINE_CHECKOUTS.split(',').filter(Boolean)
  : [fileURLToPath(new URL('..', import.meta.url))];
const work = mkdtempSync(join(tmpdir(), 'faultline-ctk-'));

function experiment(title, n) {
  return {
    version: '1.0.0',
    title,
    description: `${n} process action(s) running true`,
    method: Array.from({ length: n }, (_, i) => ({
      type: 'action',
      name: `true-${i}`,
      provider: { type: 'process', path: 'true' },
    })),
  };
}
const one = join(work, 'one.json');
const many = join(work, 'many.json');
writeFileSync(one, JSON.stringify(experiment('one process action', 1)));
writeFileSync(many, JSON.stringify(experiment(`${actions} process actions`, actions)));

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
const chaosCmd = process.env.CHAOS_CMD ? process.env.CHAOS_CMD.split(' ').filter(Boolean) : undefined;
const chaos = chaosCmd ?? (onPath('chaos') ? [onPath('chaos')] : undefined);

// Each tool: how to run `--version`, `validate <file>` and `run <file>` writing its journal there.
const tools = checkouts.map((dir, i) => {
  const bin = join(dir, 'bin/faultline.js');
  return {
    name: checkouts.length > 1 ? `Faultline ${i + 1}` : 'Faultline',
    where: bin,
    argv: (...args) => [process.execPath, bin, ...args],
  };
});
if (chaos) {
  tools.push({
    name: 'Chaos Toolkit',
    where: chaos.join(' '),
    ctk: true,
    // It checks PyPI for a newer version unless told not to, and logs to ./chaostoolkit.log.
    argv: (...args) => [...chaos, '--no-version-check', '--log-file', join(work, 'ctk.log'), ...args],
  });
}
const ctkIndex = tools.findIndex((t) => t.ctk);

// A home of its own: leftovers of other work on this machine are not this benchmark's to revert.
const env = { ...process.env, FAULTLINE_HOME: join(work, 'home') };
const journal = (tool, name) => join(work, `${tool}-${name}.journal.json`);
const cases = [
  { what: '--version', argv: (t) => t.argv('--version') },
  { what: 'validate one', argv: (t) => t.argv('validate', one) },
  { what: 'run one', argv: (t, i) => t.argv('run', '--journal-path', journal(i, 'one'), one), n: 1 },
  {
    what: `run many (${actions})`,
    argv: (t, i) => t.argv('run', '--journal-path', journal(i, 'many'), many),
    n: actions,
  },
];

function time(argv) {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { cwd: work, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return ms;
}

// A run that failed quietly would look fast: check that each journal says every action ran.
function checkJournal(path, expected) {
  const j = JSON.parse(readFileSync(path, 'utf8'));
  const ran = (j.run ?? []).length;
  if (j.status !== 'completed' || ran !== expected) {
    throw new Error(`${path}: journal status ${j.status}, ${ran} activities run, expected ${expected}`);
  }
}

// times[case][tool] = [ms per round]
const times = cases.map(() => tools.map(() => []));
// One round not counted: it warms the page cache for every tool (Python's .pyc files included).
for (let round = -1; round < rounds; round++) {
  cases.forEach((c, ci) => {
    tools.forEach((t, ti) => {
      const ms = time(c.argv(t, ti));
      if (round >= 0) times[ci][ti].push(ms);
    });
  });
}
tools.forEach((_, ti) => {
  checkJournal(journal(ti, 'one'), 1);
  checkJournal(journal(ti, 'many'), actions);
});

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const med = times.map((row) => row.map(median));
const flTools = tools.map((t, i) => ({ t, i })).filter(({ t }) => !t.ctk);
const fmt = (x) => `${x.toFixed(0)} ms`;

console.log(`${rounds} interleaved rounds (median), ${actions}-action experiment; node ${process.version}`);
for (const t of tools) console.log(`${t.name}: ${t.where}`);
if (!chaos) console.log('Chaos Toolkit: not found (set CHAOS_CMD or put chaos on PATH)');
console.log('');
const ratioCols = ctkIndex < 0 ? [] : flTools.map(({ t }) => `${t.name} / CTK`);
console.log(`| command | ${[...tools.map((t) => t.name), ...ratioCols].join(' | ')} |`);
console.log(`|---|${[...tools, ...ratioCols].map(() => '---').join('|')}|`);
cases.forEach((c, ci) => {
  const cells = med[ci].map(fmt);
  if (ctkIndex >= 0)
    for (const { i } of flTools) cells.push(`${(med[ci][i] / med[ci][ctkIndex]).toFixed(2)}x`);
  console.log(`| ${c.what} | ${cells.join(' | ')} |`);
});
// What one more process activity costs: the 200-action run less the one-action run, per action.
const per = tools.map((_, ti) => (med[3][ti] - med[2][ti]) / (actions - 1));
console.log('');
console.log(
  `per process activity, (run many - run one) / ${actions - 1}: ` +
    tools.map((t, ti) => `${t.name} ${per[ti].toFixed(2)} ms`).join(', '),
);
if (!chaos) console.log('Chaos Toolkit not found: only the Faultline half was measured.');
for (const { t, i } of flTools) {
  const tag = flTools.length > 1 ? `${t.name.replace(' ', '')}_` : '';
  cases.forEach((c, ci) => {
    const key = c.what
      .replace(/ \(.*\)$/, '')
      .replace(/[^a-z]+/g, '_')
      .replace(/^_+/, '');
    const ratio = ctkIndex < 0 ? undefined : med[ci][i] / med[ci][ctkIndex];
    console.log(
      `RESULT ${tag}${key}_faultline_ms=${med[ci][i].toFixed(0)}` +
        (ratio === undefined
          ? ''
          : ` ctk_ms=${med[ci][ctkIndex].toFixed(0)} ratio=${ratio.toFixed(2)} target<=${TARGET_RATIO}`),
    );
  });
}
rmSync(work, { recursive: true, force: true });
