/**
 * Issue #13 item 4 through the built CLI: `faultline proxy` without a token
 * keeps proxies on loopback and off link-local and its own API, unless
 * started with --allow-public-listen / --allow-upstream; its --config file and
 * an experiment's `proxies:` are held to the same rules (exit 2, naming the
 * field).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Cli, cliSuite, runCli, startCli } from '../helpers/cli.js';
import { echoRoundTrip, echoServer } from '../helpers/http-raw.js';
import { freePort } from '../helpers/proxy-net.js';

const suite = cliSuite('faultline-exposure-e2e-');
const LISTENING = /API listening on (http:\/\/\S+)/;
let upstream: Awaited<ReturnType<typeof echoServer>>;

before(async () => {
  upstream = await echoServer();
});
after(async () => {
  await upstream.close();
});

const UP = () => `127.0.0.1:${upstream.port}`;
const env = () => ({ ...suite.env, FAULTLINE_PROXY_URL: '', FAULTLINE_PROXY_TOKEN: '' });

async function startProxy(args: string[]): Promise<{ cli: Cli; url: string }> {
  const cli = startCli(['proxy', '--port', '0', ...args], { env: env() });
  await cli.waitFor(LISTENING);
  return { cli, url: LISTENING.exec(cli.stderr())![1]! };
}

async function stop(cli: Cli): Promise<void> {
  cli.child.kill('SIGTERM');
  const r = await cli.done;
  assert.equal(r.code, 0, r.stderr);
}

const create = (url: string, name: string, listen: string, to: string) =>
  runCli(['proxy', 'create', name, '--url', url, '--listen', listen, '--upstream', to, '--json'], {
    env: env(),
  });

const apiAddress = (url: string) => new URL(url).host;

describe('faultline proxy without a token', () => {
  test('refuses a proxy on 0.0.0.0 to its own API, and one to 169.254.169.254', async () => {
    const { cli, url } = await startProxy([]);
    try {
      assert.match(cli.stderr(), /proxies listen on loopback only/);
      const attack = await create(url, 'republish', '0.0.0.0:0', apiAddress(url));
      assert.equal(attack.code, 1, attack.stderr);
      assert.match(attack.stderr, /403/);
      assert.match(attack.stderr, /listen 0\.0\.0\.0:0: .*--allow-public-listen/);

      const self = await create(url, 'self', '127.0.0.1:0', apiAddress(url));
      assert.equal(self.code, 1, self.stderr);
      assert.match(self.stderr, /control API: a proxy must not republish it/);

      const metadata = await create(url, 'metadata', '127.0.0.1:0', '169.254.169.254:80');
      assert.equal(metadata.code, 1, metadata.stderr);
      assert.match(metadata.stderr, /169\.254\.169\.254:80 is a link-local address.*--allow-upstream/);

      const list = await runCli(['proxy', 'list', '--url', url, '--json'], { env: env() });
      assert.deepEqual(JSON.parse(list.stdout), {}, 'nothing was created');
    } finally {
      await stop(cli);
    }
  });

  test('with --allow-public-listen and --allow-upstream both work; the API stays refused', async () => {
    const { cli, url } = await startProxy([
      '--allow-public-listen',
      '--allow-upstream',
      '169.254.169.254/32',
    ]);
    try {
      assert.doesNotMatch(cli.stderr(), /loopback only/);
      const pub = await create(url, 'pub', '0.0.0.0:0', UP());
      assert.equal(pub.code, 0, pub.stderr);
      const listen = JSON.parse(pub.stdout).listen as string;
      assert.match(listen, /^(0\.0\.0\.0|\[::\]):\d+$/);
      const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
      assert.equal((await echoRoundTrip(port, 'open')).reply, 'open');

      const metadata = await create(url, 'metadata', '127.0.0.1:0', '169.254.169.254:80');
      assert.equal(metadata.code, 0, metadata.stderr);
      const self = await create(url, 'self', '0.0.0.0:0', apiAddress(url));
      assert.equal(self.code, 1, self.stderr);
      assert.match(self.stderr, /control API/);
    } finally {
      await stop(cli);
    }
  });

  test('--allow-upstream that is no CIDR is a usage error naming the option', async () => {
    const r = await runCli(['proxy', '--port', '0', '--allow-upstream', 'metadata'], { env: env() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--allow-upstream: expected an IP address or CIDR .* got 'metadata'/);
  });

  test('--config: a refused proxy stops the server before it starts, naming the item and field', async () => {
    const port = await freePort();
    for (const [item, pattern] of [
      [{ name: 'pub', listen: '0.0.0.0:0', upstream: UP() }, /\[1\]\.listen: listen 0\.0\.0\.0:0/],
      [
        { name: 'meta', listen: '127.0.0.1:0', upstream: '169.254.169.254:80' },
        /\[1\]\.upstream: .*link-local/,
      ],
      // The API's port is known before it binds: a config proxy to it is refused too.
      [
        { name: 'self', listen: '127.0.0.1:0', upstream: `localhost:${port}` },
        /\[1\]\.upstream: .*control API/,
      ],
    ] as const) {
      const file = join(suite.work, `${item.name}.json`);
      await writeFile(file, JSON.stringify([{ name: 'fine', listen: '127.0.0.1:0', upstream: UP() }, item]));
      const r = await runCli(['proxy', '--port', String(port), '--config', file], { env: env() });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`proxy config ${file.replaceAll('.', '\\.')}: `));
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /API listening/);
    }
  });
});

describe("an experiment's proxies:", () => {
  for (const [field, proxy] of [
    ['listen', `{ name: pub, listen: "0.0.0.0:0", upstream: "127.0.0.1:1" }`],
    ['upstream', `{ name: meta, upstream: "169.254.169.254:80" }`],
  ] as const) {
    test(`a refused ${field} fails the run with exit 2 naming proxies[1].${field}`, async () => {
      const file = join(suite.work, `proxies-${field}.yaml`);
      await writeFile(
        file,
        `title: proxies the in-process server must refuse
description: issue 13 item 4
proxies:
  - { name: fine, upstream: "127.0.0.1:1" }
  - ${proxy}
method:
  - type: probe
    name: never-runs
    provider: { type: process, path: node, arguments: ["-e", "1"] }
`,
      );
      const journal = join(suite.work, `proxies-${field}.json`);
      const r = await runCli(['run', file, '--journal-path', journal], { env: env() });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `proxies\\[1\\]\\.${field}: ${field === 'listen' ? 'listen 0\\.0\\.0\\.0:0' : 'upstream 169\\.254'}`,
        ),
      );
      assert.doesNotMatch(r.stderr, /never-runs/);
    });
  }
});
