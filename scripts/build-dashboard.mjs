#!/usr/bin/env node
// Builds the dashboard of `faultline serve` (dashboard/) into dist/dashboard/: type-checks it, bundles it
// with esbuild (Preact, JSX, one JS and one CSS file named by their content hash, so the server can let
// browsers cache them for good) and writes index.html pointing at them. The package ships the result:
// nothing is fetched at run time. Prints each file's size, raw and gzipped.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'dashboard');
const OUT = join(ROOT, 'dist', 'dashboard');
const ASSETS = join(OUT, 'assets');

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const check = spawnSync(process.execPath, [tsc, '-p', join(SRC, 'tsconfig.json')], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (check.status !== 0) {
  process.stderr.write('build-dashboard: the dashboard does not type-check\n');
  process.exit(1);
}

// Built anew every time: a hashed file from an earlier build would otherwise ship unreferenced.
rmSync(OUT, { recursive: true, force: true });
mkdirSync(ASSETS, { recursive: true });

const result = await build({
  entryPoints: [join(SRC, 'src', 'main.tsx')],
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  outdir: ASSETS,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => join(ROOT, p));
const script = outputs.find((p) => p.endsWith('.js'));
const style = outputs.find((p) => p.endsWith('.css'));
if (!script || !style) {
  process.stderr.write(`build-dashboard: expected one .js and one .css output, got ${outputs.join(', ')}\n`);
  process.exit(1);
}

// The icon is named by its content too, like the bundle.
const iconSource = readFileSync(join(SRC, 'favicon.svg'));
const iconName = `favicon-${createHash('sha256').update(iconSource).digest('hex').slice(0, 8)}.svg`;
copyFileSync(join(SRC, 'favicon.svg'), join(ASSETS, iconName));

const html = readFileSync(join(SRC, 'index.html'), 'utf8')
  .replace('%SCRIPT%', `/assets/${basename(script)}`)
  .replace('%STYLE%', `/assets/${basename(style)}`)
  .replace('%ICON%', `/assets/${iconName}`);
if (/%[A-Z]+%/.test(html)) {
  process.stderr.write('build-dashboard: dashboard/index.html has a placeholder this script does not fill\n');
  process.exit(1);
}
writeFileSync(join(OUT, 'index.html'), html);

let raw = 0;
let gzipped = 0;
for (const file of [join(OUT, 'index.html'), script, style, join(ASSETS, iconName)]) {
  const bytes = statSync(file).size;
  const gz = gzipSync(readFileSync(file), { level: 9 }).length;
  raw += bytes;
  gzipped += gz;
  process.stdout.write(`  ${relative(ROOT, file).padEnd(48)} ${String(bytes).padStart(7)} B  gzip ${gz} B\n`);
}
process.stdout.write(`dashboard: ${raw} B, ${gzipped} B gzipped\n`);
