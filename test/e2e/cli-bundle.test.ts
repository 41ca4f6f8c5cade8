/**
 * The CLI's one-file bundle (dist/cli.cjs, scripts/build-cli-bundle.mjs) and its code cache
 * (src/cli/bundle.ts). bin/faultline.js runs the bundle by default and dist/cli/main.js with
 * FAULTLINE_BUNDLE=0; every other e2e suite goes through the bundle, this one checks that both ways
 * answer alike, including where a bundle differs from modules (import.meta, `import()` of a user's
 * module, the TypeScript loader), and that the cache is written, replaced and survives being unwritable.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadBundledMain } from '../../src/cli/bundle.js';
import { cliSuite, journalOf, ROOT, runCli } from '../helpers/cli.js';

const BUNDLE = join(ROOT, 'dist', 'cli.cjs');
const FIXTURES = join(ROOT, 'test', 'fixtures');

describe('the CLI bundle', () => {
  const suite = cliSuite('faultline-cli-bundle-');

  test('the build wrote the bundle and its code cache', () => {
    assert.ok(existsSync(BUNDLE), `${BUNDLE} (npm run build)`);
    assert.ok(statSync(`${BUNDLE}.cache`).size > 100_000, 'a code cache beside it');
  });

  // Output that names no time or run id, so both ways must print it byte for byte.
  const SAME_OUTPUT: [string, string[]][] = [
    ['validate of YAML', ['validate', join(FIXTURES, 'experiment', 'valid.yaml')]],
    ['validate of an invalid file (exit 2)', ['validate', join(FIXTURES, 'experiment', 'invalid.yaml')]],
    [
      'validate of a JavaScript module (import())',
      ['validate', '--import-modules', join(FIXTURES, 'experiment', 'experiment.mjs')],
    ],
    [
      'validate of a TypeScript module (tsx)',
      ['validate', '--import-modules', join(FIXTURES, 'experiment', 'experiment.ts')],
    ],
    ['an unknown option', ['validate', '--no-such-flag']],
    ['help', ['run', '--help']],
    ['the schema (import.meta-relative files)', ['schema']],
  ];
  for (const [name, args] of SAME_OUTPUT) {
    test(`${name}: the bundle and the modules answer alike`, async () => {
      const bundled = await runCli(args, { env: suite.env });
      const modules = await runCli(args, { env: { ...suite.env, FAULTLINE_BUNDLE: '0' } });
      assert.equal(bundled.code, modules.code, `exit code; stderr: ${bundled.stderr}`);
      assert.equal(bundled.stdout, modules.stdout);
      assert.equal(
        bundled.stderr.replace(/^\[[^\]]+\] /gm, ''),
        modules.stderr.replace(/^\[[^\]]+\] /gm, ''),
      );
    });
  }

  test('a run of the TypeScript example (tsx, imported from the bundle)', async () => {
    for (const way of ['bundle', 'modules']) {
      const journal = join(suite.work, `journal-ts-${way}.json`);
      const r = await runCli(
        ['run', join(ROOT, 'examples', 'typescript', 'experiment.ts'), '--journal-path', journal],
        {
          env: { ...suite.env, ...(way === 'modules' ? { FAULTLINE_BUNDLE: '0' } : {}) },
        },
      );
      assert.equal(r.code, 0, `${way}: ${r.stderr}`);
      assert.equal((await journalOf(journal)).status, 'completed', way);
    }
  });

  test('a run whose node provider imports a module of the user’s (import() from the bundle)', async () => {
    const experiment = join(suite.work, 'node-provider.json');
    writeFileSync(
      experiment,
      JSON.stringify({
        title: 'node provider from the bundle',
        description: 'add(2, 3) from a module beside the experiment',
        method: [
          {
            type: 'probe',
            name: 'add',
            provider: {
              type: 'node',
              module: join(FIXTURES, 'providers', 'activities.mjs'),
              func: 'add',
              arguments: { a: 2, b: 3 },
            },
            tolerance: 5,
          },
        ],
      }),
    );
    for (const way of ['bundle', 'modules']) {
      const journal = join(suite.work, `journal-${way}.json`);
      const r = await runCli(['run', experiment, '--journal-path', journal], {
        env: { ...suite.env, ...(way === 'modules' ? { FAULTLINE_BUNDLE: '0' } : {}) },
        cwd: suite.work,
      });
      assert.equal(r.code, 0, `${way}: ${r.stderr}`);
      const j = await journalOf(journal);
      assert.equal(j.status, 'completed', way);
      assert.equal(j.run[0].output, 5, way);
    }
  });
});

describe('the code cache', () => {
  // A copy of the bundle with the package.json it reads its version from, so the cache beside it is
  // this test's own, and a stand-in for the module it was built from, older than the copy.
  const layout = () => {
    const dir = mkdtempSync(join(tmpdir(), 'faultline-bundle-test-'));
    mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
    copyFileSync(BUNDLE, join(dir, 'dist', 'cli.cjs'));
    copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    const entry = join(dir, 'dist', 'cli', 'main.js');
    writeFileSync(entry, '');
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(entry, hourAgo, hourAgo);
    return { dir, entry, bundle: join(dir, 'dist', 'cli.cjs'), cache: join(dir, 'dist', 'cli.cjs.cache') };
  };
  // `faultline --version` through loadBundledMain in a child of its own (the cache is written at exit).
  const version = (l: { bundle: string; entry: string }) => {
    const script = [
      `import { loadBundledMain } from ${JSON.stringify(join(ROOT, 'dist', 'cli', 'bundle.js'))};`,
      `const main = loadBundledMain(${JSON.stringify(l.bundle)}, ${JSON.stringify(l.entry)});`,
      "if (!main) { console.error('no bundle'); process.exit(3); }",
      "process.exitCode = await main([process.execPath, 'faultline', '--version']);",
    ].join('\n');
    return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  };
  const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;

  test('is written by the first run, then used as it is', () => {
    const l = layout();
    try {
      const first = version(l);
      assert.equal(first.status, 0, first.stderr);
      assert.equal(first.stdout.trim(), VERSION);
      const written = statSync(l.cache);
      assert.ok(written.size > 10_000, `a cache of ${written.size} bytes`);
      const second = version(l);
      assert.equal(second.status, 0, second.stderr);
      assert.equal(second.stdout.trim(), VERSION);
      assert.equal(statSync(l.cache).mtimeMs, written.mtimeMs, 'an accepted cache is not rewritten');
    } finally {
      rmSync(l.dir, { recursive: true, force: true });
    }
  });

  test('a cache V8 rejects is replaced', () => {
    const l = layout();
    try {
      writeFileSync(l.cache, 'not a V8 code cache');
      const r = version(l);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), VERSION);
      assert.ok(statSync(l.cache).size > 10_000, 'replaced by a real cache');
    } finally {
      rmSync(l.dir, { recursive: true, force: true });
    }
  });

  test('a cache that cannot be written leaves the command alone', () => {
    const l = layout();
    try {
      // A directory where the file should be: reading and renaming onto it both fail.
      mkdirSync(l.cache);
      const r = version(l);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), VERSION);
      assert.ok(statSync(l.cache).isDirectory(), 'left as it was');
      assert.equal(r.stderr, '');
    } finally {
      rmSync(l.dir, { recursive: true, force: true });
    }
  });

  test('a bundle older than the module it was built from is stale: the modules run', () => {
    const l = layout();
    try {
      assert.equal(version(l).status, 0, 'the fresh copy is used');
      // `tsc` ran after the bundle was built.
      const later = new Date(Date.now() + 60_000);
      utimesSync(l.entry, later, later);
      const stale = version(l);
      assert.equal(stale.status, 3, stale.stderr);
      assert.match(stale.stderr, /no bundle/);
    } finally {
      rmSync(l.dir, { recursive: true, force: true });
    }
  });

  test('FAULTLINE_BUNDLE=0 and a missing bundle fall back to the modules', () => {
    const entry = join(ROOT, 'dist', 'cli', 'main.js');
    assert.equal(loadBundledMain(join(ROOT, 'no-such-dir', 'cli.cjs'), entry), undefined);
    const saved = process.env.FAULTLINE_BUNDLE;
    process.env.FAULTLINE_BUNDLE = '0';
    try {
      assert.equal(loadBundledMain(BUNDLE, entry), undefined);
    } finally {
      if (saved === undefined) delete process.env.FAULTLINE_BUNDLE;
      else process.env.FAULTLINE_BUNDLE = saved;
    }
  });
});
