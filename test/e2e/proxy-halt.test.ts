/**
 * End to end: `faultline halt` stops what was injected into a running
 * `faultline proxy` through its CLI or API (not ledgered): `status` lists those
 * toxics and disabled proxies, `halt` reverts them and counts them, the data
 * plane is clean, new toxics are refused (423, Toxiproxy-style error JSON)
 * until `halt --release`, and a dead server's registry file is removed.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Cli, runCli, startCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';
import { echoRoundTrip, echoServer } from '../helpers/http-raw.js';
import { refused } from '../helpers/refused.js';

const LISTENING = /API listening on (http:\/\/\S+)/;
let home: Awaited<ReturnType<typeof tempHome>>;
let env: NodeJS.ProcessEnv;
let upstream: Awaited<ReturnType<typeof echoServer>>;
let UP: string;

async function startProxy(): Promise<{ cli: Cli; url: string }> {
  const cli = startCli(['proxy', '--port', '0'], { env });
  await cli.waitFor(LISTENING);
  return { cli, url: LISTENING.exec(cli.stderr())![1]! };
}

const registryFiles = async () =>
  (await readdir(join(home.home, 'proxies')).catch(() => [])).filter((f) => f.endsWith('.json'));

/** Polls `faultline status` until its stdout matches (the registry is written just after each change). */
async function statusUntil(re: RegExp): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await runCli(['status'], { env });
    assert.equal(r.code, 0, r.stderr);
    if (re.test(r.stdout)) return r.stdout;
    if (Date.now() > deadline) assert.fail(`status never matched ${re}:\n${r.stdout}\n${r.stderr}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

before(async () => {
  home = await tempHome();
  env = { FAULTLINE_HOME: home.home, FAULTLINE_PROXY_URL: '', FAULTLINE_PROXY_TOKEN: '' };
  upstream = await echoServer();
  UP = `127.0.0.1:${upstream.port}`;
});

after(async () => {
  await runCli(['halt', '--release'], { env });
  await upstream.close();
  await home.cleanup();
});

describe('faultline halt and a running faultline proxy', () => {
  test('status lists CLI-added toxics and disabled proxies; halt reverts and counts them; refused until release', async () => {
    const server = await startProxy();
    const proxy = (args: string[]) => runCli(['proxy', ...args, '--url', server.url], { env });
    try {
      for (const name of ['web', 'off']) {
        const r = await proxy(['create', name, '--listen', '127.0.0.1:0', '--upstream', UP, '--json']);
        assert.equal(r.code, 0, r.stderr);
      }
      const web = JSON.parse((await proxy(['get', 'web', '--json'])).stdout);
      const off = JSON.parse((await proxy(['get', 'off', '--json'])).stdout);
      const webPort = Number(web.listen.split(':').at(-1));
      const offPort = Number(off.listen.split(':').at(-1));

      const add = await proxy(['toxic', 'add', 'web', '--type', 'latency', '--attribute', 'latency=400']);
      assert.equal(add.code, 0, add.stderr);
      assert.equal((await proxy(['update', 'off', '--disable'])).code, 0);
      assert.ok((await echoRoundTrip(webPort)).ms >= 390, 'the toxic slows real traffic');
      assert.ok(await refused(offPort));

      const status = await statusUntil(/proxy off disabled/);
      assert.match(
        status,
        /proxy toxic web\/latency_downstream: latency latency=400 jitter=0 \(downstream\) on proxy server pid \d+/,
      );
      const json = JSON.parse((await runCli(['status', '--json'], { env })).stdout);
      assert.equal(json.proxy_servers.length, 1);
      assert.equal(json.proxy_servers[0].api, server.url);
      assert.deepEqual(json.proxy_servers[0].disabled, ['off']);

      const halt = await runCli(['halt'], { env });
      assert.equal(halt.code, 0, halt.stderr);
      assert.match(`${halt.stdout}${halt.stderr}`, /HALT: 2 fault\(s\) reverted/);
      assert.match(`${halt.stdout}${halt.stderr}`, /web\/latency_downstream \(latency downstream\)/);

      // The data plane is clean: no toxic, the proxy that was disabled is back.
      assert.deepEqual(JSON.parse((await proxy(['toxic', 'list', 'web', '--json'])).stdout), []);
      const clean = await echoRoundTrip(webPort, 'clean');
      assert.equal(clean.reply, 'clean');
      assert.ok(clean.ms < 390, `round trip ${clean.ms} ms after the halt`);
      assert.equal((await echoRoundTrip(offPort, 'back')).reply, 'back');
      assert.doesNotMatch((await runCli(['status'], { env })).stdout, /proxy toxic|disabled/);

      // While halted: the CLI and the raw API are refused, with Toxiproxy's error JSON.
      const again = await proxy(['toxic', 'add', 'web', '--type', 'latency', '--attribute', 'latency=400']);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /faultline halt in force .*refused until `faultline halt --release`/);
      const res = await fetch(`${server.url}/proxies/web/toxics`, {
        method: 'POST',
        body: JSON.stringify({ type: 'latency', attributes: { latency: 400 } }),
      });
      assert.equal(res.status, 423);
      const body = (await res.json()) as { error: string; status: number };
      assert.equal(body.status, 423);
      assert.match(body.error, /faultline halt in force/);
      assert.equal((await proxy(['update', 'web', '--disable'])).code, 1, 'disabling is refused too');
      assert.equal((await echoRoundTrip(webPort, 'still')).reply, 'still');

      // A second halt finds nothing more to revert and says so truly.
      const second = await runCli(['halt'], { env });
      assert.match(`${second.stdout}${second.stderr}`, /HALT: 0 fault\(s\) reverted/);

      assert.equal((await runCli(['halt', '--release'], { env })).code, 0);
      const deadline = Date.now() + 10_000;
      let ok = await proxy(['toxic', 'add', 'web', '--type', 'noop']);
      while (ok.code !== 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100)); // the server sees the release within its poll
        ok = await proxy(['toxic', 'add', 'web', '--type', 'noop']);
      }
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((await proxy(['toxic', 'remove', 'web', 'noop_downstream'])).code, 0);
    } finally {
      server.cli.child.kill('SIGTERM');
      await server.cli.done;
    }
    assert.deepEqual(await registryFiles(), [], 'a server that stops removes its registry file');
  });

  test("a killed server's registry file is removed by the next status; halt does not wait for it", async () => {
    const server = await startProxy();
    assert.equal((await registryFiles()).length, 1, 'registered before the API listens');
    server.cli.child.kill('SIGKILL');
    await server.cli.done;
    const status = await runCli(['status'], { env });
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(await registryFiles(), []);
    const halt = await runCli(['halt'], { env });
    assert.equal(halt.code, 0, halt.stderr);
    assert.equal((await runCli(['halt', '--release'], { env })).code, 0);
  });
});
