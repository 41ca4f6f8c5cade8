/**
 * Issue #13 item 10, parsing side, with the attacks scaled to run in seconds:
 * a YAML alias bomb is refused naming the limit and the file (exit 2), and a
 * large experiment validates without a per-activity or per-issue scan of the
 * whole document, every issue still reported.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import { MAX_EXPANDED_CHARS, MAX_EXPANDED_NODES, MAX_YAML_ALIASES } from '../../src/core/parse.js';
import { loadExperimentSource } from '../../src/experiment/index.js';
import { validateExperiment } from '../../src/lib/validate.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faultline-limits-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEAD =
  'title: t\ndescription: d\nmethod:\n- type: action\n  name: a\n  provider: {type: http, url: "http://x"}\n';

async function loadError(name: string, text: string): Promise<FaultlineError> {
  const path = join(dir, name);
  await writeFile(path, text);
  try {
    await loadExperimentSource(path);
  } catch (err) {
    assert.ok(err instanceof FaultlineError, String(err));
    assert.equal(err.exitCode, 2);
    assert.ok(err.message.includes(path), `the message names the file: ${err.message}`);
    return err;
  }
  assert.fail(`${name} loaded`);
}

test('a YAML alias bomb of one big string (25 aliases of 1 MiB, under every other limit) is refused naming MAX_EXPANDED_CHARS', async () => {
  // The attack was a 9 MB string and 99 aliases (1.2 GB expanded); 1 MiB and 25 aliases is the same shape.
  const big = 'x'.repeat(1024 * 1024);
  let text = `${HEAD}tags: &d ${big}\nextensions:\n`;
  for (let i = 0; i < 25; i++) text += '- name: e\n  data: *d\n';
  const err = await loadError('strings.yaml', text);
  assert.equal(err.code, 'FAULTLINE_ERR_PARSE');
  assert.match(err.message, /expands to more than [\d,]+ characters .*MAX_EXPANDED_CHARS/);
  assert.ok(err.message.includes(MAX_EXPANDED_CHARS.toLocaleString('en-US')));
});

test('a YAML alias bomb of one big list is refused naming MAX_EXPANDED_NODES', async () => {
  const list = `[${Array.from({ length: 30_000 }, () => '0').join(',')}]`;
  let text = `${HEAD}x: &l ${list}\nextensions:\n`;
  for (let i = 0; i < 99; i++) text += '- *l\n';
  const err = await loadError('nodes.yaml', text);
  assert.match(err.message, /expands to more than [\d,]+ values .*MAX_EXPANDED_NODES/);
  assert.ok(err.message.includes(MAX_EXPANDED_NODES.toLocaleString('en-US')));
});

test('nested aliases (billion laughs) are refused by the alias count, naming it', async () => {
  let text = `${HEAD}a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n`;
  for (let i = 1; i < 10; i++) {
    text += `a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]\n`;
  }
  const err = await loadError('laughs.yaml', text);
  assert.match(err.message, new RegExp(`more than ${MAX_YAML_ALIASES}`));
});

test('a document under the limits with a few aliases still loads', async () => {
  const path = join(dir, 'fine.yaml');
  await writeFile(
    path,
    `${HEAD}tags: &t [a, b]\nextensions:\n- name: e\n  tags: *t\n- name: f\n  tags: *t\n`,
  );
  const loaded = await loadExperimentSource(path);
  assert.deepEqual((loaded.raw as { extensions: { tags: string[] }[] }).extensions[1]?.tags, ['a', 'b']);
});

test('60,000 activities running one command validate with the command looked up once, not per activity', {
  timeout: 300_000,
}, async () => {
  // Each activity's check searched PATH (14 s for 60,000 with a 12-entry PATH);
  // 300 missing directories first make a per-activity search take minutes.
  const savedPath = process.env.PATH;
  process.env.PATH = [
    ...Array.from({ length: 300 }, (_, i) => join(dir, `missing-${i}`)),
    savedPath ?? '/usr/bin:/bin',
  ].join(delimiter);
  try {
    const method = Array.from({ length: 60_000 }, (_, i) =>
      i % 3 === 2
        ? { ref: `a${i - 1}` }
        : { type: 'action', name: `a${i}`, provider: { type: 'process', path: 'true' } },
    );
    const path = join(dir, 'large.json');
    await writeFile(path, JSON.stringify({ title: 't', description: 'd', method }));
    const started = Date.now();
    const result = await validateExperiment(await loadExperimentSource(path), { env: {} });
    assert.deepEqual(result.issues, []);
    // Generous (a loaded machine takes a few seconds; the per-activity search, minutes).
    assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
  } finally {
    process.env.PATH = savedPath;
  }
});

test('identical failing providers each keep their own issue', async () => {
  const method = Array.from({ length: 3 }, (_, i) => ({
    type: 'action',
    name: `a${i}`,
    provider: { type: 'process', path: 'faultline-no-such-command' },
  }));
  const { issues } = await validateExperiment({ title: 't', description: 'd', method }, { env: {} });
  assert.deepEqual(
    issues.map((i) => [i.path, i.message]),
    [0, 1, 2].map((i) => [`method[${i}].provider.path`, "path 'faultline-no-such-command' cannot be found"]),
  );
});

test('issues in an object of many keys are ordered without reading its keys once per issue', async () => {
  // Without positions, issues are ordered by key index; that index was rebuilt
  // per issue (10 s for 60,000 keys). Counting ownKeys shows the scan directly.
  const target: Record<string, unknown> = {};
  for (let i = 0; i < 2000; i++) target[`k${i}`] = { type: 'env', key: `FAULTLINE_TEST_UNSET_${i}` };
  let ownKeys = 0;
  const configuration = new Proxy(target, {
    ownKeys(t) {
      ownKeys++;
      return Reflect.ownKeys(t);
    },
  });
  const { issues } = await validateExperiment(
    {
      title: 't',
      description: 'd',
      configuration,
      method: [{ type: 'action', name: 'a', provider: { type: 'http', url: 'http://x' } }],
    },
    { env: {} },
  );
  assert.equal(issues.length, 501); // 500 kept and the "... and N more" line
  assert.equal(issues[0]?.path, 'configuration.k0.key');
  assert.equal(issues[499]?.path, 'configuration.k499.key');
  assert.ok(ownKeys < 20, `the configuration's keys were read ${ownKeys} times`);
});
