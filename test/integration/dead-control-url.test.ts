/**
 * A dead control URL (issue #13 item 14): a fault whose control server no longer
 * answers is retried by the automatic check a bounded number of times, then only
 * reported; `recover` and `halt` still try it once each, within a time bound; an
 * operator dismisses it with `ledger forget`.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { afterEach, beforeEach, test } from 'node:test';
import { z } from 'zod';
import type { FaultKind } from '../../src/core/fault.js';
import { Registry } from '../../src/core/registry.js';
import {
  AUTO_RETRY_ATTEMPTS,
  haltAll,
  Ledger,
  type LedgerEntry,
  recoverOrphans,
  releaseHalt,
} from '../../src/faults/index.js';
import { assertNothingLeftBehind } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';
import { deadOwnerEntry } from '../helpers/ledger-entries.js';

let home: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
});
afterEach(async () => {
  await cleanup();
});

/** A port nothing listens on: bound, then closed (connections are refused). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A proxy toxic whose runner died, on a proxy API that no longer answers. */
function deadToxic(id: string, apiUrl: string, over: Partial<LedgerEntry> = {}): LedgerEntry {
  const record = {
    api_url: apiUrl,
    proxy: 'api',
    name: 'latency_downstream',
    in_process: false,
    owned: true,
  };
  return deadOwnerEntry(id, 'proxy-toxic', `api/latency_downstream @ ${apiUrl}`, record, over);
}

test('the automatic check retries a dead control URL a bounded number of times, then only reports it', async () => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  const ledger = new Ledger({ home });
  await ledger.write(deadToxic('deadurl', url));

  for (let attempt = 1; attempt <= AUTO_RETRY_ATTEMPTS; attempt++) {
    const r = await recoverOrphans({ home, bounded: true });
    assert.equal(r.failed.length, 1, `attempt ${attempt} is made`);
    assert.match(r.failed[0]?.error ?? '', /ECONNREFUSED|refused/i);
    const e = await ledger.get('deadurl');
    assert.equal(e?.revertAttempts, attempt);
    assert.ok(e?.firstFailedAt);
    assert.match(e?.lastError ?? '', /ECONNREFUSED|refused/i);
  }
  const after = await recoverOrphans({ home, bounded: true });
  assert.deepEqual(after.failed, [], 'not retried once the bound is reached');
  assert.deepEqual(
    after.notRetried.map((n) => [n.id, n.attempts]),
    [['deadurl', AUTO_RETRY_ATTEMPTS]],
  );
  assert.match(after.notRetried[0]?.lastError ?? '', /ECONNREFUSED|refused/i);
  assert.equal((await ledger.get('deadurl'))?.revertAttempts, AUTO_RETRY_ATTEMPTS, 'nothing was tried');

  // `recover` (and halt) still try, once each.
  const recovered = await recoverOrphans({ home, includeExpired: true });
  assert.equal(recovered.failed.length, 1);
  assert.equal((await ledger.get('deadurl'))?.revertAttempts, AUTO_RETRY_ATTEMPTS + 1);
  const halted = await haltAll({ home });
  await releaseHalt({ home });
  assert.equal(halted.failed.filter((f) => f.id === 'deadurl').length, 1);
  assert.equal((await ledger.get('deadurl'))?.revertAttempts, AUTO_RETRY_ATTEMPTS + 2);

  // The operator dismisses it.
  assert.equal((await ledger.forget('deadurl'))?.id, 'deadurl');
  await assertNothingLeftBehind(home);
});

test('an entry whose first failed revert is older than the window is not retried either', async () => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  const ledger = new Ledger({ home });
  const old = new Date(Date.now() - 11 * 60_000).toISOString();
  await ledger.write(
    deadToxic('old', url, { revertAttempts: 1, firstFailedAt: old, lastError: 'ENETUNREACH' }),
  );
  const r = await recoverOrphans({ home, bounded: true });
  assert.deepEqual(r.failed, []);
  assert.deepEqual(
    r.notRetried.map((n) => [n.id, n.attempts, n.firstFailedAt]),
    [['old', 1, old]],
  );
  await ledger.remove('old');
});

test('recover and halt give one revert a bounded time, report it and move on', async () => {
  const Args = z.object({});
  const hanging: FaultKind<typeof Args> = {
    kind: 'test-hanging',
    args: Args,
    target: () => 'nowhere',
    plan: () => ({}),
    async inject() {},
    revert: () => new Promise<void>(() => undefined), // a control server that never answers
    verify: async () => false,
  };
  const kinds = new Registry<FaultKind>('fault kind');
  kinds.register(hanging.kind, hanging as FaultKind);
  const ledger = new Ledger({ home });
  await ledger.write({ ...deadToxic('hangs', 'http://unused'), kind: 'test-hanging', record: {} });

  const r = await recoverOrphans({ home, includeExpired: true, kinds, revertTimeoutMs: 200 });
  assert.match(r.failed[0]?.error ?? '', /did not finish within 200 ms/);
  const h = await haltAll({ home, kinds, revertTimeoutMs: 200 });
  await releaseHalt({ home });
  assert.match(h.failed.find((f) => f.id === 'hangs')?.error ?? '', /did not finish within 200 ms/);
  const e = await ledger.get('hangs');
  assert.equal(e?.state, 'active', 'released, not held by a claim');
  assert.equal(e?.revertAttempts, 2);
  await ledger.remove('hangs');
});
