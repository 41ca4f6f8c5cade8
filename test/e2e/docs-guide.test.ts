/**
 * docs/guide.md cannot rot: every YAML block in it is marked with what it is
 * (`<!-- experiment -->`, `<!-- experiment-part -->`, `<!-- activities -->`,
 * `<!-- settings -->`, `<!-- ci: github -->`, `<!-- ci: gitlab -->`) and
 * checked as such; every `faultline` command uses a real command, real
 * options and real fault arguments; every link points somewhere that exists;
 * and the guide's main experiment runs, with the built CLI, against a small
 * system shaped like the one it describes, and passes.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { parseKeyValues } from '../../src/cli/inject.js';
import { SettingsSchema } from '../../src/experiment/settings.js';
import { exposedFaults } from '../../src/faults/index.js';
import { validateExperiment } from '../../src/lib/validate.js';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';

const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const GUIDE = readFileSync(join(DOCS, 'guide.md'), 'utf8');

interface Block {
  lang: string;
  marker: string | undefined;
  body: string;
  line: number;
}

/** Fenced blocks with the `<!-- marker -->` comment right above them (blank lines allowed). */
function blocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    let j = i - 1;
    while (j >= 0 && lines[j]!.trim() === '') j--;
    const marker = /^<!--\s*(.+?)\s*-->$/.exec(lines[j] ?? '')?.[1];
    const end = lines.indexOf('```', i + 1);
    assert.ok(end > i, `guide.md:${i + 1}: unterminated code block`);
    out.push({ lang: open[1]!, marker, body: lines.slice(i + 1, end).join('\n'), line: i + 1 });
    i = end;
  }
  return out;
}

const all = blocks(GUIDE);
const yamlBlocks = all.filter((b) => b.lang === 'yaml');
const where = (b: Block) => `docs/guide.md:${b.line}`;
const EXPERIMENT_MARKERS = ['experiment', 'experiment-part', 'activities'];
const MARKERS = [...EXPERIMENT_MARKERS, 'settings', 'ci: github', 'ci: gitlab'];

let home: Awaited<ReturnType<typeof tempHome>>;
let work: string;

before(async () => {
  home = await tempHome();
  work = await mkdtemp(join(tmpdir(), 'faultline-e2e-guide-'));
  // Files the guide shows (`<!-- file: path -->`), so the experiments that use them load.
  for (const b of all) {
    const file = /^file: (.+)$/.exec(b.marker ?? '')?.[1];
    if (!file) continue;
    await mkdir(dirname(join(work, file)), { recursive: true });
    await writeFile(join(work, file), `${b.body}\n`);
  }
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
  await home.cleanup();
  await rm(work, { recursive: true, force: true });
});

/** The experiment a block stands for. */
function experimentOf(b: Block): unknown {
  const doc = YAML.parse(b.body);
  const base = { title: `guide block at line ${b.line}`, description: 'from docs/guide.md', method: [] };
  if (b.marker === 'experiment') return doc;
  if (b.marker === 'experiment-part') return { ...base, ...doc };
  return { ...base, method: doc };
}

test('every YAML block of the guide says what it is', () => {
  assert.ok(yamlBlocks.length >= 15, `found ${yamlBlocks.length} YAML blocks`);
  for (const b of yamlBlocks) {
    assert.ok(
      b.marker !== undefined && MARKERS.includes(b.marker),
      `${where(b)}: a yaml block needs one of ${MARKERS.map((m) => `<!-- ${m} -->`).join(', ')} above it`,
    );
  }
  assert.ok(
    yamlBlocks.some((b) => b.marker === 'experiment'),
    'the guide has a complete experiment',
  );
});

test('every experiment, part of one and list of activities in the guide validates', async () => {
  for (const b of yamlBlocks.filter((x) => EXPERIMENT_MARKERS.includes(x.marker!))) {
    const { issues } = await validateExperiment(experimentOf(b), { baseDir: work, env: {} });
    assert.deepEqual(issues, [], `${where(b)} (${b.marker})`);
  }
});

test('the complete experiments validate with the built CLI too', async () => {
  const files: string[] = [];
  for (const b of yamlBlocks.filter((x) => x.marker === 'experiment')) {
    const file = join(work, `experiment-${b.line}.yaml`);
    await writeFile(file, b.body);
    files.push(file);
  }
  const r = await runCli(['validate', ...files], { env: { FAULTLINE_HOME: home.home } });
  assert.equal(r.code, 0, r.stderr);
});

test('the settings files in the guide are valid settings', () => {
  const settings = yamlBlocks.filter((b) => b.marker === 'settings');
  assert.ok(settings.length > 0);
  for (const b of settings) {
    const parsed = SettingsSchema.safeParse(YAML.parse(b.body));
    assert.ok(parsed.success, `${where(b)}: ${parsed.error?.message}`);
  }
});

/** `--report junit=PATH` and `html=PATH` of a `faultline run` command line. */
function reportPaths(command: string): Record<string, string> {
  return Object.fromEntries([...command.matchAll(/--report (\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
}

test('the GitHub Actions workflow gates on the exit code and publishes the reports always', () => {
  const [b] = yamlBlocks.filter((x) => x.marker === 'ci: github');
  assert.ok(b, 'the guide has a GitHub Actions workflow');
  const wf = YAML.parse(b.body) as {
    jobs: Record<
      string,
      { steps: { uses?: string; run?: string; if?: string; with?: Record<string, unknown> }[] }
    >;
  };
  const steps = Object.values(wf.jobs)[0]!.steps;
  const node = steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
  assert.equal(node?.with?.['node-version'], 20);
  const runIndex = steps.findIndex((s) => /npx faultline run experiment\.yaml/.test(s.run ?? ''));
  assert.ok(runIndex >= 0, 'a step runs the experiment');
  const run = steps[runIndex]!;
  assert.equal(run.if, undefined, 'the experiment step gates the job: no if/continue-on-error');
  assert.match(run.run!, /exit \$code/, "the step exits with faultline's exit code");
  const paths = reportPaths(run.run!);
  assert.equal(paths.junit, 'chaos-junit.xml');
  assert.equal(paths.html, 'chaos-report.html');
  const after = steps.slice(runIndex + 1);
  for (const s of after) assert.match(s.if ?? '', /always\(\)/, `step ${s.uses ?? s.run} runs always`);
  const junit = after.find((s) => /action-junit-report|test-reporter/.test(s.uses ?? ''));
  assert.equal(junit?.with?.report_paths, paths.junit, 'the JUnit report is published');
  const upload = after.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
  assert.match(String(upload?.with?.path), /chaos-report\.html/, 'the HTML report is uploaded');
});

test('the GitLab CI job keeps the reports and reads the JUnit file', () => {
  const [b] = yamlBlocks.filter((x) => x.marker === 'ci: gitlab');
  assert.ok(b, 'the guide has a GitLab CI job');
  const job = Object.values(YAML.parse(b.body) as Record<string, any>)[0];
  const command = (job.script as string[]).find((l) => l.includes('faultline run'))!;
  const paths = reportPaths(command);
  assert.equal(job.artifacts.when, 'always');
  assert.equal(job.artifacts.reports.junit, paths.junit);
  assert.ok(job.artifacts.paths.includes(paths.html));
});

/** Every `faultline ...` command line in the guide: shell blocks, and the CI scripts. */
function commandLines(): { line: string; block: Block }[] {
  const out: { line: string; block: Block }[] = [];
  for (const b of all) {
    if (b.lang !== 'sh' && !b.marker?.startsWith('ci:')) continue;
    for (const raw of b.body.replace(/\\\n\s*/g, ' ').split('\n')) {
      const m = /(?:npx )?faultline (?=[a-z])(.*)$/.exec(raw);
      if (!m || raw.trimStart().startsWith('#')) continue;
      out.push({ line: m[1]!.replace(/\s+#.*$/, '').replace(/\s*[>|&].*$/, ''), block: b });
    }
  }
  return out;
}

function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

test('every faultline command in the guide uses real commands, options and fault arguments', async () => {
  const lines = commandLines();
  assert.ok(lines.length >= 15, `found ${lines.length} command lines`);
  const helps = new Map<string, string>();
  const faults = await exposedFaults();
  for (const { line, block } of lines) {
    const w = words(line);
    const command = w[0]!;
    if (!helps.has(command)) {
      const r = await runCli([command, '--help'], { env: { FAULTLINE_HOME: home.home } });
      assert.equal(r.code, 0, `${where(block)}: faultline ${command} is a command (${r.stderr})`);
      helps.set(command, r.stdout);
    }
    for (const option of w.filter((x) => x.startsWith('--'))) {
      assert.ok(
        helps.get(command)!.includes(option),
        `${where(block)}: faultline ${command} has no option ${option}`,
      );
    }
    if (command === 'inject' && w[1] && !w[1].startsWith('-')) {
      const kind = faults.get(w[1]);
      assert.ok(kind, `${where(block)}: ${w[1]} is a fault`);
      const rest = w.slice(2);
      const pairs = rest.filter((x, i) => !x.startsWith('--') && !rest[i - 1]?.startsWith('--'));
      const argsJson = rest[rest.indexOf('--args') + 1];
      const args = {
        ...(rest.includes('--args') ? JSON.parse(argsJson!) : {}),
        ...parseKeyValues(pairs, kind.args),
      };
      const parsed = kind.args.safeParse(args);
      assert.ok(parsed.success, `${where(block)}: ${line}: ${parsed.error?.message}`);
    }
  }
});

test('the first steps of the guide work: init writes an experiment that validates', async () => {
  const inits = commandLines().filter(({ line }) => line.startsWith('init '));
  assert.ok(inits.length > 0, 'the guide shows faultline init');
  for (const { line, block } of inits) {
    const dir = await mkdtemp(join(work, 'init-'));
    const env = { FAULTLINE_HOME: home.home };
    const r = await runCli(words(line), { cwd: dir, env });
    assert.equal(r.code, 0, `${where(block)}: faultline ${line}: ${r.stderr}`);
    const v = await runCli(['validate', 'experiment.yaml'], { cwd: dir, env });
    assert.equal(v.code, 0, `${where(block)}: the experiment init wrote: ${v.stderr}`);
  }
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    const h = /^#{1,6} (.*)$/.exec(line);
    if (h) {
      out.add(
        h[1]!
          .replace(/<[^>]*>/g, '')
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      );
    }
    for (const m of line.matchAll(/<a id="([^"]+)"><\/a>/g)) out.add(m[1]!);
  }
  return out;
}

test('every link in the guide and the catalog points to a file and an anchor that exist', () => {
  for (const doc of ['guide.md', 'catalog.md']) {
    const text = readFileSync(join(DOCS, doc), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^https?:/.test(target)) continue;
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const path = file === '' ? join(DOCS, doc) : join(DOCS, file);
      assert.ok(existsSync(path), `${doc}: link to ${target}: no such file`);
      if (anchor !== undefined && path.endsWith('.md')) {
        assert.ok(
          anchors(readFileSync(path, 'utf8')).has(anchor),
          `${doc}: link to ${target}: no such anchor`,
        );
      }
    }
  }
});

/** A system shaped like the guide's: an API whose every request goes to its "database" through the proxy. */
async function checkoutSystem(dbListenPort: number) {
  // A proxy that closes mid-run resets these sockets: that is the fault, not the test's failure.
  const db = net.createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => {}));
  await new Promise<void>((r) => db.listen(0, '127.0.0.1', r));
  const api = http.createServer((_req, res) => {
    const c = net.connect(dbListenPort, '127.0.0.1');
    const fail = (why: string) => {
      c.destroy();
      if (!res.headersSent) res.writeHead(503).end(why);
    };
    const t = setTimeout(() => fail('timeout'), 20_000);
    c.on('error', () => {
      clearTimeout(t);
      fail('database unreachable');
    });
    c.on('connect', () => c.write('SELECT 1'));
    c.on('data', () => {
      clearTimeout(t);
      c.end();
      if (!res.headersSent) res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  const port = (s: net.Server | http.Server) => (s.address() as net.AddressInfo).port;
  return {
    apiUrl: `http://127.0.0.1:${port(api)}`,
    dbUpstream: `127.0.0.1:${port(db)}`,
    async close() {
      api.closeAllConnections();
      await Promise.all([new Promise((r) => api.close(r)), new Promise((r) => db.close(r))]);
    },
  };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test("the guide's experiment runs end to end and passes, with the CI command's reports", {
  skip: process.platform !== 'linux' && 'process faults need Linux (/proc)',
  timeout: 120_000,
}, async () => {
  const [b] = yamlBlocks.filter((x) => x.marker === 'experiment');
  const dir = join(work, 'run');
  await mkdir(dir, { recursive: true });
  // The guide's thresholds are the story it tells (p99 under 1 s, 2 s timeouts); this test checks the
  // run's mechanics (faults injected, verified, reverted; the CI command's reports), which must not
  // depend on how loaded the machine is, so only the latency bounds are widened here.
  const body = b!.body
    .replace('range: [0, 1000]', 'range: [0, 30000]')
    .replace('timeout: 2s', 'timeout: 30s');
  assert.ok(
    body.includes('[0, 30000]') && body.includes('timeout: 30s'),
    'the guide has the bounds widened here',
  );
  await writeFile(join(dir, 'experiment.yaml'), body);
  // The worker the experiment pauses: a process whose name (comm) is checkout-worker.
  const workerBin = join(dir, 'checkout-worker');
  copyFileSync(execFileSync('sh', ['-c', 'command -v sleep']).toString().trim(), workerBin);
  const worker = spawn(workerBin, ['300'], { stdio: 'ignore' });
  const dbListen = await freePort();
  const system = await checkoutSystem(dbListen);
  try {
    // The command of the CI workflow.
    const r = await runCli(
      ['run', 'experiment.yaml', '--report', 'junit=chaos-junit.xml', '--report', 'html=chaos-report.html'],
      {
        cwd: dir,
        env: {
          FAULTLINE_HOME: home.home,
          API_URL: system.apiUrl,
          DB_UPSTREAM: system.dbUpstream,
          DB_LISTEN: `127.0.0.1:${dbListen}`,
        },
      },
    );
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
    const journal = JSON.parse(await readFile(join(dir, 'journal.json'), 'utf8'));
    assert.equal(journal.status, 'completed');
    assert.equal(journal.deviated, false);
    const faults = journal.faultline.faults as { kind: string; verified: boolean }[];
    assert.deepEqual(faults.map((f) => f.kind).sort(), ['process-pause', 'proxy-toxic']);
    assert.ok(faults.every((f) => f.verified));
    assert.equal(typeof journal.faultline.recovery.mttr, 'number');
    assert.match(await readFile(join(dir, 'chaos-junit.xml'), 'utf8'), /<testsuite /);
    assert.match(await readFile(join(dir, 'chaos-report.html'), 'utf8'), /PASSED/);
    // The worker was resumed: not stopped (state T).
    const state = readFileSync(`/proc/${worker.pid}/stat`, 'utf8').split(') ')[1]![0];
    assert.notEqual(state, 'T');
  } finally {
    worker.kill('SIGKILL');
    await system.close();
  }
});
