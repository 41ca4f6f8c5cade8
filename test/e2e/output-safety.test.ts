/**
 * End to end (built CLI, as root): the attacks of issue #13 items 12 and 15.
 * Output files: a symbolic link planted where `run`, `report`, `demo` and
 * `init` write (to a root-owned file, or dangling) is refused before anything
 * runs, exit 2, and neither the linked file nor a new one is written.
 * Terminal output: a title and names carrying `\x1b]0;pwned\x07\x1b[2J` reach
 * no terminal raw through `run`, `validate` and `report` in every format.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliSuite, runCli, startCli } from '../helpers/cli.js';

const suite = cliSuite('faultline-e2e-output-safety-');
const ATTACK = '\x1b]0;pwned\x07\x1b[2J';
const SHOWN = '\\x1b]0;pwned\\x07\\x1b[2J';
/** What a terminal acts on: C0 except newline and tab, DEL, C1. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

let precious: string;
let experiment: string;

let prepared: Promise<void> | undefined;
/** Once, inside the first test (cliSuite's directories exist only then). */
const prepare = () => {
  prepared ??= setUp();
  return prepared;
};

async function setUp() {
  // A root-owned file outside the output directories: the target of the planted links.
  await mkdir(join(suite.work, 'etc'));
  precious = join(suite.work, 'etc', 'precious');
  await writeFile(precious, 'root only\n');
  experiment = join(suite.work, 'hostile.json');
  await writeFile(
    experiment,
    JSON.stringify({
      version: '1.0.0',
      title: `${ATTACK}title \x9b2J`,
      description: 'names that try to drive the terminal',
      method: [
        {
          type: 'action',
          name: `say ${ATTACK}`,
          provider: { type: 'process', path: process.execPath, arguments: ['-e', 'process.exit(0)'] },
        },
      ],
    }),
  );
}

async function assertPreciousUntouched() {
  assert.equal(await readFile(precious, 'utf8'), 'root only\n');
}

test('run: a journal path that is a symbolic link (to a root-owned file, or dangling) is refused before the run, exit 2', async () => {
  await prepare();
  const linked = join(suite.work, 'journal-link.json');
  await symlink(precious, linked);
  const r = await runCli(['run', experiment, '--journal-path', linked], { env: suite.env });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--journal-path: refusing to write .*journal-link\.json: it is a symbolic link/);
  assert.doesNotMatch(r.stderr, /Running experiment/, 'refused before anything ran');
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  await assertPreciousUntouched();

  const created = join(suite.work, 'etc', 'created-by-root');
  const dangling = join(suite.work, 'dangling.json');
  await symlink(created, dangling);
  const d = await runCli(['run', experiment, '--journal-path', dangling], { env: suite.env });
  assert.equal(d.code, 2, d.stderr);
  assert.match(d.stderr, /--journal-path: refusing to write .*dangling\.json: it is a symbolic link/);
  await assert.rejects(stat(created), { code: 'ENOENT' });

  // --report paths are checked up front too.
  const reportLink = join(suite.work, 'report-link.html');
  await symlink(precious, reportLink);
  const rep = await runCli(
    ['run', experiment, '--journal-path', join(suite.work, 'j0.json'), '--report', `html=${reportLink}`],
    { env: suite.env },
  );
  assert.equal(rep.code, 2, rep.stderr);
  assert.match(rep.stderr, /--report html: refusing to write .*report-link\.html: it is a symbolic link/);
  await assert.rejects(stat(join(suite.work, 'j0.json')), { code: 'ENOENT' });
  await assertPreciousUntouched();
});

test('report -o, demo --out and init refuse a planted link, exit 2; nothing is written through it', async () => {
  await prepare();
  const journal = join(suite.work, 'ok.json');
  const ok = await runCli(['run', experiment, '--journal-path', journal], { env: suite.env });
  assert.equal(ok.code, 0, ok.stderr);

  const mdLink = join(suite.work, 'report.md');
  await symlink(precious, mdLink);
  const r = await runCli(['report', journal, '-o', mdLink], { env: suite.env });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /-o: refusing to write .*report\.md: it is a symbolic link/);
  await assertPreciousUntouched();

  const out = join(suite.work, 'demo-out');
  await mkdir(out);
  await symlink(join(suite.work, 'etc', 'demo-created'), join(out, 'report.html'));
  const demo = await runCli(['demo', '--out', out], { env: suite.env });
  assert.equal(demo.code, 2, demo.stderr);
  assert.match(demo.stderr, /--out: refusing to write .*report\.html: it is a symbolic link/);
  assert.doesNotMatch(demo.stderr, /Starting the demo system/, 'refused before the demo started');
  await assert.rejects(stat(join(suite.work, 'etc', 'demo-created')), { code: 'ENOENT' });
  await assert.rejects(stat(join(out, 'journal.json')), { code: 'ENOENT' });

  const scaffold = join(suite.work, 'experiment.yaml');
  await symlink(join(suite.work, 'etc', 'init-created'), scaffold);
  const init = await runCli(['init', '--experiment-path', scaffold, '--title', 't', '--no-input'], {
    env: suite.env,
  });
  assert.equal(init.code, 2, init.stderr);
  assert.match(init.stderr, /--experiment-path: refusing to write .*experiment\.yaml: it is a symbolic link/);
  await assert.rejects(stat(join(suite.work, 'etc', 'init-created')), { code: 'ENOENT' });
  assert.ok((await lstat(scaffold)).isSymbolicLink());
});

test('run (text and JSON logs) and validate show a hostile title and names escaped, never raw', async () => {
  await prepare();
  const journal = join(suite.work, 'escaped.json');
  const r = await runCli(['run', experiment, '--journal-path', journal], { env: suite.env });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, RAW_CONTROL);
  assert.ok(r.stderr.includes(`Running experiment: ${SHOWN}title \\x9b2J`), r.stderr);
  assert.ok(r.stderr.includes(`action 'say ${SHOWN}' succeeded`), r.stderr);
  // The journal keeps the data as it was: escaping is for display only.
  assert.equal(JSON.parse(await readFile(journal, 'utf8')).experiment.title, `${ATTACK}title \x9b2J`);

  const json = await runCli(['--log-format', 'json', 'run', experiment, '--journal-path', journal], {
    env: suite.env,
  });
  assert.equal(json.code, 0, json.stderr);
  assert.doesNotMatch(json.stderr, RAW_CONTROL);
  const lines = json.stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { message: string });
  assert.ok(lines.some((l) => l.message === `Running experiment: ${SHOWN}title \\x9b2J`));

  const invalid = join(suite.work, 'invalid.json');
  await writeFile(
    invalid,
    JSON.stringify({
      title: ATTACK,
      description: 'd',
      [`key${ATTACK}`]: 1,
      method: [{ type: ATTACK, name: ATTACK, provider: { type: 'process', path: ATTACK } }],
    }),
  );
  const v = await runCli(['validate', invalid, experiment], { env: suite.env });
  assert.equal(v.code, 2, v.stderr);
  assert.doesNotMatch(v.stderr, RAW_CONTROL);
  assert.ok(v.stderr.includes(SHOWN), v.stderr);
});

test('report prints every format with control characters escaped', async () => {
  await prepare();
  const journal = join(suite.work, 'for-reports.json');
  const r = await runCli(['run', experiment, '--journal-path', journal], { env: suite.env });
  assert.equal(r.code, 0, r.stderr);
  for (const format of ['markdown', 'html', 'junit', 'json']) {
    const rep = await runCli(['report', journal, '--format', format], { env: suite.env });
    assert.equal(rep.code, 0, `${format}: ${rep.stderr}`);
    assert.doesNotMatch(rep.stdout, RAW_CONTROL, format);
    assert.doesNotMatch(rep.stderr, RAW_CONTROL, format);
    if (format === 'json') {
      // The same strings, escaped as JSON.
      const doc = JSON.parse(rep.stdout) as { runs: { title: string }[] };
      assert.equal(doc.runs[0]?.title, `${ATTACK}title \x9b2J`);
    } else if (format !== 'junit') {
      // Markdown also escapes the brackets: `\x1b\]0;pwned\x07\x1b\[2J`.
      assert.match(rep.stdout, /\\x1b\\?\]0;pwned\\x07\\x1b/, format);
    }
  }
  // A report title given on the command line is journal-like text too.
  const titled = await runCli(['report', journal, '--format', 'markdown', '--title', ATTACK], {
    env: suite.env,
  });
  assert.equal(titled.code, 0, titled.stderr);
  assert.doesNotMatch(titled.stdout, RAW_CONTROL);
});

test('proxy list, get and status show proxy and toxic names from any API client escaped', async () => {
  await prepare();
  const server = startCli(['proxy', '--port', '0'], {
    env: { ...suite.env, FAULTLINE_PROXY_URL: '', FAULTLINE_PROXY_TOKEN: '' },
  });
  try {
    await server.waitFor(/API listening on (http:\/\/\S+)/);
    const url = /API listening on (http:\/\/\S+)/.exec(server.stderr())![1]!;
    const name = `db${ATTACK}`;
    const created = await fetch(`${url}/proxies`, {
      method: 'POST',
      body: JSON.stringify({ name, listen: '127.0.0.1:0', upstream: '127.0.0.1:9' }),
    });
    assert.equal(created.status, 201, await created.text());
    const toxic = await fetch(`${url}/proxies/${encodeURIComponent(name)}/toxics`, {
      method: 'POST',
      body: JSON.stringify({ name: `t${ATTACK}`, type: 'latency', attributes: { latency: 1 } }),
    });
    assert.equal(toxic.status, 200, await toxic.text());
    const env = { ...suite.env, FAULTLINE_PROXY_TOKEN: '' };
    for (const args of [
      ['proxy', 'list', '--url', url],
      ['proxy', 'get', name, '--url', url],
      ['proxy', 'toxic', 'list', name, '--url', url],
      ['proxy', 'list', '--json', '--url', url],
      ['status'],
      ['status', '--json'],
    ]) {
      const r = await runCli(args, { env });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, RAW_CONTROL, args.join(' '));
      assert.doesNotMatch(r.stderr, RAW_CONTROL, args.join(' '));
      if (args.includes('--json')) assert.ok(r.stdout.includes('\\u001b]0;pwned\\u0007'), r.stdout);
      else assert.ok(r.stdout.includes(SHOWN), `${args.join(' ')}: ${r.stdout}`);
    }
    const reset = await fetch(`${url}/reset`, { method: 'POST' });
    assert.equal(reset.status, 204);
  } finally {
    server.child.kill('SIGTERM');
    await server.done;
  }
});
