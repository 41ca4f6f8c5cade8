/**
 * Experiments that use the fault proxy, through the built CLI: Chaos Toolkit's
 * toxiproxy extension run unchanged, proxies started in-process, and every
 * toxic treated as a fault (reverted on success, forgetfulness, Ctrl-C, halt,
 * and by `faultline recover` after SIGKILL).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startControlServer } from '../../src/proxy/api/server.js';
import { ProxyClient } from '../../src/proxy/client.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { runCli, startCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';
import { startServer, type TestServer } from '../helpers/server.js';

let home: Awaited<ReturnType<typeof tempHome>>;
let work: string;
let upstream: TestServer;
let manager: ProxyManager;
let api: Awaited<ReturnType<typeof startControlServer>>;
let client: ProxyClient;
let env: NodeJS.ProcessEnv;

before(async () => {
  home = await tempHome();
  work = await mkdtemp(join(tmpdir(), 'faultline-proxy-e2e-'));
  upstream = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  manager = new ProxyManager();
  api = await startControlServer({ control: manager, port: 0 });
  client = new ProxyClient({ url: api.url });
  env = {
    FAULTLINE_HOME: home.home,
    TOXIPROXY_HOST: '127.0.0.1',
    TOXIPROXY_PORT: String(api.port),
    UPSTREAM_PORT: String(upstream.port),
    UPSTREAM: `127.0.0.1:${upstream.port}`,
  };
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), [], 'no fault left in the ledger');
  await api.close();
  await manager.close();
  await upstream.close();
  await home.cleanup();
  await rm(work, { recursive: true, force: true });
});

const journalOf = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
const allToxics = async () =>
  Object.values(await client.proxies()).flatMap((p) => p.toxics.map((t) => `${p.name}/${t.name}`));

/** An experiment that adds a toxic on the test's server and then waits. */
async function lingeringToxicExperiment(pauseAfter: number): Promise<string> {
  const file = join(work, `linger-${pauseAfter}.yaml`);
  await writeFile(
    file,
    `title: a toxic that is never removed by the experiment
description: relies on Faultline to revert it
configuration:
  toxiproxy_host: 127.0.0.1
  toxiproxy_port: ${api.port}
method:
  - type: action
    name: add-latency
    provider:
      type: faultline
      module: faultline.proxy
      func: add_toxic
      arguments: { proxy: db, type: latency, attributes: { latency: 50 } }
    pauses: { after: ${pauseAfter} }
`,
  );
  return file;
}

describe('experiments on the fault proxy', () => {
  before(async () => {
    await client.createProxy({ name: 'db', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.port}` });
  });

  test('a Chaos Toolkit toxiproxy experiment runs unchanged', async () => {
    const journal = join(work, 'ctk-toxi.json');
    const r = await runCli(
      ['run', 'examples/chaostoolkit/toxiproxy-latency.json', '--journal-path', journal],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    const j = await journalOf(journal);
    assert.equal(j.status, 'completed');
    const call = j.run.find(
      (x: { activity: { name: string } }) => x.activity.name === 'call-through-the-proxy',
    );
    assert.equal(call.output.status, 200);
    assert.ok(call.duration >= 0.29, `the latency toxic delayed the call (${call.duration}s)`);
    assert.equal(
      j.run.find((x: { activity: { name: string } }) => x.activity.name === 'the-proxy-exists').output,
      true,
    );
    assert.equal(j.faultline.faults.length, 1);
    assert.equal(j.faultline.faults[0].kind, 'proxy-toxic');
    assert.equal(j.faultline.faults[0].verified, true);
    assert.equal(j.rollbacks.length, 1);
    assert.equal((await client.proxies()).dependency, undefined, 'the rollback deleted the proxy');
  });

  test('proxies declared in the experiment run in-process', async () => {
    const journal = join(work, 'in-process.json');
    const r = await runCli(['run', 'examples/proxy/in-process.yaml', '--journal-path', journal], { env });
    assert.equal(r.code, 0, r.stderr);
    const j = await journalOf(journal);
    const sample = j.run.find(
      (x: { activity: { name: string } }) => x.activity.name === 'callers-see-503s',
    ).output;
    // 200 requests at 40%: 80 expected, sd about 6.9; +/- 5 sd.
    assert.ok(sample.statuses['503'] >= 45 && sample.statuses['503'] <= 115, JSON.stringify(sample));
    assert.equal(
      sample.statuses['503'] + sample.statuses['200'],
      200,
      'every other request reached the service',
    );
    const slow = j.run.find((x: { activity: { name: string } }) => x.activity.name === 'slow-call');
    assert.ok(slow.duration >= 0.19, `slow call took ${slow.duration}s`);
    assert.equal(j.faultline.faults.length, 2);
    assert.ok(j.faultline.faults.every((f: { verified: boolean }) => f.verified));
    assert.equal(j.steady_states.after.steady_state_met, true);
  });

  test('a toxic the experiment forgets is removed when the run ends', async () => {
    const journal = join(work, 'forgot.json');
    const r = await runCli(['run', await lingeringToxicExperiment(0), '--journal-path', journal], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await allToxics(), []);
    assert.equal((await journalOf(journal)).faultline.faults[0].verified, true);
  });

  test('Ctrl-C with a toxic active: the toxic is removed', async () => {
    const cli = startCli(
      ['run', await lingeringToxicExperiment(60), '--journal-path', join(work, 'int.json')],
      { env },
    );
    await cli.waitFor(/add-latency' succeeded/);
    assert.deepEqual(await allToxics(), ['db/latency_downstream']);
    cli.child.kill('SIGINT');
    const r = await cli.done;
    assert.equal(r.code, 1);
    assert.deepEqual(await allToxics(), []);
  });

  test('SIGKILL with a toxic active: recover removes it', async () => {
    const cli = startCli(
      ['run', await lingeringToxicExperiment(60), '--journal-path', join(work, 'kill.json')],
      { env },
    );
    await cli.waitFor(/add-latency' succeeded/);
    cli.child.kill('SIGKILL');
    await cli.done;
    assert.deepEqual(await allToxics(), ['db/latency_downstream'], 'a killed runner cannot revert');
    const r = await runCli(['recover'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /proxy-toxic/);
    assert.deepEqual(await allToxics(), []);
  });

  test('SIGKILL with a toxic active: the toxic expires by itself when its lease is not renewed', async () => {
    const leaseEnv = { ...env, FAULTLINE_PROXY_LEASE_MS: '1500' };
    const cli = startCli(
      ['run', await lingeringToxicExperiment(60), '--journal-path', join(work, 'lease.json')],
      {
        env: leaseEnv,
      },
    );
    await cli.waitFor(/add-latency' succeeded/);
    // While the runner lives, it renews the lease: the toxic outlives several lease periods.
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await allToxics(), ['db/latency_downstream'], 'renewed while the runner is alive');
    cli.child.kill('SIGKILL');
    await cli.done;
    const deadline = Date.now() + 10_000;
    while ((await allToxics()).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await allToxics(), [], 'expired on the server without any recovery');
    // The ledger still lists the dead runner's fault until the next command, which finds it gone.
    const r = await runCli(['recover'], { env: leaseEnv });
    assert.equal(r.code, 0, r.stderr);
  });

  test('faultline status lists the toxic; halt removes it and interrupts the run', async () => {
    const journal = join(work, 'halt.json');
    const cli = startCli(['run', await lingeringToxicExperiment(60), '--journal-path', journal], { env });
    await cli.waitFor(/add-latency' succeeded/);
    const status = await runCli(['status', '--json'], { env });
    const listed = JSON.parse(status.stdout).faults;
    assert.equal(listed.length, 1);
    assert.equal(listed[0].kind, 'proxy-toxic');
    assert.match(listed[0].target, /^db\/latency_downstream @ http:\/\/127\.0\.0\.1:\d+$/);
    const h = await runCli(['halt'], { env });
    assert.equal(h.code, 0, h.stderr);
    assert.deepEqual(await allToxics(), []);
    const r = await cli.done;
    assert.equal(r.code, 1);
    assert.equal((await journalOf(journal)).status, 'interrupted');
    assert.equal((await runCli(['halt', '--release'], { env })).code, 0);
  });
});
