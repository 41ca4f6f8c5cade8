/**
 * A run's in-process proxies (`proxies:` resource) answer to status and halt
 * like a `faultline proxy` server: a toxic added through their API without
 * the ledger is listed, reverted and counted by haltAll, refused (423) while
 * halted, and the registry file goes when the run's proxies stop.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { haltAll, releaseHalt } from '../../src/faults/index.js';
import { inProcessProxies } from '../../src/proxy/in-process.js';
import { listProxyServers } from '../../src/proxy/registry.js';
import { tempHome } from '../helpers/home.js';
import { echoRoundTrip, echoServer } from '../helpers/http-raw.js';

let home: Awaited<ReturnType<typeof tempHome>>;
let upstream: Awaited<ReturnType<typeof echoServer>>;
const previousHome = process.env.FAULTLINE_HOME;

before(async () => {
  home = await tempHome();
  process.env.FAULTLINE_HOME = home.home;
  upstream = await echoServer();
});

after(async () => {
  if (previousHome === undefined) delete process.env.FAULTLINE_HOME;
  else process.env.FAULTLINE_HOME = previousHome;
  await upstream.close();
  await home.cleanup();
});

test("halt reverts and counts a toxic added to a run's in-process proxies through their API", async () => {
  const logs: string[] = [];
  const started = await inProcessProxies.start([{ name: 'db', upstream: `127.0.0.1:${upstream.port}` }], {
    experiment: {} as never,
    configuration: {},
    log: (_level, message) => logs.push(message),
  });
  const api = String(started.configuration?.faultline_proxy_url);
  const port = Number(started.configuration?.db_PORT);
  try {
    const add = await fetch(`${api}/proxies/db/toxics`, {
      method: 'POST',
      body: JSON.stringify({ type: 'latency', attributes: { latency: 300 } }),
    });
    assert.equal(add.status, 200, await add.text());
    let servers = await listProxyServers(home.home);
    for (let i = 0; i < 100 && servers[0]?.toxics.length !== 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
      servers = await listProxyServers(home.home);
    }
    assert.equal(servers.length, 1);
    assert.equal(servers[0]!.role, 'run');
    assert.equal(servers[0]!.api, api);
    assert.deepEqual(
      servers[0]!.toxics.map((t) => `${t.proxy}/${t.name}`),
      ['db/latency_downstream'],
    );

    const report = await haltAll({ home: home.home });
    assert.equal(report.failed.length, 0, JSON.stringify(report.failed));
    assert.deepEqual(
      report.reverted.map((r) => r.target),
      [`db/latency_downstream (latency downstream) @ ${api}`],
    );
    assert.ok((await echoRoundTrip(port)).ms < 290, 'the toxic is gone from the data plane');
    const refused = await fetch(`${api}/proxies/db/toxics`, {
      method: 'POST',
      body: JSON.stringify({ type: 'latency', attributes: { latency: 300 } }),
    });
    assert.equal(refused.status, 423);
    assert.equal(((await refused.json()) as { status: number }).status, 423);
  } finally {
    await releaseHalt({ home: home.home });
    await started.stop?.();
  }
  assert.deepEqual(await listProxyServers(home.home), [], 'the registry file goes with the proxies');
});
