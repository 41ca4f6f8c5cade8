import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FaultlineError } from '../../src/core/errors.js';
import {
  checkPolicies,
  matchingWindow,
  PolicySettingsSchema,
  TimeWindowSchema,
} from '../../src/core/policy.js';

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
