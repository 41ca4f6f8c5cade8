/**
 * The package installs and imports the way the README says: the built package
 * is packed, the tarball installed (with its dependencies, from the registry
 * or npm's cache) into a fresh directory outside the repository, and used from
 * there as a user would: an ES module project that runs every subpath, a
 * CommonJS project, and TypeScript projects (moduleResolution node16 and
 * bundler) that compile and run every `import ... from 'faultline...'` line of
 * README.md and docs/. One pack and one install serve every case. Needs
 * `npm run build` first (as `npm test` does); skipped, saying why, only when
 * the install fails because the npm registry cannot be reached.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const SUBPATHS = ['faultline', 'faultline/sdk', 'faultline/proxy', 'faultline/load'];
// Bounds for a loaded machine and a cold npm cache, not expectations of speed. The install compiles
// better-sqlite3 from source (its prebuilt binaries are not reachable here): 170 s on an idle 2-core
// machine, and with stress-ng --cpu 2 it once ran past 300 s.
const INSTALL_TIMEOUT_MS = 600_000;
const STEP_TIMEOUT_MS = 120_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env: { ...process.env, ...env }, timeout: STEP_TIMEOUT_MS, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr: err && code === null ? `${stderr}\n${err.message}` : stderr });
      },
    );
  });
}

const node = (args: string[], cwd: string, env?: NodeJS.ProcessEnv) => run(process.execPath, args, cwd, env);
const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** Every `import ... from 'faultline[/sub]'` statement in the fenced code of README.md and docs/*.md. */
function documentedImports(): { where: string; statement: string }[] {
  const files = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const found = new Map<string, string>();
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const block of text.matchAll(/^```(?:ts|typescript|js|javascript|mjs)\n([\s\S]*?)^```/gm)) {
      for (const m of block[1]!.matchAll(/^import\s[^;]*?\sfrom\s+'(faultline(?:\/[\w-]+)?)';/gm)) {
        if (!found.has(m[0]))
          found.set(m[0], `${file}:${text.slice(0, block.index! + m.index!).split('\n').length + 1}`);
      }
    }
  }
  return [...found].map(([statement, where]) => ({ statement, where }));
}

let work = '';
let home = '';
let skipReason: string | false = false;

before(
  async () => {
    assert.ok(existsSync(join(ROOT, 'dist/index.js')), 'dist/ is missing: run `npm run build` first');
    work = await mkdtemp(join(tmpdir(), 'faultline-install-'));
    home = join(work, 'home');
    await mkdir(home, { mode: 0o700 });
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT);
    assert.equal(pack.code, 0, `npm pack: ${show(pack)}`);
    const tarball = join(work, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);
    const project = join(work, 'project');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'install-check', private: true }));
    const install = await new Promise<Run>((resolve) => {
      execFile(
        'npm',
        ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
        { cwd: project, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 << 20 },
        (err, stdout, stderr) =>
          resolve({
            code: err ? 1 : 0,
            stdout,
            // A timeout kills npm with nothing printed: say so rather than show an empty "exit 1".
            stderr: err?.killed ? `${stderr}(killed after ${INSTALL_TIMEOUT_MS / 1000} s)` : stderr,
          }),
      );
    });
    if (install.code !== 0) {
      const ping = await run('npm', ['ping', '--fetch-timeout=15000', '--fetch-retries=0'], project);
      if (ping.code !== 0) {
        const why =
          /FetchError: (.*)/.exec(ping.stderr)?.[1] ??
          /npm error code (.*)/.exec(ping.stderr)?.[1] ??
          `exit ${ping.code}`;
        skipReason = `the npm registry is unreachable (npm ping: ${why.trim()}), so the tarball's dependencies cannot be installed`;
        process.stdout.write(`# package-install: skipped: ${skipReason}\n`);
        return;
      }
      assert.fail(`npm install of the tarball failed with the registry reachable: ${show(install)}`);
    }
  },
  { timeout: INSTALL_TIMEOUT_MS + 2 * STEP_TIMEOUT_MS },
);

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A directory inside the installed project, so that `faultline` resolves from its node_modules. */
async function subproject(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(work, 'project', name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

const ESM_CHECK = `
import http from 'node:http';
import * as main from 'faultline';
import * as load from 'faultline/load';
import * as proxy from 'faultline/proxy';
import * as sdk from 'faultline/sdk';

const out = { names: {} };
for (const [spec, mod] of Object.entries({ faultline: main, 'faultline/sdk': sdk, 'faultline/proxy': proxy, 'faultline/load': load })) {
  out.names[spec] = Object.keys(mod).sort();
}

// The engine: a defined experiment validated and run (two child processes), its verdict.
const exit = (code) => ({ type: 'process', path: process.execPath, arguments: ['-e', 'process.exit(' + code + ')'] });
const experiment = main.defineExperiment({
  title: 'installed', description: 'runs from an installed tarball',
  'steady-state-hypothesis': { title: 'ok', probes: [{ type: 'probe', name: 'zero', tolerance: 0, provider: exit(0) }] },
  method: [{ type: 'action', name: 'noop', provider: exit(0) }],
});
const { experiment: valid } = await main.assertValidExperiment(experiment, { baseDir: process.cwd() });
const events = [];
const journal = await main.runExperiment(valid, { baseDir: process.cwd(), onEvent: (e) => events.push(e.type) });
out.run = { status: journal.status, exit: main.exitCodeFor(journal), verdict: main.decideVerdict(journal).kind, ended: events.includes('run-end') };
out.faults = (await main.exposedFaults()).has('network.loss');
try {
  await main.loadExperimentSource('does-not-exist.yaml');
} catch (e) {
  out.loadError = { faultline: main.isFaultlineError(e), code: e.code };
}

// A target for the proxy and the load generator.
const target = http.createServer((req, res) => res.end('ok'));
await new Promise((r) => target.listen(0, '127.0.0.1', r));
const upstream = '127.0.0.1:' + target.address().port;

const manager = new proxy.ProxyManager();
const api = await proxy.startControlServer({ control: manager, port: 0 });
try {
  const client = new proxy.ProxyClient({ url: api.url });
  const p = await client.createProxy({ name: 'web', listen: '127.0.0.1:0', upstream });
  const res = await fetch('http://' + p.listen + '/');
  out.proxy = { status: res.status, body: await res.text() };
} finally {
  await api.close();
  await manager.close();
}

const summary = await load.runLoad({ rate: 40, durationMs: 300, requests: [{ url: 'http://' + upstream + '/' }] });
out.load = { sent: summary.sent, requests: summary.totals.requests, ok: summary.totals.status['2xx'] };
target.close();

sdk.enable();
sdk.addRule({ type: 'exception', match: { point: 'installed.*' }, message: 'injected' });
try {
  await sdk.point('installed.check');
  out.sdk = 'no fault';
} catch (e) {
  out.sdk = e instanceof sdk.InjectedFault ? e.message : 'other: ' + e;
}
sdk.clearRules();
sdk.disable();

// Only the exports map is reachable: internals are sealed.
try {
  await import('faultline/dist/engine/run.js');
  out.sealed = false;
} catch (e) {
  out.sealed = e.code;
}
console.log(JSON.stringify(out));
`;

test('an ES module project imports every subpath and runs an experiment, the proxy, the load generator and the SDK', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const dir = await subproject('esm', { 'package.json': '{"type": "module"}', 'check.js': ESM_CHECK });
  const r = await node(['check.js'], dir, { FAULTLINE_HOME: home, FAULTLINE_WATCHDOG: '0' });
  assert.equal(r.code, 0, show(r));
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  for (const spec of SUBPATHS) {
    assert.deepEqual(
      out.names[spec],
      Object.keys(await import(spec)).sort(),
      `${spec}: installed vs built names`,
    );
  }
  assert.deepEqual(out.run, { status: 'completed', exit: 0, verdict: 'passed', ended: true });
  assert.equal(out.faults, true);
  assert.deepEqual(out.loadError, { faultline: true, code: 'FAULTLINE_ERR_LOAD' });
  assert.deepEqual(out.proxy, { status: 200, body: 'ok' });
  assert.ok(out.load.sent > 0 && out.load.ok === out.load.requests, JSON.stringify(out.load));
  assert.equal(out.sdk, 'injected');
  assert.equal(out.sealed, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
});

test('the installed bin answers --version', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const r = await run(
    join(work, 'project/node_modules/.bin/faultline'),
    ['--version'],
    join(work, 'project'),
  );
  assert.equal(r.code, 0, show(r));
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.match(r.stdout, new RegExp(version.replaceAll('.', '\\.')));
});

const CJS_REQUIRE = `
const names = {};
for (const spec of ${JSON.stringify(SUBPATHS)}) names[spec] = Object.keys(require(spec)).sort();
console.log(JSON.stringify(names));
`;
const CJS_IMPORT = `
(async () => {
  const names = {};
  for (const spec of ${JSON.stringify(SUBPATHS)}) names[spec] = Object.keys(await import(spec)).sort();
  console.log(JSON.stringify(names));
})();
`;

test('a CommonJS project: require() works where Node can require an ES module, and import() everywhere', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const dir = await subproject('cjs', {
    'package.json': '{"type": "commonjs"}',
    'require.js': CJS_REQUIRE,
    'import.js': CJS_IMPORT,
  });
  const imported = await node(['import.js'], dir);
  assert.equal(imported.code, 0, show(imported));
  const expected = JSON.parse(imported.stdout) as Record<string, string[]>;
  for (const spec of SUBPATHS) assert.ok(expected[spec]!.length > 0, spec);

  // Node 20.19+ and 22.12+ require() an ES module (no top-level await in the graph, which this keeps true).
  const required = await node(['require.js'], dir);
  if (process.features.require_module) {
    assert.equal(required.code, 0, show(required));
    assert.deepEqual(JSON.parse(required.stdout), expected);
    assert.doesNotMatch(required.stderr, /Warning/, 'require() of faultline prints no warning');
  }
  // Where Node cannot (older 20.x, or turned off), its error says what to do instead.
  const refused = process.features.require_module
    ? await node(['--no-experimental-require-module', 'require.js'], dir)
    : required;
  assert.notEqual(refused.code, 0, show(refused));
  assert.match(refused.stderr, /ERR_REQUIRE_ESM/);
  assert.match(refused.stderr, /dynamic import\(\)/);
});

const USAGE_TS = `
import { type Experiment, type Journal, type RunEvent, FaultlineError, runExperiment } from 'faultline';
import { type LoadSummary, runLoad } from 'faultline/load';
import { ProxyClient, type ProxyView } from 'faultline/proxy';
import * as sdk from 'faultline/sdk';

export async function drill(experiment: Experiment): Promise<Journal> {
  const seen: string[] = [];
  const onEvent = (e: RunEvent): void => {
    if (e.type === 'activity-end') seen.push(e.run.activity.name);
  };
  return runExperiment(experiment, { onEvent, signal: AbortSignal.timeout(60_000) });
}
export const p99 = async (url: string): Promise<number> => {
  const s: LoadSummary = await runLoad({ rate: 10, durationMs: 1000, requests: [{ url }] });
  return s.latency.p99;
};
export const names = async (c: ProxyClient): Promise<string[]> => Object.values(await c.proxies()).map((p: ProxyView) => p.name);
export const code = (e: unknown): string | undefined => (e instanceof FaultlineError ? e.code : undefined);
export const guarded = sdk.wrap('checkout.charge', async (cents: number) => cents * 2);
`;

for (const resolution of ['node16', 'bundler'] as const) {
  test(`a TypeScript project (moduleResolution ${resolution}) compiles and runs every documented import line`, async (t) => {
    if (skipReason) return t.skip(skipReason);
    const imports = documentedImports();
    assert.ok(
      imports.some((i) => i.where.startsWith('README.md')),
      'README.md has an import line to check',
    );
    for (const spec of SUBPATHS) {
      assert.ok(
        imports.some((i) => i.statement.endsWith(`'${spec}';`)),
        `the docs import from ${spec}`,
      );
    }
    const files: Record<string, string> = {
      'package.json': '{"type": "module"}',
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: resolution === 'node16' ? 'Node16' : 'ESNext',
          moduleResolution: resolution === 'node16' ? 'Node16' : 'Bundler',
          strict: true,
          verbatimModuleSyntax: true,
          // A Node project has @types/node. The package's declarations (and zod's, undici's) are
          // checked once, in the node16 project: the check is most of tsc's time.
          typeRoots: [join(ROOT, 'node_modules/@types')],
          types: ['node'],
          skipLibCheck: resolution === 'bundler',
          outDir: 'out',
          rootDir: 'src',
        },
        include: ['src'],
      }),
      'src/usage.ts': USAGE_TS,
    };
    const runner: string[] = [];
    imports.forEach(({ statement, where }, i) => {
      files[`src/doc-${i}.ts`] = `// ${where}\n${statement}\n`;
      runner.push(`await import('./doc-${i}.js');`);
    });
    files['src/run-docs.ts'] =
      `${runner.join('\n')}\nconsole.log('imported ${imports.length}');\nexport {};\n`;
    for (const [name, text] of Object.entries(files)) {
      await mkdir(dirname(join(work, 'project', `ts-${resolution}`, name)), { recursive: true });
      await writeFile(join(work, 'project', `ts-${resolution}`, name), text);
    }
    const dir = join(work, 'project', `ts-${resolution}`);
    const tsc = await node([TSC, '-p', '.'], dir);
    assert.equal(tsc.code, 0, `tsc (${resolution}): ${show(tsc)}`);
    const r = await node(['out/run-docs.js'], dir);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout.trim(), `imported ${imports.length}`);
  });
}
