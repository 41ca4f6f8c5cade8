/**
 * Network faults for real, between the root namespace and namespaces the test
 * creates (veth pairs): real traffic shows each fault and shows it gone after
 * revert, through FaultSession (ledger, verify), and nothing Faultline made is
 * left in any namespace afterwards. Needs root, nft, iptables, tc and ip.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FaultlineError } from '../../src/core/errors.js';
import { FaultSession, Ledger, recoverOrphans } from '../../src/faults/index.js';
import { netemSupported } from '../../src/faults/network/exec.js';
import {
  bandwidthKind,
  dnsKind,
  duplicateKind,
  latencyKind,
  lossKind,
  partitionKind,
} from '../../src/faults/network/index.js';
import { revertRules, verifyRules } from '../../src/faults/network/rules.js';
import { assertNothingLeftBehind, repoRoot, spawnFixture } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';
import {
  createPeer,
  destroyPeer,
  faultlineLeftovers,
  networkSkipReason,
  type Peer,
  sh,
} from '../helpers/netns.js';

const skip = networkSkipReason();
let home: Awaited<ReturnType<typeof tempHome>>;
let peer: Peer;
const peers: Peer[] = [];

function session(runId = 'net-run'): FaultSession {
  return new FaultSession({ runId, ledger: new Ledger({ home: home.home }) });
}

/** Runs `fn` with a session whose faults are all reverted afterwards, whatever happens. */
async function withSession(fn: (s: FaultSession) => Promise<void>): Promise<void> {
  const s = session();
  try {
    await fn(s);
  } finally {
    const records = await s.revertAll();
    assert.deepEqual(
      records.filter((r) => !r.verified),
      [],
      'every fault reverted and verified',
    );
  }
}

/** One TCP connect: 'ok', 'refused' or 'timeout'. */
function connectOnce(host: string, port: number, timeoutMs = 400): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (r: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    s.once('connect', () => done('ok'));
    s.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'refused' : String(err.code)),
    );
  });
}

async function connects(n: number): Promise<Record<string, number>> {
  const results = await Promise.all(Array.from({ length: n }, () => connectOnce(peer.nsIp, peer.tcpEcho)));
  const counts: Record<string, number> = {};
  for (const r of results) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** Sends `n` numbered UDP probes to the echo server, paced; returns the share that got no reply. */
/**
 * The lowest loss of up to `tries` measurements: on a loaded machine the echo
 * peer can drop probes too, which only ever adds loss, never removes it.
 */
async function leastLoss(n: number, tries = 3, goodEnough = (_l: number) => false): Promise<number> {
  let least = 1;
  for (let i = 0; i < tries; i++) {
    least = Math.min(least, await udpLoss(n));
    if (goodEnough(least)) break;
  }
  return least;
}

async function udpLoss(n: number): Promise<number> {
  const sock: Socket = createSocket('udp4');
  const seen = new Set<number>();
  sock.on('message', (m) => seen.add(m.readUInt32BE(0)));
  await new Promise<void>((r) => sock.bind(0, peer.hostIp, r));
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(i, 0);
    sock.send(b, peer.udpEcho, peer.nsIp);
    // Paced: the echo server is one node process; a burst would overflow its socket buffer.
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1));
  }
  await new Promise((r) => setTimeout(r, 400));
  sock.close();
  return 1 - seen.size / n;
}

/** Bytes per second received from the blast server, measured after a 0.5 s warm-up. */
function measureRate(seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: peer.nsIp, port: peer.tcpBlast });
    let bytes = 0;
    let t0 = 0;
    s.on('data', (d) => {
      if (t0 === 0) {
        t0 = performance.now();
        setTimeout(() => {
          bytes = 0;
          const start = performance.now();
          setTimeout(() => {
            s.destroy();
            resolve((bytes / (performance.now() - start)) * 1000);
          }, seconds * 1000);
        }, 500);
      }
      bytes += d.length;
    });
    s.on('error', reject);
  });
}

/** A DNS server in the root namespace answering every A query with 10.9.8.7. */
async function dnsServer(): Promise<Socket> {
  const sock = createSocket('udp4');
  sock.on('message', (q, rinfo) => {
    if (q.length < 12) return;
    const question = q.subarray(12);
    const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7]);
    const header = Buffer.from(q.subarray(0, 12));
    header.writeUInt16BE(0x8180, 2); // response, recursion available, no error
    header.writeUInt16BE(1, 6); // one answer
    sock.send(Buffer.concat([header, question, answer]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(53, peer.hostIp, r));
  return sock;
}

/** Runs a fixture of test/fixtures/network/ inside the peer's namespace; resolves with its stdout. */
function inPeer(fixture: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', peer.ns, process.execPath, join(repoRoot, 'test/fixtures/network', fixture), ...args],
      { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } },
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim())),
    );
  });
}

const resolveInNamespace = (name: string) => inPeer('resolve.mjs', [peer.hostIp, name]);

/** The loss of UDP traffic the peer's namespace sends itself over lo (one way or echoed), measured inside it. */
const loLoss = async (n: number, mode: 'oneway' | 'echo') =>
  Number(/^lost (\S+)/.exec(await inPeer('udp-self.mjs', [String(n), mode]))?.[1]);

/** Up to three measurements, kept as soon as one is in the band (a loaded machine only ever adds loss). */
async function lossNear(measure: () => Promise<number>, expected: number, band = 0.05): Promise<number> {
  let least = 1;
  for (let i = 0; i < 3; i++) {
    least = Math.min(least, await measure());
    if (Math.abs(least - expected) <= band) break;
  }
  return least;
}

before(async () => {
  if (skip) return;
  home = await tempHome();
  peer = await createPeer();
  peers.push(peer);
});

after(async () => {
  if (skip) return;
  try {
    for (const p of peers) assert.deepEqual(faultlineLeftovers(p.ns), [], `left behind in ${p.ns}`);
    assert.deepEqual(faultlineLeftovers(), [], 'left behind in the root namespace');
    await assertNothingLeftBehind(home.home);
  } finally {
    for (const p of peers) await destroyPeer(p);
    await home.cleanup();
  }
});

describe('network faults', { concurrency: false }, () => {
  test('partition (drop) blocks every TCP connect until reverted; the table is the only change', async (t) => {
    if (skip) return t.skip(skip);
    assert.deepEqual(await connects(20), { ok: 20 });
    await withSession(async (s) => {
      const h = await s.inject(
        partitionKind,
        { namespace: peer.ns, interface: peer.nsIf },
        { ttlMs: 60_000 },
      );
      assert.match(h.target, new RegExp(`^partition \\(drop\\) ns=${peer.ns} dev=${peer.nsIf} both$`));
      assert.equal(faultlineLeftovers(peer.ns).length, 1, 'one faultline table');
      assert.deepEqual(await connects(20), { timeout: 20 });
      const r = await h.revert();
      assert.equal(r.verified, true);
      assert.deepEqual(await connects(20), { ok: 20 });
    });
  });

  test('partition (reject) refuses connects at once; scoped to a port, other ports still work', async (t) => {
    if (skip) return t.skip(skip);
    await withSession(async (s) => {
      const h = await s.inject(
        partitionKind,
        { namespace: peer.ns, action: 'reject', port: peer.tcpEcho, protocol: 'tcp', direction: 'ingress' },
        { ttlMs: 60_000 },
      );
      const t0 = performance.now();
      assert.deepEqual(await connects(20), { refused: 20 });
      assert.ok(performance.now() - t0 < 300, 'rejected, not timed out');
      assert.equal(await connectOnce(peer.nsIp, peer.tcpBlast), 'ok', 'another port is not partitioned');
      assert.equal((await h.revert()).verified, true);
      assert.deepEqual(await connects(20), { ok: 20 });
    });
  });

  test('partition through the iptables backend: a FAULTLINE-<tag> chain and tagged jumps, all removed', async (t) => {
    if (skip) return t.skip(skip);
    await withSession(async (s) => {
      const h = await s.inject(
        partitionKind,
        { namespace: peer.ns, action: 'reject', backend: 'iptables', source: peer.hostIp },
        { ttlMs: 60_000 },
      );
      const rules = sh(['ip', 'netns', 'exec', peer.ns, 'iptables', '-S']);
      assert.match(rules, /-N FAULTLINE-[0-9a-f]{8}/);
      // Both directions: what the namespace sends itself over lo is judged leaving, not again arriving.
      assert.match(rules, /-A INPUT ! -i lo -m comment --comment "faultline:[0-9a-f]{8}" -j FAULTLINE-/);
      assert.match(rules, /-A OUTPUT -m comment --comment "faultline:[0-9a-f]{8}" -j FAULTLINE-/);
      assert.deepEqual(await connects(10), { refused: 10 });
      assert.equal((await h.revert()).verified, true);
      assert.deepEqual(faultlineLeftovers(peer.ns), []);
      assert.deepEqual(await connects(10), { ok: 10 });
    });
  });

  test('loss 25% drops 25% +/- 3% of 4000 UDP probes, and none after revert', async (t) => {
    if (skip) return t.skip(skip);
    const before = await leastLoss(500, 3, (l) => l < 0.01);
    assert.ok(before < 0.01, `lost ${before} before the fault`);
    await withSession(async (s) => {
      const h = await s.inject(
        lossKind,
        { namespace: peer.ns, interface: peer.nsIf, direction: 'ingress', percent: 25 },
        { ttlMs: 60_000 },
      );
      const lost = await leastLoss(4000, 3, (l) => Math.abs(l - 0.25) <= 0.03);
      assert.ok(Math.abs(lost - 0.25) <= 0.03, `lost ${(lost * 100).toFixed(2)}%`);
      assert.equal((await h.revert()).verified, true);
      const afterwards = await leastLoss(1000, 3, (l) => l < 0.01);
      assert.ok(afterwards < 0.01, `lost ${afterwards} after revert`);
    });
  });

  // netem's and Chaos Mesh's meaning: each packet of a selected direction is dropped once with p;
  // both directions drop each way independently, so a round trip succeeds with (1-p)^2.
  for (const backend of ['nftables', 'iptables'] as const) {
    test(`loss 50% (${backend}) per direction, 2,000 UDP datagrams each: ingress and egress 50%, a round trip both ways 75%, traffic over lo judged once`, async (t) => {
      if (skip) return t.skip(skip);
      const cases: [string, 'ingress' | 'egress' | 'both', () => Promise<number>, number][] = [
        ['into the namespace, echoed', 'ingress', () => udpLoss(2000), 0.5],
        ['out of the namespace, echoed', 'egress', () => udpLoss(2000), 0.5],
        ['a round trip, both ways', 'both', () => udpLoss(2000), 0.75],
        ['over lo, one way, ingress', 'ingress', () => loLoss(2000, 'oneway'), 0.5],
        ['over lo, one way, egress', 'egress', () => loLoss(2000, 'oneway'), 0.5],
        // Sent and delivered by the namespace: judged once, not once leaving and again arriving.
        ['over lo, one way, both', 'both', () => loLoss(2000, 'oneway'), 0.5],
        ['over lo, a round trip, both', 'both', () => loLoss(2000, 'echo'), 0.75],
      ];
      await withSession(async (s) => {
        for (const [what, direction, measure, expected] of cases) {
          const h = await s.inject(
            lossKind,
            { namespace: peer.ns, direction, percent: 50, backend },
            { ttlMs: 60_000 },
          );
          const lost = await lossNear(measure, expected);
          assert.ok(
            Math.abs(lost - expected) <= 0.05,
            `${what} (direction ${direction}): lost ${(lost * 100).toFixed(1)}%, expected ${expected * 100}% +/- 5%`,
          );
          assert.equal((await h.revert()).verified, true);
        }
      });
      assert.ok((await leastLoss(1000, 3, (l) => l < 0.01)) < 0.01, 'nothing lost after revert');
    });
  }

  test('an iptables fault placed before each packet was judged once (plain INPUT jump) is still reverted', async (t) => {
    if (skip) return t.skip(skip);
    const tag = '0000beef';
    const ipt = (...args: string[]) => sh(['ip', 'netns', 'exec', peer.ns, 'iptables', '-w', ...args]);
    ipt('-N', `FAULTLINE-${tag}`);
    for (const hook of ['INPUT', 'OUTPUT']) {
      ipt('-I', hook, '1', '-m', 'comment', '--comment', `faultline:${tag}`, '-j', `FAULTLINE-${tag}`);
    }
    const record = {
      backend: 'iptables',
      tag,
      namespace: peer.ns,
      directions: ['ingress', 'egress'],
      families: [4],
    };
    await revertRules(record);
    assert.equal(await verifyRules(record), true);
    assert.deepEqual(faultlineLeftovers(peer.ns), []);
  });

  test('bandwidth 1mbit shapes egress with tbf (measured within 10%); ingress is policed', async (t) => {
    if (skip) return t.skip(skip);
    await withSession(async (s) => {
      const h = await s.inject(
        bandwidthKind,
        { namespace: peer.ns, interface: peer.nsIf, rate: '1mbit' },
        { ttlMs: 60_000 },
      );
      assert.match(h.target, /bandwidth 1mbit \(shaped\)/);
      const rate = await measureRate(2.5);
      assert.ok(Math.abs(rate / 125_000 - 1) < 0.1, `measured ${(rate * 8) / 1e6} Mbit/s`);
      assert.equal((await h.revert()).verified, true);
      assert.ok((await measureRate(0.5)) > 1_250_000, 'unlimited again');

      // Traffic into the namespace (the root side's egress is not ours to shape): nftables policing.
      const p = await s.inject(
        bandwidthKind,
        { namespace: peer.ns, rate: '4mbit', direction: 'egress', mode: 'police' },
        { ttlMs: 60_000 },
      );
      assert.match(p.target, /\(policed\)/);
      const policed = await measureRate(2.5);
      assert.ok(policed < 500_000 * 1.1 && policed > 500_000 * 0.5, `policed ${(policed * 8) / 1e6} Mbit/s`);
      assert.equal((await p.revert()).verified, true);
    });
  });

  test('bandwidth refuses to replace a root qdisc someone configured, and leaves it', async (t) => {
    if (skip) return t.skip(skip);
    const dev = peer.nsIf;
    sh(['ip', 'netns', 'exec', peer.ns, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'handle', '5:', 'pfifo']);
    try {
      const s = session();
      await assert.rejects(
        s.inject(bandwidthKind, { namespace: peer.ns, interface: dev, rate: '1mbit' }, { ttlMs: 60_000 }),
        (err: FaultlineError) =>
          err.code === 'FAULTLINE_ERR_FAULT' &&
          /already has a root qdisc \(pfifo 5:\), configured by someone/.test(err.message),
      );
      assert.match(sh(['ip', 'netns', 'exec', peer.ns, 'tc', 'qdisc', 'show', 'dev', dev]), /pfifo 5:/);
      assert.deepEqual(await home.activeFaults(), []);
    } finally {
      sh(['ip', 'netns', 'exec', peer.ns, 'tc', 'qdisc', 'del', 'dev', dev, 'root', 'handle', '5:']);
    }
  });

  test('two faults on one namespace, from two runs, each have their own table: reverting one leaves the other in force', async (t) => {
    if (skip) return t.skip(skip);
    const [a, b] = [session('net-run-a'), session('net-run-b')];
    const scope = { namespace: peer.ns, action: 'reject', protocol: 'tcp', direction: 'ingress' } as const;
    const ha = await a.inject(partitionKind, { ...scope, port: peer.tcpEcho }, { ttlMs: 60_000 });
    const hb = await b.inject(partitionKind, { ...scope, port: peer.tcpBlast }, { ttlMs: 60_000 });
    assert.equal(faultlineLeftovers(peer.ns).length, 2, 'one table each');
    assert.equal(await connectOnce(peer.nsIp, peer.tcpEcho), 'refused');
    assert.equal((await ha.revert()).verified, true);
    assert.equal(await connectOnce(peer.nsIp, peer.tcpEcho), 'ok');
    assert.equal(
      await connectOnce(peer.nsIp, peer.tcpBlast),
      'refused',
      "the other run's fault is still in force",
    );
    assert.equal(faultlineLeftovers(peer.ns).length, 1);
    assert.equal((await hb.revert()).verified, true);
    await Promise.all([a.revertAll(), b.revertAll()]);
    assert.deepEqual(faultlineLeftovers(peer.ns), []);
  });

  test("two tc faults on one interface: the second is refused, at once one wins, and no revert lifts the other's qdisc", async (t) => {
    if (skip) return t.skip(skip);
    const dev = peer.nsIf;
    const root = () => sh(['ip', 'netns', 'exec', peer.ns, 'tc', 'qdisc', 'show', 'dev', dev]);
    const shape = { namespace: peer.ns, interface: dev, rate: '1mbit' };
    const [a, b] = [session('net-run-a'), session('net-run-b')];
    try {
      await a.inject(bandwidthKind, shape, { ttlMs: 60_000 });
      const held = /qdisc tbf ([0-9a-f]+:) root/.exec(root())?.[1];
      assert.ok(held, root());
      await assert.rejects(
        b.inject(bandwidthKind, { ...shape, rate: '2mbit' }, { ttlMs: 60_000 }),
        (err: FaultlineError) =>
          err.code === 'FAULTLINE_ERR_FAULT' &&
          new RegExp(
            `already has a root qdisc \\(tbf ${held}\\), configured by someone or held by another Faultline fault`,
          ).test(err.message),
      );
      assert.match(root(), new RegExp(`qdisc tbf ${held} root .*rate 1Mbit`), 'the first is untouched');
      assert.equal((await a.revertAll())[0]?.verified, true);
      assert.doesNotMatch(root(), /tbf/);

      // Both at once: one adds its qdisc; the other's add fails and its cleanup deletes nothing.
      const results = await Promise.allSettled([
        a.inject(bandwidthKind, shape, { ttlMs: 60_000 }),
        b.inject(bandwidthKind, { ...shape, rate: '2mbit' }, { ttlMs: 60_000 }),
      ]);
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      const rate = results[0]?.status === 'fulfilled' ? '1Mbit' : '2Mbit';
      assert.match(
        root(),
        new RegExp(`qdisc tbf [0-9a-f]+: root .*rate ${rate}`),
        "the winner's qdisc stays",
      );
    } finally {
      const records = [...(await a.revertAll()), ...(await b.revertAll())];
      assert.deepEqual(
        records.filter((r) => !r.verified),
        [],
      );
    }
    assert.doesNotMatch(root(), /tbf/);
  });

  test('dns failure: lookups through port 53 fail while it is active, and work after revert', async (t) => {
    if (skip) return t.skip(skip);
    const server = await dnsServer();
    try {
      assert.equal(await resolveInNamespace('svc.test'), 'ok 10.9.8.7');
      await withSession(async (s) => {
        const h = await s.inject(
          dnsKind,
          { namespace: peer.ns, resolvers: [peer.hostIp] },
          { ttlMs: 60_000 },
        );
        assert.match(await resolveInNamespace('svc.test'), /^fail /);
        assert.equal((await h.revert()).verified, true);
        const r = await s.inject(dnsKind, { namespace: peer.ns, action: 'reject' }, { ttlMs: 60_000 });
        assert.match(await resolveInNamespace('svc.test'), /^fail (ECONNREFUSED|EREFUSED|ETIMEOUT)/);
        assert.equal((await r.revert()).verified, true);
        assert.equal(await resolveInNamespace('svc.test'), 'ok 10.9.8.7');
      });
    } finally {
      server.close();
    }
  });

  test('latency: FAULTLINE_ERR_UNSUPPORTED pointing to the proxy without netem; the delay with it', async (t) => {
    if (skip) return t.skip(skip);
    await withSession(async (s) => {
      const args = { namespace: peer.ns, interface: peer.nsIf, delay: '100ms' };
      if (!(await netemSupported())) {
        for (const [kind, a] of [
          [latencyKind, args],
          [duplicateKind, { namespace: peer.ns, interface: peer.nsIf, percent: 5 }],
        ] as const) {
          await assert.rejects(
            s.inject(kind, a, { ttlMs: 60_000 }),
            (err: FaultlineError) =>
              err.code === 'FAULTLINE_ERR_UNSUPPORTED' &&
              /no netem/.test(err.message) &&
              /faultline\.proxy/.test(err.message),
          );
        }
        await assert.rejects(
          s.inject(
            lossKind,
            { namespace: peer.ns, interface: peer.nsIf, percent: 5, backend: 'netem' },
            { ttlMs: 60_000 },
          ),
          { code: 'FAULTLINE_ERR_UNSUPPORTED' },
        );
        assert.deepEqual(await home.activeFaults(), [], 'nothing ledgered');
        return;
      }
      const rtt = async () => {
        const t0 = performance.now();
        assert.equal(await connectOnce(peer.nsIp, peer.tcpEcho, 2000), 'ok');
        return performance.now() - t0;
      };
      const h = await s.inject(latencyKind, args, { ttlMs: 60_000 });
      const delayed = await rtt();
      assert.ok(delayed >= 95, `connect took ${delayed} ms`);
      assert.equal((await h.revert()).verified, true);
      assert.ok((await rtt()) < 50);
    });
  });

  test("recovery reverts a dead runner's partition", async (t) => {
    if (skip) return t.skip(skip);
    const runner = spawnFixture(
      join(repoRoot, 'test/fixtures/network/inject-and-hang.ts'),
      [peer.ns, peer.nsIf],
      home.home,
    );
    await runner.waitFor('injected');
    runner.child.kill('SIGKILL');
    await runner.exited;
    assert.deepEqual(await connects(5), { timeout: 5 });
    assert.equal((await home.activeFaults()).length, 1);
    const report = await recoverOrphans({ home: home.home });
    assert.deepEqual(
      report.reverted.map((r) => [r.kind, r.reason, r.verified]),
      [['network-partition', 'dead-owner', true]],
    );
    assert.deepEqual(await connects(5), { ok: 5 });
    assert.deepEqual(faultlineLeftovers(peer.ns), []);
  });

  test('a fault in a namespace deleted meanwhile counts as reverted', async (t) => {
    if (skip) return t.skip(skip);
    const other = await createPeer();
    peers.push(other);
    await withSession(async (s) => {
      const h = await s.inject(lossKind, { namespace: other.ns, percent: 10 }, { ttlMs: 60_000 });
      await destroyPeer(other);
      assert.equal((await h.revert()).verified, true);
    });
  });

  test('bad scope: a missing namespace or interface is named, and nothing is ledgered', async (t) => {
    if (skip) return t.skip(skip);
    const s = session();
    await assert.rejects(
      s.inject(lossKind, { namespace: 'no-such-ns-x', percent: 5 }),
      (err: FaultlineError) => /namespace: no network namespace 'no-such-ns-x'/.test(err.message),
    );
    await assert.rejects(
      s.inject(partitionKind, { namespace: peer.ns, interface: 'nope0' }),
      (err: FaultlineError) => /interface: no interface 'nope0'/.test(err.message),
    );
    await assert.rejects(s.inject(lossKind, { percent: 5, port: 'x' }), { code: 'FAULTLINE_ERR_VALIDATION' });
    assert.deepEqual(await home.activeFaults(), []);
  });
});
