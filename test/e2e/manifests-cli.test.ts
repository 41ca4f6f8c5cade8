/**
 * `faultline validate`, `convert` and `run` on other tools' manifests (issue #19),
 * through the built CLI (dist/: `npm run build` first). Every fixture under
 * test/fixtures/manifests/ validates and converts cleanly (exit 0 or 2, never a
 * stack trace), and convert's YAML carries a comment for each of its source
 * fields (the notes are read in-process from the same translators). Then run's
 * refusals: unknown kinds, wrong types, percentages over 100, durations that do
 * not parse, several experiments in one stream, an empty file, a stream mixing a
 * ServiceMonitor: exit 2, one `file:line:col: field: why` line each, nothing run.
 * A manifest whose selector matches no workload is refused before it runs (exit 2,
 * naming the field) against a real NATS; aimed at a workload an in-process agent
 * hosts, it runs and its journal records the manifest it came from.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { parseText } from '../../src/core/parse.js';
import { WorkloadSchema } from '../../src/core/workload.js';
import { loadExperimentSource } from '../../src/experiment/load.js';
import { type Agent, startAgent } from '../../src/fleet/agent.js';
import { type CliResult, cliSuite, ROOT, runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';
import { natsServerMissing, startNats, type TestNats } from '../helpers/nats.js';

const suite = cliSuite('faultline-manifests-cli-');
const FIXTURES = join(ROOT, 'test/fixtures/manifests');

function fixtures(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (/\.(ya?ml|json)$/.test(e.name)) out.push(join(dir, e.name));
    }
  };
  walk(FIXTURES);
  return out.sort();
}

/** No stack trace and no internal error, whatever the input. */
function clean(r: CliResult, what: string): void {
  const all = r.stdout + r.stderr;
  assert.doesNotMatch(all, /\n\s+at .+\(.*:\d+:\d+\)|internal error/, `${what}: ${all}`);
}

const cli = (args: string[]) => runCli(args, { env: suite.env, cwd: suite.work });

async function limit<T>(items: readonly T[], n: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

describe('the fixtures', () => {
  const files = fixtures();

  test('validate: a summary per document, then the translated experiment checked; exit 0 or 2', async (t) => {
    if (files.length === 0) return t.skip('no fixture under test/fixtures/manifests yet');
    const r = await cli(['validate', ...files]);
    clean(r, 'validate');
    assert.ok(r.code === 0 || r.code === 2, r.stderr);
    for (const f of files) {
      const loaded = await loadExperimentSource(f, { keepRefused: true }).catch(() => undefined);
      if (!loaded?.manifest) continue;
      for (const tr of loaded.manifest.translations)
        assert.match(
          r.stderr,
          new RegExp(
            `${reEscape(f)}: .*${reEscape(tr.kind)} .*fields? mapped, \\d+ ignored, \\d+ warned, \\d+ refused`,
          ),
        );
    }
  });

  test('convert: YAML with a comment for every source field, the same experiment as --format json', async (t) => {
    if (files.length === 0) return t.skip('no fixture under test/fixtures/manifests yet');
    // JSON for a sample (each conversion is a process; the YAML is compared with the experiment anyway).
    const sample = new Set(files.filter((_, i) => i % Math.ceil(files.length / 4) === 0));
    await limit(files, 4, async (f) => {
      const name = relative(FIXTURES, f);
      const loaded = await loadExperimentSource(f, { keepRefused: true }).catch((err: Error) => err);
      const yaml = await cli(['convert', f]);
      clean(yaml, `convert ${name}`);
      if (loaded instanceof Error || !loaded.manifest) {
        // Not a manifest, or not parseable: refused before anything is printed.
        assert.equal(yaml.code, 2, `${name}: ${yaml.stderr}`);
        assert.equal(yaml.stdout, '');
        return;
      }
      const m = loaded.manifest;
      assert.equal(yaml.code, m.refused.length > 0 ? 2 : 0, `${name}: ${yaml.stderr}`);
      // Read back as Faultline reads experiments (YAML 1.1, as PyYAML): `on:` must not turn into true.
      assert.deepEqual(
        parseText(yaml.stdout, 'yaml', name).value,
        m.experiment,
        `${name}: the YAML does not read back as the experiment`,
      );
      if (sample.has(f)) {
        const json = await cli(['convert', f, '--format', 'json']);
        clean(json, `convert --format json ${name}`);
        assert.equal(json.code, yaml.code);
        assert.deepEqual(JSON.parse(json.stdout), m.experiment, `${name}: the JSON is not the experiment`);
      }
      const comments = yaml.stdout
        .split('\n')
        .filter((l) => l.trimStart().startsWith('#'))
        .join('\n');
      for (const n of m.notes) {
        if (n.path === '') continue;
        const field = m.count > 1 ? `document ${n.document + 1}: ${n.path}` : n.path;
        assert.ok(comments.includes(field), `${name}: no comment for ${field} (${n.fate})\n${yaml.stdout}`);
      }
      for (const n of m.refused) {
        const pos = m.where(n);
        if (pos) assert.ok(yaml.stderr.includes(`${f}:${pos.line}:${pos.column}: `), yaml.stderr);
      }
    });
  });
});

function reEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Writes a file into the suite's work dir and returns its name (relative: messages name it so). */
async function file(name: string, text: string): Promise<string> {
  await writeFile(join(suite.work, name), text);
  return name;
}

const POD_KILL = (spec: string) => `apiVersion: chaos-mesh.org/v1alpha1
kind: PodChaos
metadata:
  name: kill
  namespace: shop
spec:
${spec}
`;

describe('run refuses what it cannot honour: exit 2, one line per field, nothing run', () => {
  /** Runs `faultline run` and checks the refusal names the field with its line and column. */
  async function refused(name: string, text: string, line: RegExp): Promise<CliResult> {
    const f = await file(name, text);
    const r = await cli(['run', f, '--journal-path', `${name}.journal.json`]);
    clean(r, `run ${name}`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, line);
    assert.doesNotMatch(r.stderr, /Running experiment/);
    await assert.rejects(readFile(join(suite.work, `${name}.journal.json`)), 'no journal: nothing ran');
    return r;
  }

  test('an unknown kind', async () => {
    await refused(
      'unknown-kind.yaml',
      'apiVersion: chaos-mesh.org/v1alpha1\nkind: TimeTravelChaos\nmetadata: {name: x}\nspec: {mode: one}\n',
      /unknown-kind\.yaml:\d+:\d+: [^\n]*TimeTravelChaos|unknown-kind\.yaml:\d+:\d+: kind: /,
    );
  });

  test('wrong types', async () => {
    await refused(
      'wrong-types.yaml',
      POD_KILL('  action: pod-kill\n  mode: one\n  selector: "app=web"'),
      /wrong-types\.yaml:9:13: spec\.selector: expected/,
    );
  });

  test('a percentage over 100', async () => {
    await refused(
      'over-100.yaml',
      POD_KILL(
        '  action: pod-kill\n  mode: fixed-percent\n  value: "150"\n  selector:\n    namespaces: [shop]',
      ),
      /over-100\.yaml:9:10: spec\.value: [^\n]*(100|percent)/,
    );
  });

  test('a duration that does not parse', async () => {
    await refused(
      'bad-duration.yaml',
      POD_KILL(
        '  action: pod-failure\n  mode: one\n  duration: forever\n  selector:\n    namespaces: [shop]',
      ),
      /bad-duration\.yaml:9:13: spec\.duration: [^\n]*duration/,
    );
  });

  test('several Faultline experiments in one stream', async () => {
    const exp =
      'title: t\ndescription: d\nmethod:\n  - {type: action, name: a, provider: {type: process, path: "true"}}\n';
    await refused(
      'two-experiments.yaml',
      `${exp}---\n${exp}`,
      /two-experiments\.yaml: document 2: a file holds one Faultline experiment/,
    );
  });

  test('an empty file', async () => {
    await refused('empty.yaml', '', /empty\.yaml: an empty experiment is not an experiment/);
  });

  test('a stream mixing a ServiceMonitor names that document', async () => {
    await refused(
      'mixed.yaml',
      `${POD_KILL('  action: pod-kill\n  mode: one\n  selector:\n    namespaces: [shop]')}---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: sm\n`,
      /^\[[^\]]+\] mixed\.yaml:12:1: document 2: \(document\): kind ServiceMonitor is not a manifest Faultline reads/m,
    );
  });

  test('validate shows the same refusals after its summary; convert prints the experiment anyway', async () => {
    const f = await file(
      'refused-convert.yaml',
      POD_KILL(
        '  action: pod-kill\n  mode: fixed-percent\n  value: "150"\n  selector:\n    namespaces: [shop]',
      ),
    );
    const v = await cli(['validate', f]);
    clean(v, 'validate');
    assert.equal(v.code, 2);
    assert.match(v.stderr, /refused-convert\.yaml: Chaos Mesh PodChaos "kill": .*mapped.* [1-9]\d* refused/);
    assert.match(v.stderr, /refused-convert\.yaml:9:10: spec\.value: /);
    const c = await cli(['convert', f]);
    assert.equal(c.code, 2);
    assert.match(c.stdout, /^# Refused[^\n]*\n#\s+spec\.value = 150 \(line 9:10\): /m);
    assert.ok(parse(c.stdout).method.length > 0, 'the experiment is printed');
  });
});

describe('run of a manifest on a fleet', () => {
  let nats: TestNats | undefined;
  const missing = natsServerMissing();
  before(async () => {
    if (!missing) nats = await startNats();
  });
  after(async () => {
    await nats?.close();
  });

  test('a selector that matches no workload: run refuses it before anything runs (exit 2, naming the field); one that matches runs and its journal names the manifest', async (t) => {
    if (missing) return t.skip(missing);
    const f = await file(
      'nowhere.yaml',
      `${POD_KILL('  action: pod-kill\n  mode: one\n  selector:\n    namespaces: [nowhere]\n    labelSelectors:\n      app: ghost')}`,
    );
    const r = await runCli(['run', f, '--journal-path', 'nowhere.json'], {
      env: { ...suite.env, FAULTLINE_NATS_URL: nats!.url },
      cwd: suite.work,
    });
    clean(r, 'run');
    // The run's preflight plans fleet targets before the hypothesis (engine/preflight.ts preflightFleet).
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /method\[0\]\.targets: no workload matches namespaces \[nowhere\], labels 'app=ghost'/,
    );
    assert.doesNotMatch(r.stderr, /Running experiment/);
    await assert.rejects(readFile(join(suite.work, 'nowhere.json')), 'no journal: nothing ran');

    // The same manifest aimed at a workload an agent hosts (a `sleep` of this test's own) runs.
    const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
    const agentHome = await tempHome();
    let agent: Agent | undefined;
    try {
      const pidfile = join(agentHome.home, 'web.pid');
      await writeFile(pidfile, String(sleeper.pid));
      agent = await startAgent({
        connect: { servers: nats!.url },
        name: 'manifests-e2e',
        home: agentHome.home,
        heartbeatMs: 1_000,
        watchdog: false,
        workloads: [
          WorkloadSchema.parse({
            name: 'web',
            namespace: 'shop',
            labels: { app: 'web' },
            processes: { pidfile },
          }),
        ],
      });
      const exited = new Promise((res) => sleeper.once('exit', res));
      const g = await file(
        'somewhere.yaml',
        `${POD_KILL('  action: pod-kill\n  mode: one\n  selector:\n    namespaces: [shop]\n    labelSelectors:\n      app: web')}`,
      );
      const ok = await runCli(['run', g, '--journal-path', 'somewhere.json'], {
        env: { ...suite.env, FAULTLINE_NATS_URL: nats!.url },
        cwd: suite.work,
      });
      clean(ok, 'run');
      assert.equal(ok.code, 0, ok.stderr);
      await exited; // the pod-kill killed the workload's process
      const journal = JSON.parse(await readFile(join(suite.work, 'somewhere.json'), 'utf8'));
      assert.deepEqual(journal.experiment.extensions, [
        { name: 'faultline-manifest', format: 'chaos-mesh', kind: 'PodChaos', source: 'shop/kill' },
      ]);
      assert.equal(journal.run[0]?.status, 'succeeded');
    } finally {
      sleeper.kill('SIGKILL');
      await agent?.stop();
      assert.deepEqual(await agentHome.activeFaults(), [], 'no fault left on the agent');
      await agentHome.cleanup();
    }
  });

  test("a manifest's schedule is not kept by run: one line says so and how to make it a server schedule", async (t) => {
    if (missing) return t.skip(missing);
    const f = await file(
      'scheduled.yaml',
      `apiVersion: chaos-mesh.org/v1alpha1
kind: Schedule
metadata:
  name: every-5m
  namespace: shop
spec:
  schedule: "*/5 * * * *"
  type: PodChaos
  historyLimit: 3
  concurrencyPolicy: Forbid
  podChaos:
    action: pod-kill
    mode: one
    selector:
      namespaces: [nowhere]
`,
    );
    const v = await cli(['validate', f]);
    if (/refused/.test(v.stderr) && v.code === 2)
      return t.skip(`the Schedule translation refuses this document: ${v.stderr}`);
    const r = await runCli(['run', f, '--journal-path', 'scheduled.json'], {
      env: { ...suite.env, FAULTLINE_NATS_URL: nats!.url },
      cwd: suite.work,
    });
    clean(r, 'run');
    assert.match(
      r.stderr,
      /scheduled\.yaml:\d+:\d+: spec\.schedule: the manifest's schedule \(cron "\*\/5 \* \* \* \*"\) is not kept by `faultline run`.*faultline convert scheduled\.yaml --push --server URL/,
    );
    const c = await cli(['convert', f, '--schedule', '--format', 'json', '--name', 'kill-nowhere']);
    clean(c, 'convert --schedule');
    const out = JSON.parse(c.stdout);
    assert.equal(out.schedules.length, 1);
    assert.equal(out.schedules[0].experiment, 'kill-nowhere');
    assert.equal(out.schedules[0].timing.cron, '*/5 * * * *');
    assert.ok(out.experiment.method.length > 0);
  });
});
