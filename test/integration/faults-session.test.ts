import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { z } from 'zod';
import type { FaultlineError } from '../../src/core/errors.js';
import type { FaultKind } from '../../src/core/fault.js';
import type { FaultRecord } from '../../src/core/journal.js';
import { Registry } from '../../src/core/registry.js';
import {
  type FaultEvent,
  FaultSession,
  haltAll,
  haltState,
  Ledger,
  listActiveFaults,
  markerKind,
  recoverOrphans,
  releaseHalt,
} from '../../src/faults/index.js';
import { identityOf } from '../../src/faults/marker.js';
import { assertNothingLeftBehind, ledgerFiles } from '../helpers/faults.js';
import { tempHome } from '../helpers/home.js';

let home: string;
let cleanup: () => Promise<void>;
let events: FaultEvent[];

function session(runId = 'run-1'): FaultSession {
  return new FaultSession({ runId, ledger: new Ledger({ home }), onEvent: (e) => events.push(e) });
}

function waitForEvent(type: FaultEvent['type'], id: string): Promise<FaultEvent> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      const e = events.find((x) => x.type === type && x.record.id === id);
      if (e) {
        clearInterval(poll);
        resolve(e);
      }
    }, 5);
  });
}

const FileArgs = z.object({ path: z.string(), password: z.string().optional() });

/** A file fault with hooks, to count reverts and to fail on purpose. */
function fileKind(
  name: string,
  hooks: {
    beforeWrite?: () => Promise<void>;
    afterWrite?: () => void;
    revertWorks?: () => boolean;
    log?: string[];
  } = {},
): FaultKind<typeof FileArgs> {
  return {
    kind: name,
    args: FileArgs,
    target: (a) => a.path,
    plan: (a) => ({ path: a.path }),
    async inject(a) {
      await hooks.beforeWrite?.();
      await writeFile(a.path, 'x');
      hooks.afterWrite?.();
    },
    async revert(r) {
      hooks.log?.push(String(r.path));
      if (hooks.revertWorks && !hooks.revertWorks()) return;
      await unlink(String(r.path)).catch(() => undefined);
    },
    async verify(r) {
      return !existsSync(String(r.path));
    },
  };
}

beforeEach(async () => {
  ({ home, cleanup } = await tempHome());
  events = [];
});
afterEach(async () => {
  await cleanup();
});

describe('inject, revert, verify', () => {
  test('a marker is ledgered as active, then reverted, verified and forgotten', async () => {
    const s = session();
    const path = join(home, 'marker');
    const h = await s.inject(markerKind, { path, content: 'hello' }, { ttlMs: 60_000 });
    assert.equal(h.kind, 'marker-file');
    assert.equal(h.target, path);
    assert.equal(await readFile(path, 'utf8'), 'hello');
    const [fault] = await listActiveFaults({ home });
    assert.equal(fault?.id, h.id);
    assert.equal(fault?.state, 'active');
    assert.equal(fault?.ownerAlive, true);
    assert.equal(fault?.runId, 'run-1');
    assert.equal(fault?.ttlMs, 60_000);
    assert.equal(s.active(), 1);
    assert.deepEqual(
      events.map((e) => [e.type, e.action]),
      [['fault-injected', 'injected']],
    );

    const rec = await h.revert();
    assert.equal(rec.verified, true);
    assert.equal(rec.error, undefined);
    assert.ok(rec.injected_at && rec.reverted_at);
    assert.equal(existsSync(path), false);
    assert.deepEqual(await ledgerFiles(home), []);
    assert.equal(s.active(), 0);
    assert.deepEqual((await h.revert()).verified, true, 'reverting twice is harmless');
    assert.equal(events.filter((e) => e.type === 'fault-reverted').length, 1);
    assert.deepEqual(await s.revertAll(), [rec]);
    assert.deepEqual(s.records(), [rec]);
    await assertNothingLeftBehind(home, [path]);
  });

  test('kinds can be named; arguments are validated naming the field; secrets are not ledgered', async () => {
    const s = session();
    await assert.rejects(s.inject('marker-file', { path: 5 }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
      assert.match(err.message, /^marker-file: path: /);
      assert.equal(err.issues[0]?.path, 'path');
      return true;
    });
    await assert.rejects(
      s.inject('no-such-kind', {}),
      /unknown fault kind 'no-such-kind' \(known: .*marker-file/,
    );
    await assert.rejects(s.inject(markerKind, { path: join(home, 'm') }, { ttlMs: -1 }), /ttlMs/);
    const existing = join(home, 'existing');
    await writeFile(existing, 'keep me');
    await assert.rejects(s.inject('marker-file', { path: existing }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_FAULT');
      assert.match(err.message, /path: .*already exists/);
      return true;
    });
    assert.equal(await readFile(existing, 'utf8'), 'keep me');

    const secretPath = join(home, 'secret');
    const h = await s.inject(fileKind('test-secret-file'), { path: secretPath, password: 'hunter2' });
    const raw = await readFile(join(home, 'ledger', `${h.id}.json`), 'utf8');
    assert.doesNotMatch(raw, /hunter2/);
    assert.match(raw, /\[redacted\]/);
    await s.revertAll();
    await unlink(existing);
    await assertNothingLeftBehind(home, [secretPath]);
  });

  test('a session that injects nothing touches no disk', async () => {
    const untouched = join(home, 'not-created');
    const s = new FaultSession({ runId: 'r', ledger: new Ledger({ home: untouched }) });
    assert.deepEqual(await s.revertAll(), []);
    assert.deepEqual(s.records(), []);
    assert.equal(existsSync(untouched), false);
  });

  test('an aborted signal refuses the inject before anything is written', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(
      session().inject(markerKind, { path: join(home, 'm') }, { signal: ac.signal }),
      (err: FaultlineError) => err.code === 'FAULTLINE_ERR_INTERRUPTED',
    );
    await assertNothingLeftBehind(home, [join(home, 'm')]);
  });
});

describe('TTL', () => {
  test('a fault is reverted when its TTL elapses', async () => {
    const log: string[] = [];
    let written = false;
    const s = session();
    const path = join(home, 'ttl');
    const kind = fileKind('test-ttl-file', {
      log,
      afterWrite: () => {
        written = true;
      },
    });
    const h = await s.inject(kind, { path }, { ttlMs: 80 });
    assert.equal(written, true);
    await waitForEvent('fault-expired', h.id);
    const reverted = await waitForEvent('fault-reverted', h.id);
    assert.equal(reverted.record.verified, true);
    assert.deepEqual(
      events.map((e) => e.type),
      ['fault-injected', 'fault-expired', 'fault-reverted'],
    );
    assert.equal(existsSync(path), false);
    assert.equal(s.active(), 0);
    await s.revertAll();
    assert.equal(log.length, 1, 'revertAll does not revert an expired fault again');
    await assertNothingLeftBehind(home, [path]);
  });
});

describe('failures', () => {
  test('when inject throws, whatever it did is reverted and the entry removed', async () => {
    const s = session();
    const path = join(home, 'half');
    const kind = fileKind('test-failing-inject', {
      afterWrite: () => {
        throw new Error('connection reset');
      },
    });
    await assert.rejects(s.inject(kind, { path }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_FAULT');
      assert.match(err.message, /cannot inject: connection reset/);
      return true;
    });
    assert.equal(existsSync(path), false);
    assert.deepEqual(s.records(), [], 'a fault that never was is not in the journal');
    assert.equal(s.active(), 0);
    await s.revertAll();
    await assertNothingLeftBehind(home, [path]);
  });

  test('a failed revert is recorded, the others still run, and a later revertAll retries it', async () => {
    let works = false;
    const s = session();
    const stuck = join(home, 'stuck');
    const fine = join(home, 'fine');
    const a = await s.inject(fileKind('test-stuck', { revertWorks: () => works }), { path: stuck });
    const b = await s.inject(markerKind, { path: fine });
    const first = await s.revertAll();
    assert.deepEqual(
      first.map((r) => [r.id, r.verified]),
      [
        [b.id, true],
        [a.id, false],
      ],
    );
    assert.match(first[1]?.error ?? '', /could not be verified/);
    assert.equal(s.active(), 1);
    assert.equal(events.filter((e) => e.type === 'fault-revert-failed').length, 1);
    const [left] = await listActiveFaults({ home });
    assert.equal(left?.id, a.id);
    assert.match(left?.lastError ?? '', /could not be verified/);
    assert.deepEqual(await ledgerFiles(home), [`${a.id}.json`]);

    works = true;
    const second = await s.revertAll();
    assert.equal(
      second.every((r) => r.verified && r.error === undefined),
      true,
    );
    assert.equal(s.active(), 0);
    await assertNothingLeftBehind(home, [stuck, fine]);
  });

  test('revertAll is idempotent, and concurrent calls revert each fault once', async () => {
    const log: string[] = [];
    const s = session();
    const paths = [0, 1, 2].map((i) => join(home, `f${i}`));
    const kind = fileKind('test-counting', { log });
    for (const path of paths) await s.inject(kind, { path });
    const [x, y] = await Promise.all([s.revertAll(), s.revertAll()]);
    const z2 = await s.revertAll();
    // Different targets revert concurrently: each once, in no promised order.
    assert.deepEqual([...log].sort(), [...paths].sort());
    assert.deepEqual(
      x.map((r) => r.target),
      [...paths].reverse(),
      'records are returned newest first',
    );
    assert.deepEqual(x, y);
    assert.deepEqual(x, z2);
    assert.equal(x.length, 3);
    assert.ok(x.every((r) => r.verified));
    await assertNothingLeftBehind(home, paths);
  });

  test('faults on one target unwind newest first, one at a time; other targets meanwhile', async () => {
    const log: string[] = [];
    const s = session();
    const paths = [0, 1, 2].map((i) => join(home, `g${i}`));
    let running = 0;
    let overlapped = false;
    const shared: FaultKind<typeof FileArgs> = {
      ...fileKind('test-shared-target'),
      target: () => 'one shared target',
      async revert(r) {
        if (++running > 1) overlapped = true;
        log.push(String(r.path));
        // Let a concurrent revert of the same target (if there were one) start meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 20));
        await unlink(String(r.path)).catch(() => undefined);
        running--;
      },
    };
    for (const path of paths) await s.inject(shared, { path });
    const other = join(home, 'other');
    await s.inject(fileKind('test-other-target'), { path: other });
    const records = await s.revertAll();
    assert.deepEqual(log, [...paths].reverse());
    assert.equal(overlapped, false, 'reverts of one target never overlap');
    assert.ok(records.every((r) => r.verified));
    await assertNothingLeftBehind(home, [...paths, other]);
  });

  test('a listener that throws does not break injecting or reverting', async () => {
    const s = new FaultSession({
      runId: 'r',
      ledger: new Ledger({ home }),
      onEvent: () => {
        throw new Error('listener bug');
      },
    });
    const path = join(home, 'm');
    await s.inject(markerKind, { path });
    assert.equal((await s.revertAll())[0]?.verified, true);
    await assertNothingLeftBehind(home, [path]);
  });
});

describe('halt', () => {
  test('refuses new injects until released', async () => {
    const s = session();
    const path = join(home, 'm');
    await haltAll({ home, reason: 'game day over' });
    assert.equal((await haltState({ home }))?.reason, 'game day over');
    await assert.rejects(s.inject(markerKind, { path }), (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_HALTED');
      assert.match(err.message, /game day over/);
      return true;
    });
    assert.equal(existsSync(path), false);
    assert.equal(await releaseHalt({ home }), true);
    assert.equal(await haltState({ home }), null);
    await s.inject(markerKind, { path });
    await s.revertAll();
    await assertNothingLeftBehind(home, [path]);
  });

  test('reverts the active faults of a live session, which then verifies them', async () => {
    const s = session();
    const path = join(home, 'm');
    const h = await s.inject(markerKind, { path });
    const report = await haltAll({ home });
    assert.deepEqual(
      report.reverted.map((r) => [r.id, r.reason, r.verified]),
      [[h.id, 'halt', true]],
    );
    assert.deepEqual(report.failed, []);
    assert.equal(existsSync(path), false);
    assert.deepEqual(await ledgerFiles(home), []);
    const [rec] = await s.revertAll();
    assert.equal(rec?.verified, true);
    await releaseHalt({ home });
    await assertNothingLeftBehind(home, [path]);
  });

  test('a halt that lands while a fault is being injected still leaves nothing behind', async () => {
    const s = session();
    const path = join(home, 'late');
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    let started!: () => void;
    const injecting = new Promise<void>((r) => {
      started = r;
    });
    // The fault acts only after the halt has reverted (and removed) its pending entry.
    const kind = fileKind('test-late-inject', {
      beforeWrite: async () => {
        started();
        await gate;
      },
    });
    const attempt = s.inject(kind, { path });
    await injecting;
    const report = await haltAll({ home, kinds: new Registry<FaultKind>('fault kind') });
    // Not registered in the halt's registry: reported, left in the ledger for the session.
    assert.equal(report.failed.length, 1);
    assert.match(report.failed[0]?.error ?? '', /unknown fault kind/);
    open();
    await assert.rejects(attempt, (err: FaultlineError) => err.code === 'FAULTLINE_ERR_HALTED');
    assert.equal(existsSync(path), false);
    assert.equal(s.active(), 0);
    await s.revertAll();
    await releaseHalt({ home });
    await assertNothingLeftBehind(home, [path]);
  });

  test('a fault whose pending entry a halt reverted is reverted again by the session after it acts', async () => {
    const s = session();
    const path = join(home, 'late2');
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    let started!: () => void;
    const injecting = new Promise<void>((r) => {
      started = r;
    });
    const kind = fileKind('test-late-inject-2', {
      beforeWrite: async () => {
        started();
        await gate;
      },
    });
    const kinds = new Registry<FaultKind>('fault kind');
    kinds.register(kind.kind, kind);
    const attempt = s.inject(kind, { path });
    await injecting;
    const report = await haltAll({ home, kinds });
    assert.equal(report.reverted.length, 1);
    assert.deepEqual(await ledgerFiles(home), []);
    open();
    await assert.rejects(attempt, (err: FaultlineError) => err.code === 'FAULTLINE_ERR_HALTED');
    assert.equal(existsSync(path), false);
    await s.revertAll();
    await releaseHalt({ home });
    await assertNothingLeftBehind(home, [path]);
  });
});

describe('recovery in one process', () => {
  async function orphan(ledger: Ledger, id: string, over: Record<string, unknown>) {
    const now = Date.now();
    // The file first: a marker's record proves it is Faultline's by the identity inject() recorded.
    await writeFile(join(home, id), '');
    const identity = await identityOf(join(home, id));
    await ledger.write({
      id,
      kind: 'marker-file',
      runId: 'ghost',
      target: join(home, id),
      args: {},
      record: { path: join(home, id), existed: false, identity },
      state: 'active',
      createdAt: new Date(now).toISOString(),
      ttlMs: 60_000,
      expiresAt: new Date(now + 60_000).toISOString(),
      ownerPid: process.pid,
      ownerStart: null,
      host: hostname(),
      ...over,
    });
  }

  test('reverts entries whose pid was reused; keeps live ones unless expired; reports unknown kinds', async () => {
    const ledger = new Ledger({ home });
    await ledger.registerRun('ghost');
    await orphan(ledger, 'reused', { ownerStart: '1' }); // our pid, another start time: a reused pid
    await orphan(ledger, 'live', { ownerStart: null });
    const past = new Date(Date.now() - 1000).toISOString();
    await orphan(ledger, 'expired', { ownerStart: null, expiresAt: past, ttlMs: 1 });
    await orphan(ledger, 'unknown', { ownerStart: '1', kind: 'gone-kind' });

    const listed = await listActiveFaults({ home });
    const alive = Object.fromEntries(listed.map((f) => [f.id, f.ownerAlive]));
    const reusedLooksAlive = !existsSync('/proc/self/stat');
    assert.deepEqual(alive, {
      reused: reusedLooksAlive,
      live: true,
      expired: true,
      unknown: reusedLooksAlive,
    });
    assert.equal(listed.find((f) => f.id === 'expired')?.expired, true);

    const first = await recoverOrphans({ home });
    if (reusedLooksAlive === false) {
      assert.deepEqual(
        first.reverted.map((r) => [r.id, r.reason]),
        [['reused', 'dead-owner']],
      );
      assert.deepEqual(
        first.failed.map((r) => r.id),
        ['unknown'],
      );
      assert.match(first.failed[0]?.error ?? '', /unknown fault kind 'gone-kind'/);
      assert.equal(existsSync(join(home, 'reused')), false);
    }
    assert.equal(existsSync(join(home, 'live')), true);
    const second = await recoverOrphans({ home, includeExpired: true });
    assert.deepEqual(
      second.reverted.map((r) => [r.id, r.reason]),
      [['expired', 'expired']],
    );
    assert.equal(existsSync(join(home, 'unknown')), true, 'an unknown kind is never dropped');
    assert.ok((await ledgerFiles(home)).includes('unknown.json'));

    // Clean up the rest by hand (they belong to this live process).
    const halt = await haltAll({ home });
    assert.deepEqual(halt.reverted.map((r) => r.id).sort(), reusedLooksAlive ? ['live', 'reused'] : ['live']);
    await releaseHalt({ home });
    await ledger.remove('unknown');
    await unlink(join(home, 'unknown'));
    await ledger.unregisterRun('ghost');
    await assertNothingLeftBehind(
      home,
      ['reused', 'live', 'expired', 'unknown'].map((f) => join(home, f)),
    );
  });
});

test('a fault with a lease is renewed while active and no longer after its revert', async () => {
  const { home: h, cleanup } = await tempHome();
  try {
    const renewals: number[] = [];
    const leased: FaultKind = {
      kind: 'leased-test',
      args: z.object({}),
      leaseMs: 150,
      target: () => 'leased',
      plan: () => ({}),
      inject: async () => undefined,
      revert: async () => undefined,
      verify: async () => true,
      renew: async (_record, leaseMs) => {
        renewals.push(leaseMs);
      },
    };
    const session = new FaultSession({ runId: 'lease-run', ledger: new Ledger({ home: h }) });
    const handle = await session.inject(leased, {}, { ttlMs: 60_000 });
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(renewals.length >= 4, `renewed every leaseMs/3 (${renewals.length} times)`);
    assert.ok(renewals.every((ms) => ms === 150));
    await handle.revert();
    const after = renewals.length;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(renewals.length, after, 'no renewal after the revert');
  } finally {
    await cleanup();
  }
});

describe('revertAll does not wait on an injection in flight (issue 12 item 13)', () => {
  /** Fails naming `what` instead of hanging when `p` never settles (a generous bound, not a timing). */
  function within<T>(what: string, p: Promise<T>, ms = 20_000): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms: ${what}`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** A file fault whose inject waits for `release` and ignores its signal, like a kind with a stuck wait. */
  function stubbornKind(release: Promise<void>, acting: () => void): FaultKind<typeof FileArgs> {
    return fileKind('test-stubborn-file', {
      beforeWrite: async () => {
        acting();
        await release;
      },
    });
  }

  test('an active fault is reverted at once; one that lands after the cancel is reverted as it lands', async () => {
    const s = session();
    const marker = join(home, 'marker');
    const slow = join(home, 'slow');
    await s.inject(markerKind, { path: marker });
    let release = () => undefined as void;
    let acting = () => undefined as void;
    const released = new Promise<void>((r) => (release = r));
    const isActing = new Promise<void>((r) => (acting = r));
    const pending = s.inject(stubbornKind(released, acting), { path: slow });
    pending.catch(() => undefined);
    await isActing;

    const all = s.revertAll();
    // The marker comes off while the other injection is still waiting: nothing waits on it.
    const [markerRecord] = s.records();
    await within(
      'the marker reverted before the other injection lands',
      waitForEvent('fault-reverted', markerRecord!.id),
    );
    assert.equal(existsSync(marker), false);
    assert.equal(existsSync(slow), false, 'the stubborn injection has not acted yet');

    const landedAfter = Date.now();
    release();
    await assert.rejects(pending, (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_INTERRUPTED');
      assert.match(err.message, /took effect after its session began reverting/);
      return true;
    });
    assert.equal(existsSync(slow), false, 'reverted as soon as it landed');
    const records = await all;
    const late = records.find((r) => r.kind === 'test-stubborn-file');
    assert.ok(late, 'the cancelled fault is in the journal');
    assert.equal(late.verified, true);
    assert.match(late.injection_error ?? '', /took effect after its session began reverting/);
    // Its time is when it took effect, not when it was asked for.
    assert.ok(Date.parse(late.injected_at) >= landedAfter - 1, `${late.injected_at} vs ${landedAfter}`);
    assert.equal(s.active(), 0);
    await assertNothingLeftBehind(home, [marker, slow]);
  });

  test('an injection that landed just before revertAll began, and is still being recorded, is reverted too', async () => {
    const s = session();
    const file = join(home, 'just-landed');
    let all: Promise<FaultRecord[]> | undefined;
    // revertAll starts while the session records the landed fault as active (past its cancel check).
    const kind = fileKind('test-just-landed', {
      afterWrite: () => setImmediate(() => (all = s.revertAll())),
    });
    const h = await s.inject(kind, { path: file });
    assert.ok(all, 'revertAll began during the injection');
    const records = await within('revertAll', all);
    assert.equal(existsSync(file), false, 'not left in place');
    assert.equal(records.find((r) => r.id === h.id)?.verified, true);
    assert.equal(s.active(), 0);
    await assertNothingLeftBehind(home, [file]);
  });

  test('an injection that honours its signal is cancelled by revertAll and kept in the journal', async () => {
    const s = session();
    const file = join(home, 'cancelled');
    let acting = () => undefined as void;
    const isActing = new Promise<void>((r) => (acting = r));
    const kind: FaultKind<typeof FileArgs> = {
      ...fileKind('test-cancellable-file'),
      async inject(a, _record, signal) {
        await writeFile(a.path, 'half'); // it acted partly, then waits
        acting();
        await new Promise((_, reject) => {
          signal?.addEventListener('abort', () => reject(new Error('gave up waiting')), { once: true });
        });
      },
    };
    const pending = s.inject(kind, { path: file });
    pending.catch(() => undefined);
    await isActing;
    const [record] = await within('revertAll to cancel the injection', s.revertAll());
    await assert.rejects(pending, (err: FaultlineError) => err.code === 'FAULTLINE_ERR_INTERRUPTED');
    assert.equal(existsSync(file), false, 'what it did is undone');
    assert.equal(record?.verified, true);
    assert.match(record?.injection_error ?? '', /interrupted while injecting: gave up waiting/);
    assert.equal(record?.error, undefined, 'not an unreverted fault');
    assert.deepEqual(
      s.records().map((r) => r.id),
      [record?.id],
    );
    await assertNothingLeftBehind(home, [file]);
  });

  test('an injection interrupted by the caller is in the records, with why', async () => {
    const s = session();
    const file = join(home, 'interrupted');
    const ac = new AbortController();
    const kind: FaultKind<typeof FileArgs> = {
      ...fileKind('test-interrupted-file'),
      async inject(a, _record, signal) {
        await writeFile(a.path, 'half');
        ac.abort(new Error('interrupted by SIGINT'));
        if (signal?.aborted) throw new Error('aborted: the run is being interrupted');
      },
    };
    await assert.rejects(
      s.inject(kind, { path: file }, { signal: ac.signal }),
      (err: FaultlineError) => err.code === 'FAULTLINE_ERR_INTERRUPTED',
    );
    const [record] = s.records();
    assert.equal(record?.kind, 'test-interrupted-file');
    assert.equal(record?.verified, true);
    assert.ok(record?.reverted_at);
    assert.match(record?.injection_error ?? '', /interrupted while injecting/);
    assert.equal(existsSync(file), false);
    await s.revertAll(); // what the engine does on every path: it forgets the run
    assert.equal(s.records().length, 1, 'still in the journal after revertAll');
    await assertNothingLeftBehind(home, [file]);
  });
});
