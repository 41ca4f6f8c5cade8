import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FaultlineError } from '../../src/core/errors.js';
import {
  checkPolicies,
  type GrantedApproval,
  matchingWindow,
  PolicySettingsSchema,
  TimeWindowSchema,
} from '../../src/core/policy.js';
import {
  type Approval,
  expiresInSeconds,
  lifecycleOf,
  MAX_APPROVAL_SECONDS,
  selfApproval,
  toGranted,
} from '../../src/server/approvals/model.js';

const w = (x: Record<string, unknown>) => TimeWindowSchema.parse(x);
// 2026-11-25 is a Wednesday.
const at = (iso: string) => new Date(iso);

test('time windows: days, hours, time zones, spanning midnight', () => {
  const office = w({
    days: ['mon', 'tue', 'wed', 'thu', 'fri'],
    start: '09:00',
    end: '17:00',
    timezone: 'UTC',
  });
  assert.ok(matchingWindow(at('2026-11-25T10:00:00Z'), [office]));
  assert.equal(matchingWindow(at('2026-11-25T17:00:00Z'), [office]), undefined, 'end is exclusive');
  assert.equal(matchingWindow(at('2026-11-28T10:00:00Z'), [office]), undefined, 'Saturday');
  const paris = w({ start: '09:00', end: '10:00', timezone: 'Europe/Paris' });
  assert.ok(matchingWindow(at('2026-11-25T08:30:00Z'), [paris]), '09:30 in Paris (UTC+1)');
  const night = w({ start: '22:00', end: '02:00' });
  assert.ok(matchingWindow(at('2026-11-25T23:00:00Z'), [night]));
  assert.ok(matchingWindow(at('2026-11-25T01:00:00Z'), [night]));
  assert.equal(matchingWindow(at('2026-11-25T12:00:00Z'), [night]), undefined);
  assert.throws(() => w({ start: '9am', end: '10:00' }), /HH:MM/);
  assert.throws(() => w({ start: '09:00', end: '10:00', timezone: 'Mars/Olympus' }), /IANA/);
});

test('production approval: --yes, a terminal answer, or a refusal naming the rule', async () => {
  const settings = PolicySettingsSchema.parse({});
  assert.deepEqual(await checkPolicies(['staging'], settings, {}), { production: false });
  const yes = await checkPolicies(['prod'], settings, { yes: true });
  assert.equal(yes.approval?.by, '--yes');
  const asked: string[] = [];
  const ok = await checkPolicies(['production'], settings, {
    confirm: async (q) => {
      asked.push(q);
      return true;
    },
  });
  assert.equal(ok.approval?.by, 'terminal');
  assert.match(asked[0]!, /tagged 'production'/);
  await assert.rejects(
    checkPolicies(['prod'], settings, { confirm: async () => false }),
    (err: FaultlineError) => {
      assert.equal(err.code, 'FAULTLINE_ERR_POLICY');
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /^production_tags: .*--yes/);
      return true;
    },
  );
  await assert.rejects(checkPolicies(['prod'], settings, {}), /needs approval/);
});

test('a run outside every time window is refused, naming the windows', async () => {
  const settings = PolicySettingsSchema.parse({
    time_windows: [{ days: ['mon'], start: '09:00', end: '10:00' }],
  });
  await assert.rejects(
    checkPolicies([], settings, { now: at('2026-11-25T09:30:00Z') }),
    /^FaultlineError: time_windows: runs are allowed only in mon 09:00-10:00 UTC/,
  );
  const inside = await checkPolicies([], settings, { now: at('2026-11-23T09:30:00Z') });
  assert.equal(inside.time_window?.allowed, true);
});

// ---------------------------------------------------------------- approvals (issue #18)

const grant: GrantedApproval = {
  id: '01a00000-0000-7000-8000-000000000001',
  experiment: 'checkout',
  version: 3,
  requestedBy: 'bob',
  requestedAt: '2026-11-25T09:00:00.000Z',
  approvedBy: 'dave',
  approvedAt: '2026-11-25T09:05:00.000Z',
  expiresAt: '2026-11-26T09:05:00.000Z',
  standing: false,
};

test('an approval: a server grant is recorded as such, --yes and a terminal answer as local with the user', async () => {
  const settings = PolicySettingsSchema.parse({});
  const now = at('2026-11-25T10:00:00Z');
  const server = await checkPolicies(['prod'], settings, { approval: grant, now, localUser: 'runner' });
  assert.deepEqual(server.approval, { by: 'approval', kind: 'server', at: now.toISOString(), grant });
  const yes = await checkPolicies(['prod'], settings, { yes: true, now, localUser: 'ana' });
  assert.deepEqual(yes.approval, { by: '--yes', kind: 'local', at: now.toISOString(), user: 'ana' });
  const asked = await checkPolicies(['prod'], settings, { confirm: async () => true, localUser: 'ana' });
  assert.equal(asked.approval?.kind, 'local');
  assert.equal(asked.approval?.user, 'ana');
  // Not production: no approval is recorded, even when one is given.
  assert.deepEqual(await checkPolicies(['staging'], settings, { approval: grant }), { production: false });
});

const approval = (over: Partial<Approval>): Approval => ({
  id: over.id ?? 'a',
  experiment: 'checkout',
  version: 1,
  state: 'pending',
  standing: false,
  expiresIn: 3600,
  requestedBy: 'bob',
  requestedAt: '2026-11-25T09:00:00.000Z',
  author: 'carol',
  ...over,
});

test("an experiment's lifecycle state from its version's approvals", () => {
  const now = at('2026-11-25T12:00:00Z');
  const approved = { state: 'approved', decidedBy: 'dave', decidedAt: '2026-11-25T10:00:00.000Z' } as const;
  const rows: [string, boolean, Partial<Approval>[], string][] = [
    ['not production', false, [approved], 'ready'],
    ['nothing asked', true, [], 'draft'],
    ['asked for another version only', true, [{ version: 2 }], 'draft'],
    ['asked', true, [{}], 'in-review'],
    ['approved and valid', true, [{ ...approved, expiresAt: '2026-11-25T13:00:00.000Z' }], 'approved'],
    [
      'approved wins over a pending one',
      true,
      [{}, { ...approved, id: 'b', expiresAt: '2026-11-26T00:00:00.000Z' }],
      'approved',
    ],
    [
      'approved but past its expiry, not swept yet',
      true,
      [{ ...approved, expiresAt: '2026-11-25T11:59:59.000Z' }],
      'expired',
    ],
    [
      'used by its run',
      true,
      [{ ...approved, state: 'used', usedAt: '2026-11-25T10:30:00.000Z' }],
      'expired',
    ],
    ['rejected', true, [{ state: 'rejected', decidedAt: '2026-11-25T10:00:00.000Z' }], 'rejected'],
    [
      'rejected after an earlier one expired',
      true,
      [
        { ...approved, state: 'expired', decidedAt: '2026-11-24T10:00:00.000Z' },
        { id: 'b', state: 'rejected', decidedAt: '2026-11-25T10:00:00.000Z' },
      ],
      'rejected',
    ],
  ];
  for (const [what, production, list, state] of rows) {
    const l = lifecycleOf(production, 1, list.map(approval), now);
    assert.equal(l.state, state, what);
    assert.equal(l.version, 1, what);
    assert.equal(l.production, production, what);
  }
});

test('four eyes: the author and the requester may not approve, also through their tokens', () => {
  const a = approval({});
  const parties = (approver: string[]) => ({ approver, author: ['carol', 'token:ci'], requester: ['bob'] });
  assert.equal(selfApproval(a, parties(['dave'])), undefined);
  assert.match(selfApproval(a, parties(['carol'])) ?? '', /^carol wrote version 1 of checkout/);
  assert.match(selfApproval(a, parties(['carol', 'token:carol-laptop'])) ?? '', /^carol wrote/);
  assert.match(selfApproval(a, parties(['token:ci'])) ?? '', /^token:ci wrote/);
  assert.match(selfApproval(a, parties(['bob'])) ?? '', /^bob asked for this approval/);
  // Without users everyone is `local`: what `local` asked for, `local` cannot approve.
  const local = approval({ author: 'local', requestedBy: 'local' });
  assert.ok(selfApproval(local, { approver: ['local'], author: ['local'], requester: ['local'] }));
});

test('expiresIn: 1 minute to 30 days, as written or in seconds', () => {
  assert.equal(expiresInSeconds('24h'), 86_400);
  assert.equal(expiresInSeconds('90m'), 5400);
  assert.equal(expiresInSeconds(60), 60);
  assert.equal(expiresInSeconds('720h'), MAX_APPROVAL_SECONDS);
  for (const bad of ['59s', '721h', '0', -60, 'tomorrow', '1d', Number.NaN])
    assert.equal(expiresInSeconds(bad), undefined, String(bad));
});

test('a grant is what the journal records: only of an approval that was approved', () => {
  const decided = {
    decidedBy: 'dave',
    decidedAt: '2026-11-25T09:05:00.000Z',
    expiresAt: '2026-11-26T09:05:00.000Z',
  };
  for (const state of ['approved', 'used', 'expired'] as const)
    assert.deepEqual(toGranted(approval({ ...decided, state, id: grant.id, version: 3 })), grant, state);
  assert.equal(toGranted(approval({})), undefined, 'pending');
  assert.equal(
    toGranted(approval({ state: 'rejected', decidedBy: 'dave', decidedAt: decided.decidedAt })),
    undefined,
  );
  assert.equal(toGranted(approval({ ...decided, state: 'approved', comment: 'why' }))?.comment, 'why');
});
