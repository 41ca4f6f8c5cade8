/**
 * The plumbing between a manifest file and the experiment it becomes (issue #19):
 * YAML streams with their guards, positions of each note's field, the refusal
 * that stops a run, and convert's rendering with a comment per field. Written
 * against small hand-made translations, so it holds whatever the format
 * translators do; one case reads a real Chaos Mesh document end to end.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { FaultlineError } from '../../src/core/errors.js';
import { loadExperimentSource } from '../../src/experiment/load.js';
import {
  loadedManifest,
  ManifestRefusedError,
  manifestNotices,
  manifestPositions,
  noteLines,
  parseDocuments,
} from '../../src/experiment/manifest-source.js';
import { combine, type ManifestSet, type Translation } from '../../src/manifests/index.js';
import { parseNotePath, renderExperimentYaml } from '../../src/manifests/render.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faultline-manifest-source-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const STREAM = `apiVersion: x.example/v1
kind: Delay
metadata:
  name: slow
spec:
  latency: 500ms
  serviceAccountName: chaos
---
apiVersion: x.example/v1
kind: Delay
metadata:
  name: slower
spec:
  latency: 2s
  weird: true
`;

/** What a translator of the made-up `Delay` kind would give for the stream above. */
function handMade(): ManifestSet {
  const t = (name: string, latency: number): Translation => ({
    format: 'chaos-mesh',
    kind: 'Delay',
    name,
    title: name,
    description: name,
    method: [
      {
        type: 'action',
        name: `${name}-delay`,
        provider: { type: 'faultline', module: 'faultline.network', func: 'delay', arguments: { latency } },
      } as Translation['method'][number],
    ],
    hold: 2,
    schedule: undefined,
    notes: [],
  });
  const translations = [t('slow', 500), t('slower', 2000)];
  const notes = [
    {
      document: 0,
      format: 'chaos-mesh' as const,
      path: 'spec.latency',
      fate: 'mapped' as const,
      to: 'method[0].provider.arguments.latency',
    },
    {
      document: 0,
      format: 'chaos-mesh' as const,
      path: 'metadata.name',
      fate: 'mapped' as const,
      to: 'title',
    },
    {
      document: 0,
      format: 'chaos-mesh' as const,
      path: 'spec.serviceAccountName',
      fate: 'warned' as const,
      why: 'Kubernetes plumbing',
    },
    {
      document: 1,
      format: 'chaos-mesh' as const,
      path: 'spec.latency',
      fate: 'mapped' as const,
      to: 'provider.arguments.latency',
    },
    {
      document: 1,
      format: 'chaos-mesh' as const,
      path: 'metadata.name',
      fate: 'ignored' as const,
      why: 'one title for the set',
    },
    {
      document: 1,
      format: 'chaos-mesh' as const,
      path: 'spec.weird',
      fate: 'refused' as const,
      why: 'unknown field',
    },
  ];
  return {
    experiment: combine(translations),
    translations,
    notes,
    refused: notes.filter((n) => n.fate === 'refused'),
    schedules: [{ timing: { cron: '*/5 * * * *', timezone: 'UTC' }, from: 'spec.schedule', document: 1 }],
  };
}

describe('YAML streams', () => {
  test('a single document parses as before; a stream gives each document with its positions', () => {
    const one = parseDocuments('title: a\nmethod: []\n', 'yaml', 'f.yaml');
    assert.equal(one.stream, false);
    assert.deepEqual(one.values, [{ title: 'a', method: [] }]);
    const docs = parseDocuments(STREAM, 'yaml', 'f.yaml');
    assert.equal(docs.stream, true);
    assert.equal(docs.values.length, 2);
    assert.deepEqual(docs.positions[1]!(['spec', 'weird']), { line: 15, column: 10 });
    assert.deepEqual(docs.positions[0]!(['spec', 'latency']), { line: 6, column: 12 });
  });

  test('a broken second document names the document and its line', () => {
    assert.throws(
      () => parseDocuments('a: 1\n---\nb: [1\n', 'yaml', 'f.yaml'),
      (err: unknown) =>
        err instanceof FaultlineError &&
        err.exitCode === 2 &&
        /document 2: .* at line \d+, column \d+/.test(err.message),
    );
  });

  test("the alias budget is the stream's, not each document's", () => {
    const doc = (n: number) =>
      `a: &x [1, 2]\n${Array.from({ length: n }, (_, i) => `k${i}: *x`).join('\n')}\n`;
    // 60 aliases each: fine alone, over the budget of 100 together.
    assert.doesNotThrow(() => parseDocuments(`${doc(60)}---\n${doc(30)}`, 'yaml', 'f.yaml'));
    assert.throws(
      () => parseDocuments(`${doc(60)}---\n${doc(60)}`, 'yaml', 'f.yaml'),
      (err: unknown) => err instanceof FaultlineError && /alias/.test(err.message) && err.exitCode === 2,
    );
  });

  test('more documents than a stream may hold are refused before parsing', () => {
    assert.throws(
      () => parseDocuments('a: 1\n'.concat('---\n'.repeat(1001)), 'yaml', 'f.yaml'),
      (err: unknown) => err instanceof FaultlineError && /more than 1000 documents/.test(err.message),
    );
  });
});

test('note paths read as document paths (quoted keys, indexes); free text is not one', () => {
  assert.deepEqual(parseNotePath('spec.experiments[0].spec.probe[1].mode'), [
    'spec',
    'experiments',
    0,
    'spec',
    'probe',
    1,
    'mode',
  ]);
  assert.deepEqual(parseNotePath('metadata.annotations["a.b/c"]'), ['metadata', 'annotations', 'a.b/c']);
  assert.deepEqual(parseNotePath(''), []);
  assert.equal(parseNotePath('faultline.process kill'), undefined);
});

describe('a loaded manifest', () => {
  test("its notes know their line and column; the experiment's paths resolve through `to`", () => {
    const m = loadedManifest(handMade(), parseDocuments(STREAM, 'yaml', 'f.yaml'));
    assert.equal(m.count, 2);
    assert.deepEqual(noteLines(m, 'refused', 'f.yaml'), [
      'f.yaml:15:10: document 2: spec.weird: unknown field',
    ]);
    assert.deepEqual(noteLines(m, 'warned', 'f.yaml'), [
      'f.yaml:7:23: document 1: spec.serviceAccountName: Kubernetes plumbing',
    ]);
    const at = manifestPositions(m);
    // A path below a mapped node is where its source field is.
    assert.deepEqual(at(['method', 0, 'provider', 'arguments', 'latency']), { line: 6, column: 12 });
    assert.deepEqual(at(['title']), { line: 4, column: 9 });
    assert.equal(at(['description']), undefined);
    const notices = manifestNotices(m, 'f.yaml');
    assert.equal(notices.filter((n) => n.level === 'warn').length, 1);
    const schedule = notices.find((n) => n.level === 'info');
    assert.match(
      schedule?.message ?? '',
      /not kept by `faultline run`.*faultline convert f\.yaml --push --server URL/,
    );
  });

  test("convert's YAML has a comment for every source field and parses back to the experiment", () => {
    const set = handMade();
    const m = loadedManifest(set, parseDocuments(STREAM, 'yaml', 'f.yaml'));
    const text = renderExperimentYaml({ ...m, source: 'f.yaml', titles: { 'chaos-mesh': 'Chaos Mesh' } });
    assert.deepEqual(parse(text), set.experiment);
    const lines = text.split('\n');
    const before = (key: RegExp) => lines[lines.findIndex((l) => key.test(l)) - 1] ?? '';
    // Mapped notes sit above the node they became; a relative `to` is read inside its document's action.
    assert.match(before(/^title:/), /# document 1: metadata\.name: slow$/);
    assert.match(text, /# document 1: spec\.latency: 500ms\n\s+latency: 500\n/);
    assert.match(text, /# document 2: spec\.latency: 2s\n\s+latency: 2000\n/);
    // The header: refused, warned and ignored with why and where.
    assert.match(text, /^# Refused.*:\n# {3}document 2: spec\.weird = true \(line 15:10\): unknown field$/m);
    assert.match(
      text,
      /^# {3}document 1: spec\.serviceAccountName = chaos \(line 7:23\): Kubernetes plumbing$/m,
    );
    assert.match(text, /^# {3}document 2: metadata\.name = slower \(line 12:9\): one title for the set$/m);
    assert.ok(text.endsWith('\n'));
  });

  test('a value with newlines or control characters cannot break out of its comment', () => {
    const set = handMade();
    const hostile = STREAM.replace('latency: 500ms', 'latency: "5\\nrm: -rf\\u001b[2J"');
    const m = loadedManifest(set, parseDocuments(hostile, 'yaml', 'f.yaml'));
    const text = renderExperimentYaml({ ...m, source: 'f\nx.yaml' });
    assert.deepEqual(parse(text), set.experiment);
    assert.ok(!text.includes('\u001b'));
    assert.match(text, /# document 1: spec\.latency: 5\\nrm: -rf\\u001b\[2J/);
  });
});

describe('loading files', () => {
  test('a Faultline experiment loads as before, with no manifest', async () => {
    const path = join(dir, 'exp.yaml');
    await writeFile(path, 'title: t\ndescription: d\nmethod: []\n');
    const loaded = await loadExperimentSource(path);
    assert.equal(loaded.manifest, undefined);
    assert.deepEqual(loaded.positionOf(['method']), { line: 3, column: 9 });
  });

  test('several Faultline experiments in one stream: an error naming the second document', async () => {
    const path = join(dir, 'two.yaml');
    await writeFile(path, 'title: a\nmethod: []\n---\ntitle: b\nmethod: []\n');
    await assert.rejects(loadExperimentSource(path), (err: unknown) => {
      assert.ok(err instanceof FaultlineError);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /two\.yaml: document 2: a file holds one Faultline experiment/);
      assert.deepEqual(
        err.issues.map((i) => [i.line, i.column]),
        [[4, 1]],
      );
      return true;
    });
  });

  test('a stream of empty documents is the empty experiment; one experiment among empty documents loads', async () => {
    const empty = join(dir, 'empty.yaml');
    await writeFile(empty, '---\n---\n');
    await assert.rejects(loadExperimentSource(empty), /an empty experiment is not an experiment/);
    const padded = join(dir, 'padded.yaml');
    await writeFile(padded, '---\ntitle: t\nmethod: []\n---\n');
    const loaded = await loadExperimentSource(padded);
    assert.equal((loaded.raw as { title: string }).title, 't');
    assert.deepEqual(loaded.positionOf(['method']), { line: 3, column: 9 });
  });

  test('a manifest with a refused field throws ManifestRefusedError unless told to keep it', async () => {
    const path = join(dir, 'mixed.yaml');
    await writeFile(
      path,
      'apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: x}\nspec: {action: pod-kill, mode: one, selector: {namespaces: [default]}}\n---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: sm}\n',
    );
    await assert.rejects(loadExperimentSource(path), (err: unknown) => {
      assert.ok(err instanceof ManifestRefusedError);
      assert.equal(err.exitCode, 2);
      const lines = noteLines(err.manifest, 'refused', 'mixed.yaml');
      assert.ok(
        lines.some((l) =>
          /^mixed\.yaml:6:1: document 2: \(document\): kind ServiceMonitor is not a manifest/.test(l),
        ),
        lines.join('\n'),
      );
      return true;
    });
    const kept = await loadExperimentSource(path, { keepRefused: true });
    assert.ok(kept.manifest && kept.manifest.refused.length > 0);
    assert.equal(kept.manifest.translations[0]?.kind, 'PodChaos');
  });
});
