#!/usr/bin/env node
// Writes docs/catalog.md from the built-in activities' schemas (the ones
// `faultline discover` lists), through the built package: run `npm run build`
// first. `--check` writes nothing and exits 1, naming the sections, when
// docs/catalog.md is out of date.
//
//   npm run build && node scripts/gen-catalog.mjs [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { diffSections, renderCatalog } from './catalog-render.mjs';

const target = fileURLToPath(new URL('../docs/catalog.md', import.meta.url));
let discover;
let faults;
let groups;
try {
  [discover, faults, groups] = await Promise.all([
    import('../dist/cli/discover.js'),
    import('../dist/faults/index.js'),
    import('../dist/faults/groups.js'),
  ]);
  await (await import('../dist/compose.js')).loadBuiltinActivities();
} catch (err) {
  process.stderr.write(`gen-catalog: cannot load dist/ (run \`npm run build\` first): ${err.message}\n`);
  process.exit(2);
}
const text = renderCatalog(discover.discoverActivities(), {
  exposed: [...(await faults.exposedFaults()).keys()],
  groups: groups.FAULT_GROUPS,
});

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current === text) {
    process.stdout.write('docs/catalog.md is up to date\n');
  } else {
    process.stderr.write(
      `docs/catalog.md is out of date; run \`npm run build && node scripts/gen-catalog.mjs\`. Sections:\n${diffSections(
        text,
        current,
      )
        .map((s) => `  ${s}\n`)
        .join('')}`,
    );
    process.exitCode = 1;
  }
} else {
  writeFileSync(target, text);
  process.stdout.write(`wrote docs/catalog.md (${text.split('\n').length} lines)\n`);
}
