/**
 * Manifests mutated at random (issue #19): lines deleted, duplicated, swapped or
 * re-indented, values replaced with wrong types, out-of-range numbers, bad
 * durations, aliases, `---` inserted, text truncated. In process, hundreds of
 * them through the loader and convert's renderer: a FaultlineError (exit 2) or
 * an experiment whose YAML parses back to itself, nothing else. Through the
 * built CLI (dist/), a seeded sample through `validate` and `convert`: exit 0,
 * 1 or 2, never a stack trace, never a hang (runCli's guard).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { FaultlineError } from '../../src/core/errors.js';
import { loadExperimentSource } from '../../src/experiment/load.js';
import { renderExperimentYaml } from '../../src/manifests/render.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';

let dir: string;
let home: Awaited<ReturnType<typeof tempHome>>;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faultline-manifests-fuzz-'));
  home = await tempHome();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
  await home.cleanup();
});

function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

function fixtures(): { name: string; text: string }[] {
  const root = join(ROOT, 'test/fixtures/manifests');
  const out: { name: string; text: string }[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/\.(ya?ml|json)$/.test(e.name))
        out.push({ name: e.name, text: readFileSync(join(d, e.name), 'utf8') });
    }
  };
  walk(root);
  // The plumbing is fuzzed even before any translator's fixture lands.
  if (out.length === 0)
    out.push({
      name: 'net.yaml',
      text: 'apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata:\n  name: d\nspec:\n  action: delay\n  mode: all\n  selector:\n    namespaces: [default]\n  delay:\n    latency: 500ms\n  duration: 30s\n',
    });
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

const VALUES = [
  '',
  '-1',
  '1e309',
  '150',
  '"150"',
  '"abc"',
  '[]',
  '{}',
  'null',
  '~',
  'forever',
  '99999999999999999999h',
  '"-5s"',
  '*nope',
  '&a [1, *a]',
  '"\\u0000\\u001b[2J"',
  'yes',
  '0x1F',
  '{a: [1, {b: 2}]}',
];

function mutate(text: string, r: () => number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  let lines = text.split('\n');
  const n = 1 + Math.floor(r() * 3);
  for (let k = 0; k < n; k++) {
    const i = Math.floor(r() * lines.length);
    switch (Math.floor(r() * 7)) {
      case 0:
        lines.splice(i, 1);
        break;
      case 1:
        lines.splice(i, 0, lines[i] ?? '');
        break;
      case 2: {
        const line = lines[i] ?? '';
        const at = line.indexOf(': ');
        lines[i] = at >= 0 ? `${line.slice(0, at + 2)}${pick(VALUES)}` : `${line} ${pick(VALUES)}`;
        break;
      }
      case 3:
        lines.splice(i, 0, '---');
        break;
      case 4: {
        const joined = lines.join('\n');
        lines = joined.slice(0, Math.floor(r() * joined.length)).split('\n');
        break;
      }
      case 5:
        lines[i] = r() < 0.5 ? `  ${lines[i] ?? ''}` : (lines[i] ?? '').replace(/^ {1,2}/, '');
        break;
      default: {
        const j = Math.floor(r() * lines.length);
        [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
      }
    }
  }
  return lines.join('\n');
}

function mutants(count: number, seed: number): { file: string; text: string }[] {
  const r = rng(seed);
  const base = fixtures();
  return Array.from({ length: count }, (_, i) => {
    const f = base[Math.floor(r() * base.length)]!;
    const ext = extname(f.name) === '.json' && r() < 0.7 ? '.json' : '.yaml';
    return { file: `m${i}-${f.name.replace(/\.[^.]+$/, '')}${ext}`, text: mutate(f.text, r) };
  });
}

test('in process: each mutant is a FaultlineError or an experiment whose commented YAML parses back to it', async () => {
  const cases = mutants(300, 7);
  let manifests = 0;
  let refusedOnly = 0;
  for (const c of cases) {
    const path = join(dir, c.file);
    await writeFile(path, c.text);
    try {
      const loaded = await loadExperimentSource(path, { keepRefused: true });
      if (!loaded.manifest) continue;
      manifests++;
      if (loaded.manifest.refused.length > 0) refusedOnly++;
      const m = loaded.manifest;
      const text = renderExperimentYaml({ ...m, source: c.file });
      assert.deepEqual(parse(text), m.experiment, `${c.file}: the YAML does not parse back\n${c.text}`);
    } catch (err) {
      if (!(err instanceof FaultlineError)) {
        assert.fail(`${c.file}: ${(err as Error)?.stack ?? String(err)}\n--- input:\n${c.text}`);
      }
      assert.ok(err.exitCode === 2 || err.exitCode === 1, `${c.file}: ${err.message}`);
    }
  }
  // The mutations leave many documents readable: the translators saw them, not only the parser.
  assert.ok(manifests > 30, `only ${manifests} of ${cases.length} mutants reached a translator`);
  assert.ok(refusedOnly > 0, 'some mutants must be refused field by field');
});

test('the built CLI: validate and convert end with 0, 1 or 2 and a clean message', async () => {
  const cases = mutants(24, 11);
  const files: string[] = [];
  for (const c of cases) {
    await writeFile(join(dir, c.file), c.text);
    files.push(c.file);
  }
  const env = { FAULTLINE_HOME: home.home };
  const noStack = (text: string, what: string) =>
    assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+\)?\n|internal error/, `${what}:\n${text}`);
  // validate takes them all in one process, and reports each.
  const v = await runCli(['validate', ...files], { env, cwd: dir });
  assert.ok([0, 1, 2].includes(v.code ?? -1), `validate exited ${v.code}: ${v.stderr}`);
  noStack(v.stdout + v.stderr, 'validate');
  for (const f of files) assert.ok(v.stderr.includes(f), `validate said nothing about ${f}`);
  for (const f of files.slice(0, 8)) {
    const c = await runCli(['convert', f], { env, cwd: dir });
    assert.ok([0, 1, 2].includes(c.code ?? -1), `convert ${f} exited ${c.code}: ${c.stderr}`);
    noStack(c.stdout + c.stderr, `convert ${f}`);
    if (c.code === 0 || c.stdout !== '') parse(c.stdout);
  }
});
