/** The agent's control plane as network faults must spare it: NATS servers by address and port, DNS resolvers. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { networkExemptions, setNetworkExemptions } from '../../src/faults/network/exempt.js';
import { controlPlanePeers, exemptControlPlane, resolvers } from '../../src/fleet/exemptions.js';

test('NATS servers in every form the clients accept, by each resolved address and port', async () => {
  const peers = await controlPlanePeers([
    'nats://127.0.0.1:4333',
    'tls://[::1]:4444',
    '127.0.0.2',
    'localhost:5000',
  ]);
  const tcp = peers.filter((p) => p.protocol === 'tcp');
  assert.deepEqual(tcp.slice(0, 3), [
    { address: '127.0.0.1', port: 4333, protocol: 'tcp' },
    { address: '::1', port: 4444, protocol: 'tcp' },
    { address: '127.0.0.2', port: 4222, protocol: 'tcp' },
  ]);
  assert.ok(
    tcp.some((p) => p.port === 5000 && (p.address === '127.0.0.1' || p.address === '::1')),
    'localhost resolved',
  );
  // A name that does not resolve adds nothing rather than failing the agent's start.
  const none = await controlPlanePeers(['nats://no-such-host.invalid:4222']);
  assert.ok(none.every((p) => p.port === 53));
});

test('the resolvers of a resolv.conf, IPv4 and IPv6 (a zone dropped), and nothing else', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'faultline-resolv-'));
  try {
    const file = join(dir, 'resolv.conf');
    await writeFile(
      file,
      '# comment\nnameserver 10.0.0.2\nsearch example.com\nnameserver fe80::1%eth0\nnameserver bogus\n',
    );
    assert.deepEqual(await resolvers(file), ['10.0.0.2', 'fe80::1']);
    assert.deepEqual(await resolvers(join(dir, 'missing')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('exemptControlPlane sets the process-wide list the network faults read', async () => {
  const before = networkExemptions();
  try {
    const peers = await exemptControlPlane(['nats://127.0.0.1:4999']);
    assert.deepEqual(networkExemptions().slice(0, 1), [
      { address: '127.0.0.1', port: 4999, protocol: 'tcp' },
    ]);
    assert.equal(networkExemptions().length, peers.length);
  } finally {
    setNetworkExemptions(before);
  }
});
