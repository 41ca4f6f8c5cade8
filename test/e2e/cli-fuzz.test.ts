/**
 * The CLI on malformed documents: every one ends with exit 2 and a clean
 * error (no stack trace), both for `validate` and for `run`. The loader and
 * validator get thousands more in-process (test/unit/fuzz-loader.test.ts);
 * here each document costs a process, so a seeded sample of each family.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';

let dir: string;
let home: Awaited<ReturnType<typeof tempHome>>;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'faultline-cli-fuzz-'));
  home = await tempHome();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await home.cleanup();
});

function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const VALID = {
  title: 't',
  description: 'd',
  'steady-state-hypothesis': {
    title: 'h',
    probes: [{ type: 'probe', name: 'p', tolerance: 0, provider: { type: 'process', path: 'true' } }],
  },
  method: [{ type: 'action', name: 'a', provider: { type: 'http', url: 'http://127.0.0.1:1/' } }],
};

function documents(): [string, string][] {
  const r = rng(42);
  const text = JSON.stringify(VALID, null, 2);
  const docs: [string, string][] = [];
  for (let i = 0; i < 8; i++)
    docs.push([`trunc${i}.json`, text.slice(0, Math.floor(r() * (text.length - 1)))]);
  for (let i = 0; i < 6; i++) {
    const bytes = Buffer.from(
      Array.from({ length: 64 + Math.floor(r() * 512) }, () => Math.floor(r() * 256)),
    );
    docs.push([`garbage${i}.${i % 2 ? 'yaml' : 'json'}`, bytes.toString('latin1')]);
  }
  const wrong: unknown[] = [42, null, true, { a: 1 }, ['x']];
  for (let i = 0; i < 8; i++) {
    const doc = structuredClone(VALID) as Record<string, unknown>;
    const keys = ['title', 'description', 'method', 'steady-state-hypothesis'];
    doc[keys[i % keys.length]!] = wrong[Math.floor(r() * wrong.length)];
    docs.push([`wrongtype${i}.json`, JSON.stringify(doc)]);
  }
  docs.push(['deep.json', `${'['.repeat(100_000)}${']'.repeat(100_000)}`]);
  docs.push(['deep.yaml', `${'- '.repeat(5000)}x`]);
  docs.push(['huge-string.json', JSON.stringify({ ...VALID, title: 'x'.repeat(5_000_000), method: 5 })]);
  docs.push(['empty.yaml', '']);
  docs.push(['scalar.yaml', 'just a string']);
  docs.push([
    'aliases.yaml',
    'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
  ]);
  docs.push(['bad.txt', '{}']);
  return docs;
}

test('every malformed document gives exit 2 and one clean error, for validate and run', async () => {
  const docs = documents();
  for (const [name, content] of docs) await writeFile(join(dir, name), content, 'latin1');
  for (const [name] of docs) {
    const file = join(dir, name);
    for (const args of [
      ['validate', file],
      ['run', file, '--journal-path', join(dir, 'journal.json')],
    ]) {
      const r = await runCli(args, { env: { FAULTLINE_HOME: home.home } });
      assert.equal(r.code, 2, `${args[0]} ${name}: exit ${r.code}\n${r.stderr.slice(0, 500)}`);
      assert.ok(r.stderr.trim().length > 0, `${name}: an error is printed`);
      assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, `${name}: no stack trace`);
      assert.ok(r.stderr.length < 20_000, `${name}: the error is not a dump of the input`);
    }
  }
});
