#!/usr/bin/env node
// Thin launcher. Two commands are answered before the CLI loads (a few ms instead of ~150):
//  - `--version`, for a fast cold start;
//  - `halt` raises the halt flag first, so running experiments stop at once; the
//    CLI then loads and reverts every fault.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.version}\n`);
} else {
  if (args[0] === 'halt' && !args.some((a) => a === '--release' || a === '--help' || a === '-h')) {
    const { faultlineHome, writeHaltFile } = await import('../dist/faults/home.js');
    // The full command rewrites it with the reason; failures are reported there.
    await writeHaltFile(faultlineHome(), {
      since: new Date().toISOString(),
      pid: process.pid,
      host: hostname(),
    }).catch(() => {});
  }
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv);
}
