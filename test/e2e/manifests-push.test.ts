/**
 * `faultline convert FILE --push --server URL` (issue #19) through the built CLI (dist/: `npm run
 * build` first) against a real control plane with users and API tokens: Chaos Mesh's
 * `scheduler.cron` becomes a stored experiment and a cron schedule pinned to its version, the Chaos
 * Monkey config a Monkey-mode schedule, a manifest without a schedule only the experiment. A name
 * already taken is refused before anything is sent (and replaced with --replace); a manifest with a
 * refused field sends nothing (exit 2); a viewer token and no token are refused, saying why.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseText } from '../../src/core/parse.js';
import { type CliResult, cliSuite, ROOT, runCli } from '../helpers/cli.js';
import { type AuthServer, type Caller, startAuthServer } from '../helpers/serve-auth.js';

const suite = cliSuite('faultline-manifests-push-');
const SEEDS = join(ROOT, 'test/fixtures/manifests/seeds');
const POD_KILL = join(SEEDS, '003-pod-kill.yaml');
const MONKEY = join(SEEDS, '003-chaos-monkey-configmap.yaml');
const DELAY = join(SEEDS, '000-network-delay.yaml');

let server: AuthServer;
let admin: Caller;
let operatorToken = '';
let viewerToken = '';

before(async () => {
  server = await startAuthServer();
  // A user ends anonymous access: every request needs credentials, as on a shared server.
  await server.addUser('alice', 'admin', 'alice-password-1');
  admin = await server.signIn('alice', 'alice-password-1');
  operatorToken = await server.addToken('ci', 'operator');
  viewerToken = await server.addToken('dashboard', 'viewer');
});
after(async () => {
  await server?.close();
});

const push = (args: string[], token: string | undefined) =>
  runCli(['convert', ...args], { env: { ...suite.env, FAULTLINE_TOKEN: token ?? '' }, cwd: suite.work });

/** No stack trace and no internal error, whatever the answer. */
function clean(r: CliResult, what: string): void {
  const all = r.stdout + r.stderr;
  assert.doesNotMatch(all, /\n\s+at .+\(.*:\d+:\d+\)|internal error/, `${what}: ${all}`);
}

async function get(path: string): Promise<any> {
  const r = await admin.call('GET', path);
  assert.equal(r.status, 200, `GET ${path}: ${r.body}`);
  return r.json;
}

const schedules = async (): Promise<any[]> => (await get('/api/schedules')).schedules;
const experiments = async (): Promise<any[]> => get('/api/experiments');

describe('convert --push', () => {
  test('a PodChaos with scheduler.cron: the experiment uploaded, a cron schedule made with its version', async () => {
    const r = await push([POD_KILL, '--push', '--server', server.url, '--name', 'pod-kill'], operatorToken);
    clean(r, 'push');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /experiment pod-kill version 1 uploaded on http:\/\/127\.0\.0\.1:\d+/);
    assert.match(
      r.stdout,
      /schedule pod-failure created: cron "@every 2h" \(UTC\), runs pod-kill version 1; next fires \d{4}-\d\d-\d\dT/,
    );
    assert.ok(!(r.stdout + r.stderr).includes(operatorToken), 'the token is not printed');

    const made = (await schedules()).find((s) => s.name === 'pod-failure');
    assert.ok(made, 'GET /api/schedules lists the schedule');
    assert.equal(made.timing.cron, '@every 2h');
    assert.equal(made.experiment, 'pod-kill');
    assert.equal(made.version, 1);
    assert.equal(made.createdBy, 'token:ci');
    assert.ok(made.nextFires.length > 0, 'the server computes its fire times');
    assert.match(made.description, /scheduler\.cron.*PodChaos pod-failure/);
    // The stored source reads back as the converted experiment (in YAML, the notes kept as comments).
    const stored = await get('/api/experiments/pod-kill');
    const converted = await runCli(['convert', POD_KILL, '--format', 'json'], { env: suite.env });
    assert.equal(converted.code, 0, converted.stderr);
    assert.deepEqual(parseText(stored.source, stored.format, 'stored').value, JSON.parse(converted.stdout));
    if (stored.format === 'yaml') assert.match(stored.source, /# spec\.selector/);
  });

  test('a schedule name taken: refused before anything is sent; --replace replaces it', async () => {
    const before = await get('/api/experiments/pod-kill/versions');
    const r = await push([POD_KILL, '--push', '--server', server.url, '--name', 'pod-kill-2'], operatorToken);
    clean(r, 'push again');
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /has a schedule named pod-failure already; `--replace` replaces it.*Nothing was sent/,
    );
    assert.ok(!(await experiments()).some((e) => e.name === 'pod-kill-2'), 'no experiment was uploaded');
    assert.deepEqual(await get('/api/experiments/pod-kill/versions'), before);

    const replaced = await push(
      [POD_KILL, '--push', '--server', server.url, '--name', 'pod-kill-2', '--replace', '--format', 'json'],
      operatorToken,
    );
    clean(replaced, 'push --replace');
    assert.equal(replaced.code, 0, replaced.stderr);
    const out = JSON.parse(replaced.stdout);
    assert.deepEqual(out.experiment, { name: 'pod-kill-2', version: 1, created: true });
    assert.equal(out.schedules.length, 1);
    assert.equal(out.schedules[0].action, 'replaced');
    const now = (await schedules()).filter((s) => s.name === 'pod-failure');
    assert.equal(now.length, 1);
    assert.equal(now[0].experiment, 'pod-kill-2', 'the schedule now runs the experiment pushed with it');
    assert.equal(now[0].timing.cron, '@every 2h');
  });

  test('the Chaos Monkey config: a Monkey-mode schedule', async () => {
    const r = await push([MONKEY, '--push', '--server', server.url, '--name', 'monkey'], operatorToken);
    clean(r, 'push monkey');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /experiment monkey version 1 uploaded/);
    assert.match(r.stdout, /schedule \S+ created: Chaos Monkey mode, runs monkey version 1/);
    const made = (await schedules()).filter((s) => s.experiment === 'monkey');
    assert.equal(made.length, 1);
    assert.ok('monkey' in made[0].timing, `a Monkey-mode timing: ${JSON.stringify(made[0].timing)}`);
    assert.ok(made[0].nextFires.length > 0);
  });

  test('a manifest without a schedule: only the experiment; the same again is unchanged', async () => {
    const before = (await schedules()).length;
    const r = await push([DELAY, '--push', '--server', server.url, '--name', 'delay'], operatorToken);
    clean(r, 'push delay');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /experiment delay version 1 uploaded/);
    assert.match(r.stdout, /asks for no schedule: none was made/);
    assert.equal((await schedules()).length, before);
    const again = await push([DELAY, '--push', '--server', server.url, '--name', 'delay'], operatorToken);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /experiment delay version 1 unchanged/);
  });

  test('a refused field: exit 2, the field named, nothing sent', async () => {
    const file = join(suite.work, 'too-many.yaml');
    await writeFile(
      file,
      [
        'apiVersion: chaos-mesh.org/v1alpha1',
        'kind: PodChaos',
        'metadata: { name: too-many, namespace: production }',
        'spec:',
        '  action: pod-kill',
        '  mode: fixed-percent',
        '  value: "150"',
        '  selector: { namespaces: [production] }',
        '  scheduler: { cron: "@every 1h" }',
        '',
      ].join('\n'),
    );
    const beforeAudit = (await get('/api/audit')).length;
    const r = await push([file, '--push', '--server', server.url, '--name', 'too-many'], operatorToken);
    clean(r, 'push refused');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /too-many\.yaml:7:\d+: .*spec\.value: .*150/);
    assert.match(r.stderr, /nothing was sent to http:\/\/127\.0\.0\.1:\d+/);
    assert.equal(r.stdout, '');
    assert.ok(!(await experiments()).some((e) => e.name === 'too-many'));
    assert.ok(!(await schedules()).some((s) => s.name === 'too-many'));
    // Not even a read: the audit has no new entry (it records every change, and sign-ins).
    assert.equal((await get('/api/audit')).length, beforeAudit);
  });

  test('a viewer token: 403 said with the role needed; no token: 401 saying how to send one', async () => {
    const viewer = await push([DELAY, '--push', '--server', server.url, '--name', 'by-viewer'], viewerToken);
    clean(viewer, 'viewer');
    assert.equal(viewer.code, 1, viewer.stderr);
    assert.match(
      viewer.stderr,
      /uploading experiment by-viewer to http:\/\/127\.0\.0\.1:\d+: the server at .* answered 403: experiment\.upload needs the operator role; token:dashboard is a viewer/,
    );
    const anonymous = await push([DELAY, '--push', '--server', server.url, '--name', 'by-nobody'], undefined);
    clean(anonymous, 'no token');
    assert.equal(anonymous.code, 1, anonymous.stderr);
    assert.match(anonymous.stderr, /answered 401: .*set FAULTLINE_TOKEN/);
    const names = (await experiments()).map((e) => e.name);
    assert.ok(!names.includes('by-viewer') && !names.includes('by-nobody'), names.join(', '));
  });

  test('flags: --push needs --server, --server and --replace need --push, a bad URL: exit 2 naming it', async () => {
    const cases: [string[], RegExp][] = [
      [[DELAY, '--push'], /--push: expected --server URL/],
      [[DELAY, '--server', server.url], /--server: only with --push/],
      [[DELAY, '--replace'], /--replace: only with --push/],
      [[DELAY, '--push', '--server', 'ftp://x'], /--server: expected an http\(s\) URL, got 'ftp:\/\/x'/],
    ];
    for (const [args, message] of cases) {
      const r = await push(args, operatorToken);
      clean(r, args.join(' '));
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
