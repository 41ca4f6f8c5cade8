#!/usr/bin/env node
// Thin launcher. Two commands are answered before the CLI loads (a few ms instead of ~150):
//  - `--version`, for a fast cold start;
//  - `halt` raises the halt flag first, so running experiments stop at once, then
//    reverts every fault with only the modules that needs (the whole CLI for
//    anything but `halt [--reason R]` with any of the global options: src/cli/fast-halt.ts).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.version}\n`);
} else {
  const { parseFastHalt } = await import('../dist/cli/fast-halt.js');
  const fast = parseFastHalt(args);
  if (fast) {
    const { faultlineHome, writeHaltFile } = await import('../dist/faults/home.js');
    // The command rewrites it with the reason; a home that cannot be written is reported there.
    await writeHaltFile(faultlineHome(), {
      since: new Date().toISOString(),
      pid: process.pid,
      host: hostname(),
    }).catch(() => {});
    // Revert everything without loading the whole CLI (every ms counts).
    const [{ haltCommand }, { createOutput }] = await Promise.all([
      import('../dist/cli/faults.js'),
      import('../dist/cli/output.js'),
    ]);
    const out = createOutput(fast.output);
    try {
      process.exitCode = await haltCommand({ reason: fast.reason }, out);
    } catch (err) {
      // haltAll reports what it cannot do; this is only for the unforeseen, still one line.
      out.error(`halt: ${err?.message ?? String(err)}`);
      process.exitCode = 1;
    }
  } else {
    // The CLI from its one-file bundle with compiled code cached (src/cli/bundle.ts), else module by module.
    const { loadBundledMain } = await import('../dist/cli/bundle.js');
    const entry = new URL('../dist/cli/main.js', import.meta.url);
    const main =
      loadBundledMain(fileURLToPath(new URL('../dist/cli.cjs', import.meta.url)), fileURLToPath(entry)) ??
      (await import(entry.href)).main;
    process.exitCode = await main(process.argv);
  }
}
