/**
 * The proxy registry ($FAULTLINE_HOME/proxies) and the halt flag get the trust
 * check ledger/ and runs/ have (issue #13): as root, with files planted by
 * `nobody` (setpriv), links and FIFOs, nothing another user could have written
 * is believed, written through, removed or waited on.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { haltAll, haltState, releaseHalt } from '../../src/faults/index.js';
import { ProxyManager } from '../../src/proxy/manager.js';
import { listProxyServers, registerProxyServer } from '../../src/proxy/registry.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let base: string;
let home: string;
let proxies: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'faultline-registry-trust-'));
  home = join(base, 'home');
  proxies = join(home, 'proxies');
  await chmod(base, 0o755);
  await mkdir(proxies, { recursive: true, mode: 0o700 });
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

/** `file` written by `nobody` itself, through a home opened to everyone for the moment, then closed again. */
async function plantAsNobody(file: string, text: string): Promise<void> {
  await chmod(home, 0o1777);
  await chmod(proxies, 0o1777);
  try {
    const r = spawnSync(
      'setpriv',
      ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', 'tee', file],
      { input: text, stdio: ['pipe', 'ignore', 'pipe'] },
    );
    assert.equal(r.status, 0, `setpriv as nobody: ${r.stderr}`);
  } finally {
    await chmod(home, 0o700);
    await chmod(proxies, 0o700);
  }
}

/** A record as a live server would write it: this process, with a toxic in place. */
const liveRecord = (api: string) =>
  JSON.stringify({
    pid: process.pid,
    start: null,
    host: hostname(),
    api,
    role: 'server',
    startedAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    toxics: [
      { proxy: 'db', name: 'planted', type: 'latency', stream: 'downstream', toxicity: 1, attributes: {} },
    ],
    disabled: [],
  });

describe('proxy registry trust', { skip: !isRoot && 'needs root (files planted as nobody)' }, () => {
  test('a record planted by nobody is neither listed nor removed; the server’s own is', async () => {
    const planted = join(proxies, '1-1.json');
    await plantAsNobody(planted, liveRecord('http://planted.invalid:1'));
    const manager = new ProxyManager();
    const registered = await registerProxyServer({
      home,
      api: 'http://127.0.0.1:1',
      role: 'server',
      manager,
    });
    try {
      const servers = await listProxyServers(home);
      assert.deepEqual(
        servers.map((s) => s.api),
        ['http://127.0.0.1:1'],
      );
      assert.ok(existsSync(planted), 'the planted file is left for its owner to see');
    } finally {
      await registered.close();
      await manager.close();
    }
  });

  test('a record that is a link or a FIFO is not followed or waited on', async () => {
    const elsewhere = join(base, 'elsewhere.json');
    await writeFile(elsewhere, liveRecord('http://linked.invalid:1'), { mode: 0o600 });
    await symlink(elsewhere, join(proxies, '2-1.json'));
    assert.equal(spawnSync('mkfifo', [join(proxies, '3-1.json')]).status, 0);
    assert.deepEqual(await listProxyServers(home), []);
    assert.ok(existsSync(elsewhere));
  });

  test('a proxies/ directory another user owns is refused, naming it and the fix; nothing is written there', async () => {
    await chown(proxies, NOBODY, NOBODY);
    await assert.rejects(listProxyServers(home), new RegExp(`${proxies} is owned by uid ${NOBODY}.*fix: `));
    const manager = new ProxyManager();
    await assert.rejects(
      registerProxyServer({ home, api: 'http://127.0.0.1:1', role: 'server', manager }),
      /untrusted Faultline home/,
    );
    await manager.close();
    assert.deepEqual(await readdir(proxies), []);
    // A halt still raises its flag and says what it could not do.
    const report = await haltAll({ home });
    try {
      assert.equal(report.flag.raised, true);
      assert.ok(
        report.failed.some((f) => /proxy servers: untrusted Faultline home/.test(f.error ?? '')),
        JSON.stringify(report.failed),
      );
    } finally {
      await releaseHalt({ home });
    }
  });

  test('proxies/ as a link to another directory is refused', async () => {
    await rm(proxies, { recursive: true });
    const other = join(base, 'other');
    await mkdir(other, { mode: 0o700 });
    await symlink(other, proxies);
    const manager = new ProxyManager();
    await assert.rejects(
      registerProxyServer({ home, api: 'http://127.0.0.1:1', role: 'server', manager }),
      new RegExp(`${proxies} is not a directory`),
    );
    await manager.close();
    assert.deepEqual(await readdir(other), []);
  });
});

describe('halt flag trust', { skip: !isRoot && 'needs root (files planted as nobody)' }, () => {
  test('a halt file planted by nobody is a halt whose content is not believed', async () => {
    await plantAsNobody(
      join(home, 'halt'),
      JSON.stringify({ since: '2020-01-01T00:00:00Z', pid: 1, host: 'x', reason: 'planted reason' }),
    );
    const halt = await haltState({ home });
    assert.ok(halt, 'still a halt');
    assert.doesNotMatch(halt.reason ?? '', /planted reason/);
    assert.match(
      halt.reason ?? '',
      new RegExp(`untrusted halt file, not read: ${home}/halt is owned by uid ${NOBODY}`),
    );
  });

  test('a halt file that is a link is not followed; a FIFO is not waited on', async () => {
    const elsewhere = join(base, 'flag.json');
    await writeFile(elsewhere, JSON.stringify({ since: 'x', pid: 1, host: 'h', reason: 'through a link' }));
    await symlink(elsewhere, join(home, 'halt'));
    assert.match((await haltState({ home }))?.reason ?? '', /halt is a symbolic link/);
    await rm(join(home, 'halt'));
    assert.equal(spawnSync('mkfifo', [join(home, 'halt')]).status, 0);
    assert.match((await haltState({ home }))?.reason ?? '', /halt is not a regular file/);
    await rm(join(home, 'halt'));
    assert.equal(await haltState({ home }), null);
  });

  test('a running proxy server obeys an untrusted halt flag (reverts its toxics) without reading it', async () => {
    const manager = new ProxyManager();
    await manager.create({ name: 'p', listen: '127.0.0.1:0', upstream: '127.0.0.1:1' });
    manager.addToxic('p', { type: 'latency', attributes: { latency: 100 } });
    const registered = await registerProxyServer({
      home,
      api: 'http://127.0.0.1:1',
      role: 'server',
      manager,
      haltPollMs: 20,
    });
    try {
      assert.equal(spawnSync('mkfifo', [join(home, 'halt')]).status, 0);
      const deadline = Date.now() + 10_000;
      while (!manager.halted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(manager.halted, true);
      assert.deepEqual(manager.faults().toxics, []);
    } finally {
      await rm(join(home, 'halt'), { force: true });
      await registered.close();
      await manager.close();
    }
  });
});
