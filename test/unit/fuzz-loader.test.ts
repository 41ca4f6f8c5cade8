/**
 * Loader + validator fuzzing: thousands of malformed documents, generated
 * deterministically, must each end in a FaultlineError with exit status 2 and a
 * message: never another exception, never a hang.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { FaultlineError } from '../../src/core/errors.js';
import { loadExperimentSource } from '../../src/experiment/index.js';
import { assertValidExperiment } from '../../src/lib/validate.js';

/** mulberry32: small, fast, seedable. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!,
  };
}

type Path = (string | number)[];
type Format = 'json' | 'yaml';
interface Case {
  name: string;
  format: Format;
  content: string | Uint8Array;
}

const base = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'experiment', 'valid.json'), 'utf8'),
);

/** Paths the schema constrains, each with values that can never be valid there. */
const WRONG: [Path, unknown[]][] = [
  [['title'], [null, 5, [], {}, true, '']],
  [['description'], [null, 5, [], {}, false, '']],
  [['method'], [null, 5, 'x', {}, true]],
  [['tags'], [5, 'x', {}, null]],
  [
    ['tags', 0],
    [5, null, '', [], {}],
  ],
  [['steady-state-hypothesis'], [5, 'x', [], true, null]],
  [
    ['steady-state-hypothesis', 'title'],
    [null, 5, '', []],
  ],
  [
    ['steady-state-hypothesis', 'probes'],
    [5, 'x', {}, true],
  ],
  [
    ['steady-state-hypothesis', 'probes', 0],
    [null, 5, 'x', [], true],
  ],
  [
    ['steady-state-hypothesis', 'probes', 0, 'tolerance'],
    [1.5, null, { type: 'nope' }, { type: 'range' }, {}, -0.25],
  ],
  [
    ['steady-state-hypothesis', 'probes', 1, 'tolerance', 'pattern'],
    [null, 5, [], {}],
  ],
  [
    ['steady-state-hypothesis', 'probes', 0, 'provider'],
    [null, 5, 'x', [], {}],
  ],
  [
    ['steady-state-hypothesis', 'probes', 0, 'provider', 'url'],
    [null, 5, '', [], {}],
  ],
  [
    ['steady-state-hypothesis', 'probes', 0, 'provider', 'timeout'],
    ['x', -1, [1], {}, null],
  ],
  [
    ['method', 0],
    [null, 5, 'x', [], true, {}],
  ],
  [
    ['method', 0, 'type'],
    [null, 5, 'actio', [], {}],
  ],
  [
    ['method', 0, 'name'],
    [null, 5, '', {}, []],
  ],
  [
    ['method', 0, 'provider', 'type'],
    [null, 'ftp', 5, {}],
  ],
  [
    ['method', 0, 'provider', 'path'],
    [null, 5, '', []],
  ],
  [
    ['method', 0, 'provider', 'arguments'],
    [5, true, null],
  ],
  [
    ['method', 0, 'pauses'],
    [5, 'x', [], null],
  ],
  [
    ['method', 0, 'pauses', 'after'],
    ['soon', null, true, [], {}, '${bad-name}'],
  ],
  [
    ['method', 0, 'background'],
    ['yes', 1, null, []],
  ],
  [
    ['method', 0, 'controls'],
    [5, 'x', {}, [5], [{}]],
  ],
  [
    ['method', 1, 'ref'],
    ['', 5, 'nowhere', null, []],
  ],
  [['rollbacks'], [5, 'x', {}]],
  [
    ['rollbacks', 0, 'provider'],
    [null, 5, 'x'],
  ],
  [['configuration'], [5, 'x', [], true]],
  [
    ['configuration', 'base_url', 'key'],
    [null, 5, '', []],
  ],
  [
    ['configuration', 'retries', 'env_var_type'],
    ['uuid', 5, null],
  ],
  [['secrets'], [5, 'x', []]],
  [
    ['secrets', 'api'],
    [5, 'x', [], null],
  ],
  [
    ['secrets', 'api', 'token'],
    [{ type: 'vault', path: 'p' }, { type: 'env' }],
  ],
  [['controls'], [5, 'x', {}, [{}], [{ name: 'c' }]]],
  [['extensions'], [5, [{}], [{ name: '' }]]],
  [
    ['runtime', 'hypothesis', 'strategy'],
    ['sometimes', 5, null],
  ],
];

const REQUIRED: Path[] = [
  ['title'],
  ['description'],
  ['method'],
  ['steady-state-hypothesis', 'title'],
  ['steady-state-hypothesis', 'probes', 0, 'tolerance'],
  ['steady-state-hypothesis', 'probes', 0, 'provider'],
  ['steady-state-hypothesis', 'probes', 0, 'provider', 'url'],
  ['method', 0, 'type'],
  ['method', 0, 'name'],
  ['method', 0, 'provider'],
  ['method', 0, 'provider', 'type'],
  ['method', 0, 'provider', 'path'],
];

/** Missing parents are created; a parent an earlier mutation made a non-object is left alone. */
function setAt(doc: any, path: Path, value: unknown, remove = false): void {
  let v = doc;
  for (const seg of path.slice(0, -1)) {
    if (v[seg] === undefined) v[seg] = {};
    if (v[seg] === null || typeof v[seg] !== 'object') return;
    v = v[seg];
  }
  const last = path[path.length - 1]!;
  if (remove) delete v[last];
  else v[last] = value;
}

function serialise(doc: unknown, format: Format): string {
  // YAML 1.1, as the loader reads it: the string "yes" must stay quoted.
  return format === 'json' ? JSON.stringify(doc, null, 2) : stringify(doc, { version: '1.1' });
}

function* generate(): Generator<Case> {
  const r = prng(0xfa017);
  const fmt = (): Format => (r.next() < 0.5 ? 'json' : 'yaml');

  // Strict prefixes of valid documents. The YAML text ends with a one-character
  // description, so no prefix of it can be a valid experiment either.
  const { description, ...rest } = base;
  const jsonText = JSON.stringify(base, null, 2).trim();
  const yamlText = serialise({ ...rest, description: description.slice(0, 1) }, 'yaml').trim();
  for (let i = 0; i < 1000; i++) {
    const format = i % 2 === 0 ? 'json' : 'yaml';
    const text = format === 'json' ? jsonText : yamlText;
    yield { name: `truncated-${i}`, format, content: text.slice(0, r.int(text.length)) };
  }

  // Wrong types at constrained paths, one to three at a time.
  for (let i = 0; i < 1200; i++) {
    const doc = structuredClone(base);
    const n = 1 + r.int(3);
    for (let k = 0; k < n; k++) {
      const [path, values] = r.pick(WRONG);
      setAt(doc, path, structuredClone(r.pick(values)));
    }
    const format = fmt();
    yield { name: `wrong-type-${i}`, format, content: serialise(doc, format) };
  }

  // Required keys removed.
  for (let i = 0; i < 300; i++) {
    const doc = structuredClone(base);
    setAt(doc, r.pick(REQUIRED), undefined, true);
    const format = fmt();
    yield { name: `missing-${i}`, format, content: serialise(doc, format) };
  }

  // Random bytes, alone or after a valid-looking start.
  for (let i = 0; i < 400; i++) {
    const bytes = new Uint8Array(r.int(4096));
    for (let k = 0; k < bytes.length; k++) bytes[k] = r.int(256);
    const format = fmt();
    const content =
      i % 4 === 0
        ? Buffer.concat([Buffer.from(format === 'json' ? '{"title": "' : 'title: '), bytes])
        : bytes;
    yield { name: `bytes-${i}`, format, content };
  }

  // Deep nesting, 10k levels.
  const depth = 10_000;
  yield {
    name: 'deep-json-arrays',
    format: 'json',
    content: `{"method": ${'['.repeat(depth)}${']'.repeat(depth)}}`,
  };
  yield {
    name: 'deep-json-objects',
    format: 'json',
    content: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
  };
  yield { name: 'deep-json-unclosed', format: 'json', content: '['.repeat(depth) };
  yield {
    name: 'deep-yaml-flow',
    format: 'yaml',
    content: `method: ${'['.repeat(depth)}${']'.repeat(depth)}\n`,
  };
  yield { name: 'deep-yaml-block-seq', format: 'yaml', content: `${'- '.repeat(depth)}x\n` };
  yield {
    name: 'deep-yaml-block-map',
    format: 'yaml',
    content: Array.from({ length: depth }, (_, k) => `${' '.repeat(k)}k:`).join('\n'),
  };

  // 5 MB strings.
  const big = 'x'.repeat(5 * 1024 * 1024);
  for (const format of ['json', 'yaml'] as const) {
    yield {
      name: `big-title-${format}`,
      format,
      content: serialise({ ...base, title: 5, description: big }, format),
    };
    const doc = structuredClone(base);
    doc.method[0].provider.type = big;
    yield { name: `big-provider-type-${format}`, format, content: serialise(doc, format) };
  }
  yield { name: 'big-key-json', format: 'json', content: JSON.stringify({ [big]: 1, title: 't' }) };

  // Anchors and aliases: bombs of every shape, cycles, undefined and misplaced
  // aliases, merges of non-maps, each in a document that is otherwise invalid
  // (title: 5) or blows a limit, so none can pass.
  const head =
    'title: 5\ndescription: d\nmethod:\n- type: action\n  name: a\n  provider: {type: http, url: "http://x"}\n';
  const chunk = 'x'.repeat(256 * 1024);
  yield {
    name: 'alias-bomb-string',
    format: 'yaml',
    content: `title: t\ndescription: &d ${chunk}\nmethod:\n${Array.from({ length: 99 }, () => '- *d').join('\n')}\n`,
  };
  yield {
    name: 'alias-bomb-list',
    format: 'yaml',
    content: `${head}l: &l [${Array.from({ length: 25_000 }, () => '0').join(',')}]\nx: [${Array.from({ length: 99 }, () => '*l').join(', ')}]\n`,
  };
  let laughs = `${head}a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n`;
  for (let k = 1; k < 9; k++)
    laughs += `a${k}: &a${k} [${Array.from({ length: 9 }, () => `*a${k - 1}`).join(', ')}]\n`;
  yield { name: 'alias-billion-laughs', format: 'yaml', content: laughs };
  let merges = `${head}m0: &m0 {a: 1, b: 2}\n`;
  for (let k = 1; k < 30; k++) merges += `m${k}: &m${k} {<<: [*m${k - 1}, *m${k - 1}], k${k}: ${k}}\n`;
  yield { name: 'alias-merge-chain', format: 'yaml', content: merges };
  const aliasShapes = [
    'x: &a [*a]\n',
    'x: &a {self: *a}\n',
    'x: *nowhere\n',
    'x: &a\ny: *a\n',
    'x: &a 1\ny: {<<: *a}\n',
    'x: &a [1]\ny: {<<: *a}\n',
    'x: &a &b 1\n',
    '*a: 1\n',
    'x: &a {k: 1}\n? *a\n: 2\n',
    'x: &\n',
    'x: & a\n',
    'x: [&a 1, *a, *a, &a 2, *a]\n',
    'x: !!str &a [1]\n',
  ];
  for (let i = 0; i < 300; i++) {
    const picked = Array.from({ length: 1 + r.int(3) }, () => r.pick(aliasShapes));
    const renamed = picked.map((shape, k) => shape.replaceAll(/\b(x|y):/g, (_m, key) => `${key}${k}:`));
    yield { name: `alias-shape-${i}`, format: 'yaml', content: head + renamed.join('') };
  }
  // Anchored activities reused as other activities and as the whole method.
  for (let i = 0; i < 50; i++) {
    const copies = 1 + r.int(40);
    const body = `title: t\ndescription: d\nmethod:\n- &act {type: action, name: a, provider: {type: ${r.pick(['http', 'ftp', 'process'])}, url: 5}}\n${'- *act\n'.repeat(copies)}rollbacks: *${r.pick(['act', 'nope'])}\n`;
    yield { name: `alias-activities-${i}`, format: 'yaml', content: body };
  }

  // Huge arrays.
  for (const format of ['json', 'yaml'] as const) {
    yield {
      name: `huge-method-${format}`,
      format,
      content: serialise(
        { ...base, method: Array.from({ length: 50_000 }, (_, k) => (k % 2 ? k : { ref: k })) },
        format,
      ),
    };
  }
  yield {
    name: 'huge-tags',
    format: 'json',
    content: JSON.stringify({ ...base, tags: Array.from({ length: 200_000 }, (_, k) => k) }),
  };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faultline-fuzz-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('the base document is valid (so every failure below comes from the mutation)', async () => {
  const path = join(dir, 'base.yaml');
  await writeFile(path, serialise(base, 'yaml'));
  await assertValidExperiment(await loadExperimentSource(path), { env: {} });
});

test('a key megabytes long is refused in bounded memory (its typo suggestion measured nothing that long)', async () => {
  // The edit distance to each known key once built a matrix row per character of the key:
  // 5 MB of key exhausted a 128 MB heap (and took minutes on a larger one).
  const path = join(dir, 'big-key.json');
  await writeFile(path, JSON.stringify({ ['k'.repeat(5 * 1024 * 1024)]: 1, title: 't' }));
  const experiment = fileURLToPath(new URL('../../src/experiment/index.ts', import.meta.url));
  const script = `
    const { assertValidExperiment, loadExperimentSource } = await import(${JSON.stringify(experiment)});
    try {
      await assertValidExperiment(await loadExperimentSource(${JSON.stringify(path)}), { env: {} });
      console.log('valid');
    } catch (err) {
      console.log(err.constructor.name, err.exitCode);
    }`;
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--max-old-space-size=128', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  assert.equal(out.trim(), 'FaultlineError 2');
});

// Time is not what this test checks (the run's length is the machine's; about 28 s with others'
// load on a 2-core machine, most of it writing and parsing the large cases); the timeout is only
// a backstop against a hang.
test('every malformed document ends in a FaultlineError with exit status 2', {
  timeout: 600_000,
}, async () => {
  let count = 0;
  for (const c of generate()) {
    const path = join(dir, `case.${c.format}`);
    await writeFile(path, c.content);
    let error: unknown;
    try {
      await assertValidExperiment(await loadExperimentSource(path), { env: {} });
    } catch (err) {
      error = err;
    }
    const detail = () =>
      `${c.name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n` +
      `input starts with:\n${Buffer.from(c.content).subarray(0, 600).toString('utf8')}`;
    assert.ok(error instanceof FaultlineError, `${c.name} did not fail with a FaultlineError\n${detail()}`);
    assert.equal(error.exitCode, 2, detail());
    assert.ok(error.message.trim().length > 0, detail());
    count++;
  }
  assert.ok(count > 2850, `only ${count} cases`);
});
