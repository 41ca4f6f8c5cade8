/** The proxy server's config file: every problem with its path, warnings for ignored keys, and no crash on junk. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import { maxFlowDepth } from '../../src/core/parse.js';
import { checkProxyConfig, loadProxyConfig } from '../../src/proxy/config.js';
import { prng } from '../helpers/http-raw.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faultline-proxy-config-'));
});
after(() => rm(dir, { recursive: true, force: true }));

test('valid files: keys case-insensitive, null enabled = default, toxics and unknown keys warned about', async () => {
  const file = join(dir, 'ok.yaml');
  await writeFile(
    file,
    '- Name: a\n  UPSTREAM: 127.0.0.1:1\n  enabled: null\n  toxics: [{type: latency}]\n  lisen: 1\n- {name: b, upstream: "x:2", listen: "127.0.0.1:0", enabled: false}\n',
  );
  const { proxies, warnings } = await loadProxyConfig(file);
  assert.deepEqual(proxies, [
    { name: 'a', upstream: '127.0.0.1:1' },
    { name: 'b', upstream: 'x:2', listen: '127.0.0.1:0', enabled: false },
  ]);
  assert.deepEqual(warnings, [
    '[0].toxics: toxics in the config file are ignored (add them through the API)',
    '[0].lisen: unknown key ignored',
  ]);
  const empty = join(dir, 'empty.json');
  await writeFile(empty, '[]');
  assert.deepEqual((await loadProxyConfig(empty)).proxies, []);
});

test('every problem is reported with its path', () => {
  assert.deepEqual(checkProxyConfig({ name: 'x' }).issues, [
    { path: '', message: 'expected an array of proxies ({name, listen, upstream, enabled}), got an object' },
  ]);
  assert.deepEqual(
    checkProxyConfig([
      'x',
      { name: '', upstream: 1, listen: 5, enabled: 'yes' },
      { name: 'a', upstream: 'u' },
      { name: 'a', upstream: 'u' },
    ]).issues.map((i) => `${i.path}: ${i.message}`),
    [
      '[0]: expected a proxy object, got string "x"',
      '[1].name: required',
      '[1].upstream: expected a string, got number 1',
      '[1].listen: expected a "host:port" string, got number 5',
      '[1].enabled: expected true or false, got string "yes"',
      '[3].name: duplicate proxy name "a" (also at [2])',
    ],
  );
});

test('nesting is measured outside quoted strings, before the parser recurses', () => {
  assert.equal(maxFlowDepth('[{"a": "[[[[", \'{{{{\': [1]}]'), 3);
  assert.equal(maxFlowDepth('"\\"[[["'), 0);
  assert.equal(maxFlowDepth(']]][['), 2);
});

test('junk of any kind is a FaultlineError with exit status 2, never a crash', async () => {
  const rand = prng(77);
  const samples = [
    '',
    'null',
    '{',
    '[{"name": "a", "upstream": ',
    '- - - -',
    `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
    'a: &a [x, x]\nb: [*a, *a, *a]\n',
  ];
  for (let i = 0; i < 40; i++) {
    samples.push(
      Buffer.from(
        Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)),
      ).toString('latin1'),
    );
  }
  for (const [i, text] of samples.entries()) {
    for (const ext of ['json', 'yaml']) {
      const file = join(dir, `junk${i}.${ext}`);
      await writeFile(file, text, 'latin1');
      try {
        await loadProxyConfig(file);
      } catch (err) {
        assert.ok(err instanceof FaultlineError, `${file}: ${String(err)}`);
        assert.equal(err.exitCode, 2, err.message);
      }
    }
  }
  await assert.rejects(
    loadProxyConfig(join(dir, 'missing.json')),
    (err: FaultlineError) => err.exitCode === 2,
  );
});
