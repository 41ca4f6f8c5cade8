#!/usr/bin/env node
// Thin launcher. Two commands are answered before the CLI loads (a few ms instead of ~150):
//  - `--version`, for a fast cold start;
//  - `halt` raises the halt flag first, so running experiments stop at once, then
//    reverts every fault with only the modules that needs (the whole CLI for
//    anything but `halt [--reason R]`).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.version}\n`);
} else {
  const halting = args[0] === 'halt' && !args.some((a) => a === '--release' || a === '--help' || a === '-h');
  if (halting) {
    const { faultlineHome, writeHaltFile } = await import('../dist/faults/home.js');
    // The full command rewrites it with the reason; failures are reported there.
    await writeHaltFile(faultlineHome(), {
      since: new Date().toISOString(),
      pid: process.pid,
      host: hostname(),
    }).catch(() => {});
  }
  // `halt` or `halt --reason R`: revert everything without loading the whole CLI (every ms counts).
  const reason = args.length === 3 && args[1] === '--reason' ? args[2] : undefined;
  if (halting && (args.length === 1 || reason !== undefined)) {
    const [{ haltCommand }, { createOutput }] = await Promise.all([
      import('../dist/cli/faults.js'),
      import('../dist/cli/output.js'),
    ]);
    process.exitCode = await haltCommand({ reason }, createOutput());
  } else {
    const { main } = await import('../dist/cli/main.js');
    process.exitCode = await main(process.argv);
  }
}
