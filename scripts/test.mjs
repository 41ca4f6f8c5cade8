#!/usr/bin/env node
// Runs every test file with node's test runner (TypeScript through tsx).
// Node 20's --test does not expand globs, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const only = process.argv.slice(2);
const files = (only.length ? only : find('test')).sort();
// The dead-man watchdog (src/faults/watchdog.ts) is off for the suite: tests that kill a runner
// assert what `recover` reports, and a watchdog reverting first would race them; each test
// runner would also pay one more process start. test/integration/watchdog.test.ts turns it on.
const env = { ...process.env, FAULTLINE_WATCHDOG: process.env.FAULTLINE_WATCHDOG ?? '0' };
// A test that hangs fails after 10 minutes instead of holding CI until its own limit (the slowest
// test, the package install, takes about 5 minutes with both cores loaded).
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    '--test-timeout=600000',
    // TAP as before, then a summary of the failures at the very end (scripts/test-failures.mjs).
    '--test-reporter=tap',
    '--test-reporter-destination=stdout',
    `--test-reporter=${new URL('./test-failures.mjs', import.meta.url).href}`,
    '--test-reporter-destination=stderr',
    ...files,
  ],
  { stdio: 'inherit', env },
);
process.exit(r.status ?? 1);
