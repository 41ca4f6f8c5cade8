/**
 * End to end: the built CLI runs `faultline proxy` (the server, on port 0) and
 * the client subcommands drive it; SIGTERM/SIGINT shut it down with exit 0.
 * Exit status 1 for errors the server reports, 2 for usage and config errors.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Cli, runCli, startCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';
import { closedPort, echoRoundTrip, echoServer } from '../helpers/http-raw.js';
import { refused } from '../helpers/refused.js';

let home: Awaited<ReturnType<typeof tempHome>>;
let work: string;
let env: NodeJS.ProcessEnv;
let upstream: Awaited<ReturnType<typeof echoServer>>;
let UP: string;

const LISTENING = /API listening on (http:\/\/\S+)/;

async function startProxy(
  args: string[] = [],
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<{ cli: Cli; url: string }> {
  const cli = startCli(['proxy', '--port', '0', ...args], { env: { ...env, ...extraEnv } });
  await cli.waitFor(LISTENING);
  const url = LISTENING.exec(cli.stderr())![1]!;
  return { cli, url };
}

async function stop(cli: Cli, signal: NodeJS.Signals = 'SIGTERM') {
  cli.child.kill(signal);
  const r = await cli.done;
  assert.equal(r.code, 0, r.stderr);
  return r;
}

const portOf = (listen: string) => Number(listen.slice(listen.lastIndexOf(':') + 1));

/** One clear line on stderr, no stack trace. */
function assertOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

before(async () => {
  home = await tempHome();
  work = await mkdtemp(join(tmpdir(), 'faultline-proxy-e2e-'));
  env = { FAULTLINE_HOME: home.home, FAULTLINE_PROXY_URL: '', FAULTLINE_PROXY_TOKEN: '' };
  upstream = await echoServer();
  UP = `127.0.0.1:${upstream.port}`;
});

after(async () => {
  await upstream.close();
  await home.cleanup();
  await rm(work, { recursive: true, force: true });
});

describe('faultline proxy and its client subcommands', () => {
  let server: { cli: Cli; url: string };
  const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    runCli(['proxy', ...args], { env: { ...env, FAULTLINE_PROXY_URL: server.url, ...extraEnv } });

  before(async () => {
    server = await startProxy();
  });
  after(async () => {
    if (server.cli.child.exitCode === null) await stop(server.cli);
  });

  test('create, list, get (text and --json)', async () => {
    const created = await cli(['create', 'web', '--listen', '127.0.0.1:0', '--upstream', UP, '--json']);
    assert.equal(created.code, 0, created.stderr);
    const p = JSON.parse(created.stdout);
    assert.equal(p.name, 'web');
    assert.match(p.listen, /^127\.0\.0\.1:\d+$/);
    assert.equal((await echoRoundTrip(portOf(p.listen), 'through')).reply, 'through');

    const text = await cli(['create', 'off', '--listen', '127.0.0.1:0', '--upstream', UP, '--disabled']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stderr, /created proxy off: 127\.0\.0\.1:0 -> .* \(disabled\)/);

    const list = await cli(['list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+LISTEN\s+UPSTREAM\s+ENABLED\s+TOXICS\n/);
    assert.match(
      list.stdout,
      new RegExp(`\\nweb\\s+${p.listen.replace(/\./g, '\\.')}\\s+${UP.replace(/\./g, '\\.')}\\s+yes\\s+-`),
    );
    assert.match(list.stdout, /\noff\s+.*\s+no\s+-/);
    const listJson = await cli(['list', '--json', '--url', server.url]);
    assert.deepEqual(Object.keys(JSON.parse(listJson.stdout)), ['off', 'web']);
    const get = await cli(['get', 'web', '--json']);
    assert.deepEqual(JSON.parse(get.stdout), p);
  });

  test('toxic add / list / update / remove, with the latency seen on real traffic', async () => {
    const port = portOf(JSON.parse((await cli(['get', 'web', '--json'])).stdout).listen);
    const add = await cli([
      'toxic',
      'add',
      'web',
      '--type',
      'latency',
      '--attribute',
      'latency=200',
      '--attribute',
      'jitter=0',
      '--json',
    ]);
    assert.equal(add.code, 0, add.stderr);
    assert.deepEqual(JSON.parse(add.stdout), {
      attributes: { latency: 200, jitter: 0 },
      name: 'latency_downstream',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
    });
    const slow = await echoRoundTrip(port);
    assert.ok(slow.ms >= 190, `round trip ${slow.ms} ms`);

    const up = await cli([
      'toxic',
      'add',
      'web',
      '--type',
      'noop',
      '--name',
      'n',
      '--stream',
      'upstream',
      '--toxicity',
      '0.5',
    ]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /added toxic to web: n: noop \(upstream, toxicity 0\.5\)/);

    const update = await cli(['toxic', 'update', 'web', 'latency_downstream', '--attribute', 'latency=20']);
    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stderr, /latency_downstream: latency latency=20 jitter=0 \(downstream\)/);

    const list = await cli(['toxic', 'list', 'web']);
    assert.equal(
      list.stdout,
      'n: noop (upstream, toxicity 0.5)\nlatency_downstream: latency latency=20 jitter=0 (downstream)\n',
    );

    for (const name of ['latency_downstream', 'n']) {
      const rm = await cli(['toxic', 'remove', 'web', name]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.match(rm.stderr, new RegExp(`removed toxic ${name} from web`));
    }
    assert.ok((await echoRoundTrip(port)).ms < 100);
  });

  test('toxic add --ttl: the toxic removes itself', async () => {
    const add = await cli([
      'toxic',
      'add',
      'web',
      '--type',
      'noop',
      '--name',
      'brief',
      '--ttl',
      '300',
      '--json',
    ]);
    assert.equal(add.code, 0, add.stderr);
    assert.ok(JSON.parse(add.stdout).ttl > 0);
    const deadline = Date.now() + 5000;
    for (;;) {
      const list = await cli(['toxic', 'list', 'web', '--json']);
      if (JSON.parse(list.stdout).length === 0) break;
      assert.ok(Date.now() < deadline, 'expired in time');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  test('update, reset and delete', async () => {
    const off = await cli(['update', 'web', '--disable']);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stderr, /\(disabled\)/);
    await cli(['toxic', 'add', 'web', '--type', 'noop']);
    const reset = await cli(['reset']);
    assert.equal(reset.code, 0, reset.stderr);
    const web = JSON.parse((await cli(['get', 'web', '--json'])).stdout);
    assert.equal(web.enabled, true);
    assert.deepEqual(web.toxics, []);
    const del = await cli(['delete', 'off']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stderr, /deleted proxy off/);
  });

  test('errors the server reports: one line, exit 1', async () => {
    const dup = await cli(['create', 'web', '--listen', '127.0.0.1:0', '--upstream', UP]);
    assert.equal(dup.code, 1);
    assertOneLineError(dup.stderr, /create proxy "web": HTTP 409: proxy already exists/);
    const missing = await cli(['delete', 'nope']);
    assert.equal(missing.code, 1);
    assertOneLineError(missing.stderr, /HTTP 404: proxy not found/);
    const type = await cli(['toxic', 'add', 'web', '--type', 'down']);
    assert.equal(type.code, 1);
    assertOneLineError(type.stderr, /HTTP 400: invalid toxic type/);
    const attr = await cli(['toxic', 'add', 'web', '--type', 'latency', '--attribute', 'latency=fast']);
    assert.equal(attr.code, 1);
    assertOneLineError(
      attr.stderr,
      /HTTP 400: bad request body: json: cannot unmarshal string into Go struct field LatencyToxic\.attributes\.latency of type int64/,
    );
    const dead = await closedPort();
    const unreachable = await cli(['list', '--url', `http://127.0.0.1:${dead}`]);
    assert.equal(unreachable.code, 1);
    assertOneLineError(
      unreachable.stderr,
      new RegExp(`cannot reach the proxy API at http://127\\.0\\.0\\.1:${dead}`),
    );
  });

  test('usage errors: exit 2', async () => {
    for (const args of [
      ['toxic', 'add', 'web', '--type', 'latency', '--toxicity', 'lots'],
      ['toxic', 'add', 'web', '--type', 'latency', '--attribute', 'nokey'],
      ['toxic', 'add', 'web', '--type', 'latency', '--stream', 'sideways'],
      ['toxic', 'add', 'web', '--type', 'latency', '--ttl', '-5'],
      ['toxic', 'add', 'web'],
      ['toxic', 'update', 'web', 'x'],
      ['create', 'x', '--upstream', UP],
      ['update', 'web'],
      ['update', 'web', '--enable', '--disable'],
      ['list', '--url', 'ftp://example.com'],
      ['--port', 'eighty'],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });

  test('`proxy --help` shows the server options (--host, --port, --config, --token), exit 0', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const flag of ['--host <host>', '--port <port>', '--config <file>', '--token <token>']) {
      assert.ok(r.stdout.includes(flag), `${flag} missing from:\n${r.stdout}`);
    }
    assert.match(r.stdout, /--port <port> +API port \(0 picks a free one\) \(default: 8474\)/);
  });

  test('SIGTERM closes the API and every proxy, exit 0', async () => {
    const web = JSON.parse((await cli(['get', 'web', '--json'])).stdout);
    const r = await stop(server.cli);
    assert.match(r.stderr, /received SIGTERM/);
    assert.match(r.stderr, /proxy stopped/);
    assert.ok(await refused(portOf(web.listen)), 'the proxy listener is closed');
    assert.ok(await refused(Number(new URL(server.url).port)), 'the API is closed');
  });
});

describe('faultline proxy serve: options, config, token', () => {
  test('`proxy serve` runs the server too, and SIGINT stops it with exit 0', async () => {
    const cli = startCli(['proxy', 'serve', '--port', '0'], { env });
    await cli.waitFor(LISTENING);
    await stop(cli, 'SIGINT');
  });

  test('--config (YAML or JSON) creates the proxies before the API listens', async () => {
    const file = join(work, 'proxies.yaml');
    await writeFile(
      file,
      `- name: cache\n  listen: 127.0.0.1:0\n  upstream: ${UP}\n- name: queue\n  listen: 127.0.0.1:0\n  upstream: ${UP}\n  enabled: false\n  toxics: []\n`,
    );
    const { cli, url } = await startProxy(['--config', file]);
    try {
      assert.match(cli.stderr(), /proxies\.yaml: \[1\]\.toxics: toxics in the config file are ignored/);
      const list = JSON.parse((await runCli(['proxy', 'list', '--json', '--url', url], { env })).stdout);
      assert.deepEqual(Object.keys(list), ['cache', 'queue']);
      assert.equal(list.queue.enabled, false);
      assert.equal((await echoRoundTrip(portOf(list.cache.listen), 'cfg')).reply, 'cfg');
    } finally {
      await stop(cli);
    }
    const jsonFile = join(work, 'proxies.json');
    await writeFile(jsonFile, JSON.stringify([{ name: 'j', upstream: UP }]));
    const second = await startProxy(['--config', jsonFile]);
    try {
      const j = JSON.parse(
        (await runCli(['proxy', 'get', 'j', '--json', '--url', second.url], { env })).stdout,
      );
      assert.match(
        j.listen,
        /^127\.0\.0\.1:\d+$/,
        'no host in listen: loopback while the API is loopback-only',
      );
    } finally {
      await stop(second.cli);
    }
  });

  test('an invalid config is reported with every problem and its line; exit 2, nothing listens', async () => {
    const file = join(work, 'bad.yaml');
    await writeFile(
      file,
      `- name: a\n  upstream: ${UP}\n- listen: 127.0.0.1:0\n  upstream: 5\n- name: a\n  upstream: ${UP}\n`,
    );
    const r = await runCli(['proxy', '--port', '0', '--config', file], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /proxy config .*bad\.yaml is invalid \(3 problems\)/);
    assert.match(r.stderr, /\[1\]\.name: required \(line 3/);
    assert.match(r.stderr, /\[1\]\.upstream: expected a string, got number 5 \(line 4/);
    assert.match(r.stderr, /\[2\]\.name: duplicate proxy name "a" \(also at \[0\]\)/);
    assert.doesNotMatch(r.stderr, /API listening/);

    const missing = await runCli(['proxy', '--port', '0', '--config', join(work, 'nope.json')], { env });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /does not exist/);

    const broken = join(work, 'broken.json');
    await writeFile(broken, '[{"name": "x",');
    const parse = await runCli(['proxy', '--port', '0', '--config', broken], { env });
    assert.equal(parse.code, 2);
    assert.match(parse.stderr, /Cannot parse .*broken\.json as JSON/);
  });

  test('a config proxy that cannot bind stops the server: exit 2', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const busy = `127.0.0.1:${(blocker.address() as { port: number }).port}`;
    try {
      const file = join(work, 'busy.json');
      await writeFile(file, JSON.stringify([{ name: 'clash', listen: busy, upstream: UP }]));
      const r = await runCli(['proxy', '--port', '0', '--config', file], { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /proxy config .*busy\.json: .*address already in use/);
    } finally {
      blocker.close();
    }
  });

  test('a non-loopback host needs a token; with one, clients must send it (never printed)', async () => {
    const refusedStart = await runCli(['proxy', '--host', '0.0.0.0', '--port', '0'], { env });
    assert.equal(refusedStart.code, 2);
    assert.match(refusedStart.stderr, /without a token/);

    const token = 'tok-3f9a1c';
    const { cli, url } = await startProxy(['--host', '0.0.0.0', '--token', token]);
    try {
      assert.match(cli.stderr(), /token required/);
      const denied = await runCli(['proxy', 'list', '--url', url], { env });
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /HTTP 401/);
      const ok = await runCli(['proxy', 'list', '--url', url, '--token', token], { env });
      assert.equal(ok.code, 0, ok.stderr);
      const viaEnv = await runCli(['proxy', 'list', '--url', url], {
        env: { ...env, FAULTLINE_PROXY_TOKEN: token },
      });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
    } finally {
      const r = await stop(cli);
      assert.ok(!r.stderr.includes(token) && !r.stdout.includes(token), 'the token is never logged');
    }
  });
});
