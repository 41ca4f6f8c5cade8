#!/usr/bin/env node
// Faultline against Chaos Toolkit, end to end, side by side in the same run (issue #14 item 3):
// `--version`, `validate` and `run` of a one-action experiment (`process` `true`), and `run` of
// 200 such actions. Every measurement is a real process spawn, as a user's shell would make it.
// Chaos Toolkit is used when found: env CHAOS_CMD (a command line, split on spaces), else `chaos`
// on PATH; without it only the Faultline half is measured, and the output says so.
// Rounds are interleaved (every command once per round, in turn) so that drift on a shared machine
// hits both tools alike; the figure is the median over the rounds.
// usage: node bench/ctk-compare.mjs [rounds=10] [actions=200]   (build first: npm run build)
//   env FAULTLINE_CHECKOUT=<dir>: measure the build in another checkout (a prototype) instead of this one.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const rounds = Number(process.argv[2] ?? 10);
const actions = Number(process.argv[3] ?? 200);
// Beyond this share of Chaos Toolkit's time, Faultline misses issue #14's target.
const TARGET_RATIO = 0.6;

const bin = process.env.FAULTLINE_CHECKOUT
  ? join(process.env.FAULTLINE_CHECKOUT, 'bin/faultline.js')
  : fileURLToPath(new URL('../bin/faultline.js', import.meta.url));
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

// A home of its own: leftovers of other work on this machine are not this benchmark's to revert.
const env = { ...process.env, FAULTLINE_HOME: join(work, 'home') };
const fl = (...args) => [process.execPath, bin, ...args];
// Chaos Toolkit checks PyPI for a newer version unless told not to, and logs to ./chaostoolkit.log.
const ctk = (...args) => [...chaos, '--no-version-check', '--log-file', join(work, 'ctk.log'), ...args];

const journal = (name) => join(work, `${name}.journal.json`);
const cases = [
  { what: '--version', fl: fl('--version'), ctk: chaos && ctk('--version') },
  { what: 'validate one', fl: fl('validate', one), ctk: chaos && ctk('validate', one) },
  {
    what: 'run one',
    fl: fl('run', '--journal-path', journal('fl-one'), one),
    ctk: chaos && ctk('run', '--journal-path', journal('ctk-one'), one),
    journals: ['fl-one', 'ctk-one'],
  },
  {
    what: `run many (${actions})`,
    fl: fl('run', '--journal-path', journal('fl-many'), many),
    ctk: chaos && ctk('run', '--journal-path', journal('ctk-many'), many),
    journals: ['fl-many', 'ctk-many'],
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
function checkJournal(name, expected) {
  const j = JSON.parse(readFileSync(journal(name), 'utf8'));
  const ran = (j.run ?? []).length;
  if (j.status !== 'completed' || ran !== expected) {
    throw new Error(`${name}: journal status ${j.status}, ${ran} activities run, expected ${expected}`);
  }
}

const times = new Map(cases.map((c) => [c.what, { fl: [], ctk: [] }]));
// One round not counted: it warms the page cache for both tools (Python's .pyc files included).
for (let round = -1; round < rounds; round++) {
  for (const c of cases) {
    const a = time(c.fl);
    const b = c.ctk ? time(c.ctk) : undefined;
    if (round >= 0) {
      times.get(c.what).fl.push(a);
      if (b !== undefined) times.get(c.what).ctk.push(b);
    }
  }
}
for (const [name, n] of [
  ['fl-one', 1],
  ['fl-many', actions],
  ...(chaos
    ? [
        ['ctk-one', 1],
        ['ctk-many', actions],
      ]
    : []),
]) {
  checkJournal(name, n);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x) => `${x.toFixed(0)} ms`;
console.log(`${rounds} interleaved rounds (median), ${actions}-action experiment; node ${process.version}`);
console.log(`Faultline: ${bin}`);
console.log(`Chaos Toolkit: ${chaos ? chaos.join(' ') : 'not found (set CHAOS_CMD or put chaos on PATH)'}`);
console.log('');
console.log('| command | Faultline | Chaos Toolkit | Faultline / CTK |');
console.log('|---|---|---|---|');
const results = [];
for (const c of cases) {
  const t = times.get(c.what);
  const a = median(t.fl);
  const b = t.ctk.length ? median(t.ctk) : undefined;
  const ratio = b === undefined ? undefined : a / b;
  results.push({ what: c.what, a, b, ratio });
  console.log(
    `| ${c.what} | ${ms(a)} | ${b === undefined ? '-' : ms(b)} | ${ratio === undefined ? '-' : `${ratio.toFixed(2)}x`} |`,
  );
}
const perActivity = (key) => {
  const oneRun = results.find((r) => r.what === 'run one')[key];
  const manyRun = results.find((r) => r.what.startsWith('run many'))[key];
  return oneRun === undefined ? undefined : (manyRun - oneRun) / (actions - 1);
};
const flPer = perActivity('a');
const ctkPer = perActivity('b');
console.log('');
console.log(
  `per process activity (run many - run one) / ${actions - 1}: Faultline ${flPer.toFixed(2)} ms` +
    (ctkPer === undefined ? '' : `, Chaos Toolkit ${ctkPer.toFixed(2)} ms`),
);
if (!chaos) console.log('Chaos Toolkit not found: only the Faultline half was measured.');
for (const r of results) {
  const key = r.what
    .replace(/ \(.*\)$/, '')
    .replace(/[^a-z]+/g, '_')
    .replace(/^_+/, '');
  console.log(
    `RESULT ${key}_faultline_ms=${r.a.toFixed(0)}` +
      (r.ratio === undefined
        ? ''
        : ` ctk_ms=${r.b.toFixed(0)} ratio=${r.ratio.toFixed(2)} target<=${TARGET_RATIO}`),
  );
}
rmSync(work, { recursive: true, force: true });
