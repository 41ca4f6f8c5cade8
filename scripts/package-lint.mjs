#!/usr/bin/env node
// Lints the package as it would be published, after `npm run build` (npm test runs it there):
// packs it once, then publint (package.json fields against the packed files) and
// arethetypeswrong (how TypeScript resolves each `exports` subpath) on that one tarball,
// and refuses build output whose source is gone (dist/ is packed whole, never cleaned by tsc).
// Any message fails: a finding that is right to ignore belongs in the lists below, with why.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

// attw's esm-only profile: faultline is an ES module package ("type": "module", no CommonJS build).
// It leaves out node10 resolution (predates `exports`, so no subpath can resolve) and node16's
// CommonJS mode (TypeScript there cannot type a require() of an ES module; Node 20.19+ runs one,
// which test/e2e/package-install.test.ts checks).
const ATTW_PROFILE = 'esm-only';
// publint messages accepted on purpose, by code (none so far).
const PUBLINT_ACCEPTED = new Set([]);

function fail(message) {
  process.stderr.write(`package-lint: ${message}\n`);
  process.exit(1);
}

function staleOutput() {
  const stale = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      // The dashboard's bundle is built from dashboard/ (not src/) and its build clears the folder itself.
      if (entry.isDirectory()) {
        if (path !== join(ROOT, 'dist', 'dashboard')) walk(path);
      } else if (entry.name.endsWith('.js')) {
        const source = join(ROOT, 'src', relative(join(ROOT, 'dist'), path)).replace(/\.js$/, '.ts');
        if (!existsSync(source)) stale.push(relative(ROOT, path));
      }
    }
  };
  walk(join(ROOT, 'dist'));
  return stale;
}

if (!existsSync(join(ROOT, 'dist', 'index.js'))) fail('dist/index.js is missing: run `npm run build` first');
const stale = staleOutput();
if (stale.length) {
  fail(
    `dist/ holds output whose source is gone (it would be published): ${stale.join(', ')}; rm -rf dist && npm run build`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'faultline-pack-'));
try {
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (pack.status !== 0) fail(`npm pack failed (exit ${pack.status}):\n${pack.stderr}`);
  const tarball = join(dir, JSON.parse(pack.stdout)[0].filename);

  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const bytes = readFileSync(tarball);
  const { messages } = await publint({
    pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) },
    level: 'suggestion',
    strict: true,
  });
  const found = messages.filter((m) => !PUBLINT_ACCEPTED.has(m.code));
  for (const m of found) process.stderr.write(`publint ${m.type} ${m.code}: ${formatMessage(m, pkg)}\n`);
  process.stdout.write(`publint: ${found.length ? `${found.length} message(s)` : 'no messages'}\n`);

  const attw = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js'), tarball, '--profile', ATTW_PROFILE],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } },
  );
  if (attw.status !== 0) process.stderr.write(`${attw.stdout}${attw.stderr}`);
  process.stdout.write(
    `attw (--profile ${ATTW_PROFILE}): ${attw.status === 0 ? 'no problems' : 'problems above'}\n`,
  );

  if (found.length || attw.status !== 0) process.exit(1);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
