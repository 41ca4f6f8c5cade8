/**
 * Blackout windows' arithmetic (schedule/blackout.ts) on fixed instants: daylight-saving changes,
 * windows past midnight, inclusive date-only ranges, the settings file's time_windows as the
 * "outside" kind (the same answer as checkPolicies), and the next change being exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPolicies, matchingWindow, TimeWindowSchema } from '../../src/core/policy.js';
import { SettingsSchema } from '../../src/experiment/settings.js';
import {
  type BlackoutRule,
  BlackoutWindowSchema,
  blackoutAt,
  blackoutRefusal,
  instantsOf,
  nextChange,
  outsideTimeWindows,
  ruleInForce,
  ruleState,
  settingsBlackouts,
} from '../../src/schedule/blackout.js';

const at = (iso: string) => new Date(iso);
const ms = (iso: string) => Date.parse(iso);
const win = (x: Record<string, unknown>) => BlackoutWindowSchema.parse({ name: 'w', ...x });
const iso = (d: Date | undefined) => d?.toISOString();

test('local times to instants: one, two in the repeated hour, the jump in the skipped one', () => {
  // Paris, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00Z); 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00Z).
  assert.deepEqual(instantsOf(ms('2026-03-29T12:00Z'), 'Europe/Paris'), [ms('2026-03-29T10:00Z')]);
  assert.deepEqual(instantsOf(ms('2026-03-29T02:30Z'), 'Europe/Paris'), [ms('2026-03-29T01:30Z')]);
  assert.deepEqual(instantsOf(ms('2026-10-25T02:30Z'), 'Europe/Paris'), [
    ms('2026-10-25T00:30Z'),
    ms('2026-10-25T01:30Z'),
  ]);
});

test('weekly hours across daylight-saving changes follow the wall clock', () => {
  const paris = win({ timezone: 'Europe/Paris', weekly: [{ days: ['sun'], start: '02:30', end: '04:00' }] });
  // Spring: 02:30 does not exist; the window opens as the clocks jump to 03:00 (01:00Z), ends 04:00 CEST.
  assert.equal(ruleInForce(paris, ms('2026-03-29T00:59Z')), false);
  assert.equal(ruleInForce(paris, ms('2026-03-29T01:00Z')), true);
  assert.equal(iso(nextChange(at('2026-03-29T00:00Z'), [paris])), '2026-03-29T01:00:00.000Z');
  assert.equal(iso(blackoutAt(at('2026-03-29T01:10Z'), [paris])?.until), '2026-03-29T02:00:00.000Z');
  // Autumn: 02:30-03:00 CEST is 00:30Z-01:00Z; the clocks go back to 02:00 (the wall clock is before
  // 02:30 again), then 02:30-04:00 CET is 01:30Z-03:00Z.
  assert.equal(iso(nextChange(at('2026-10-25T00:00Z'), [paris])), '2026-10-25T00:30:00.000Z');
  assert.equal(iso(blackoutAt(at('2026-10-25T00:40Z'), [paris])?.until), '2026-10-25T01:00:00.000Z');
  assert.equal(iso(nextChange(at('2026-10-25T01:00Z'), [paris])), '2026-10-25T01:30:00.000Z');
  assert.equal(iso(blackoutAt(at('2026-10-25T01:40Z'), [paris])?.until), '2026-10-25T03:00:00.000Z');
  // The repeated hour is crossed twice: 02:15-02:45 is in force during both passes.
  const twice = win({ timezone: 'Europe/Paris', weekly: [{ days: ['sun'], start: '02:15', end: '02:45' }] });
  const changes: string[] = [];
  let t = at('2026-10-24T23:00Z');
  for (let i = 0; i < 4; i++) {
    t = nextChange(t, [twice])!;
    changes.push(t.toISOString());
  }
  assert.deepEqual(changes, [
    '2026-10-25T00:15:00.000Z',
    '2026-10-25T00:45:00.000Z',
    '2026-10-25T01:15:00.000Z',
    '2026-10-25T01:45:00.000Z',
  ]);
  // New York office hours: 13:00Z in summer, 14:00Z in winter.
  const ny = win({ timezone: 'America/New_York', weekly: [{ start: '09:00', end: '17:00' }] });
  assert.equal(iso(ruleState(at('2026-10-30T00:00Z'), ny).nextOpening), '2026-10-30T13:00:00.000Z');
  assert.equal(iso(ruleState(at('2026-11-09T00:00Z'), ny).nextOpening), '2026-11-09T14:00:00.000Z');
});

test('a weekly range past midnight runs into the next day; 24:00 ends the day', () => {
  // 2026-11-27 is a Friday.
  const friNight = win({ weekly: [{ days: ['fri'], start: '22:00', end: '06:00' }] });
  assert.equal(ruleInForce(friNight, ms('2026-11-27T21:59Z')), false);
  assert.equal(ruleInForce(friNight, ms('2026-11-27T23:00Z')), true);
  assert.equal(ruleInForce(friNight, ms('2026-11-28T05:59Z')), true, 'Saturday early hours');
  assert.equal(ruleInForce(friNight, ms('2026-11-28T06:00Z')), false, 'the end is exclusive');
  assert.equal(ruleInForce(friNight, ms('2026-11-27T01:00Z')), false, 'Thursday night is not listed');
  assert.equal(ruleInForce(friNight, ms('2026-11-28T23:00Z')), false, 'Saturday evening is not listed');
  assert.equal(iso(blackoutAt(at('2026-11-27T23:00Z'), [friNight])?.until), '2026-11-28T06:00:00.000Z');
  const weekend = win({ weekly: [{ days: ['sat', 'sun'], start: '00:00', end: '24:00' }] });
  assert.equal(iso(blackoutAt(at('2026-11-28T12:00Z'), [weekend])?.until), '2026-11-30T00:00:00.000Z');
  assert.equal(iso(ruleState(at('2026-11-25T12:00Z'), weekend).nextOpening), '2026-11-28T00:00:00.000Z');
});

test('date ranges: a date-only `to` includes its whole day; times are local to the zone', () => {
  const xmas = win({ timezone: 'Europe/Paris', dates: [{ from: '2026-12-24', to: '2026-12-26' }] });
  assert.equal(ruleInForce(xmas, ms('2026-12-23T22:59Z')), false);
  assert.equal(ruleInForce(xmas, ms('2026-12-23T23:00Z')), true, 'midnight in Paris');
  assert.equal(ruleInForce(xmas, ms('2026-12-26T22:59Z')), true, '23:59 on the last day');
  assert.equal(ruleInForce(xmas, ms('2026-12-26T23:00Z')), false);
  const release = win({
    timezone: 'Asia/Tokyo',
    dates: [{ from: '2027-01-04T09:00', to: '2027-01-04T12:30' }],
  });
  assert.equal(iso(ruleState(at('2026-12-01T00:00Z'), release).nextOpening), '2027-01-04T00:00:00.000Z');
  assert.equal(iso(blackoutAt(at('2027-01-04T01:00Z'), [release])?.until), '2027-01-04T03:30:00.000Z');
  // Far ranges are found beyond the first weeks, and a window that never ends has no `until`.
  assert.equal(iso(nextChange(at('2026-12-01T00:00Z'), [release])), '2027-01-04T00:00:00.000Z');
  const always = win({ weekly: [{ start: '00:00', end: '24:00' }] });
  assert.equal(blackoutAt(at('2026-12-01T00:00Z'), [always])?.until, undefined);
  // Overlapping rules: `until` is when none is in force; the first listed names it.
  const both = [
    xmas,
    win({ name: 'after', timezone: 'Europe/Paris', dates: [{ from: '2026-12-27', to: '2026-12-27' }] }),
  ];
  const b = blackoutAt(at('2026-12-25T12:00Z'), both);
  assert.equal(b?.name, 'w');
  assert.equal(iso(b?.until), '2026-12-27T23:00:00.000Z');
  assert.equal(
    iso(nextChange(at('2026-12-25T12:00Z'), both)),
    '2026-12-26T23:00:00.000Z',
    'the name changes',
  );
});

test('window schema: every mistake names the field and what was expected', () => {
  const issue = (x: Record<string, unknown>) => {
    const r = BlackoutWindowSchema.safeParse(x);
    assert.equal(r.success, false, JSON.stringify(x));
    return `${r.error!.issues[0]!.path.join('.')}: ${r.error!.issues[0]!.message}`;
  };
  assert.match(issue({ name: 'x' }), /^dates: expected `dates` or `weekly`/);
  assert.match(issue({ name: 'x y', weekly: [{ start: '01:00', end: '02:00' }] }), /^name: expected 1-128/);
  assert.match(
    issue({ name: 'x', dates: [{ from: '2026-02-30', to: '2026-03-01' }] }),
    /dates.0.from: expected a real/,
  );
  assert.match(
    issue({ name: 'x', dates: [{ from: '2026-03-02', to: '2026-03-01' }] }),
    /dates.0.to: expected `to` after/,
  );
  assert.match(
    issue({ name: 'x', dates: [{ from: '2026-03-02 10:00', to: '2026-03-03' }] }),
    /YYYY-MM-DDTHH:MM/,
  );
  assert.match(
    issue({ name: 'x', weekly: [{ start: '01:00', end: '01:00' }] }),
    /weekly.0.end: expected `end` different/,
  );
  assert.match(
    issue({ name: 'x', weekly: [{ days: ['monday'], start: '01:00', end: '02:00' }] }),
    /expected days among/,
  );
  assert.match(
    issue({ name: 'x', timezone: 'Mars/Olympus', weekly: [{ start: '01:00', end: '02:00' }] }),
    /IANA/,
  );
  assert.match(issue({ name: 'x', weekly: [{ start: '01:00', end: '02:00' }], extra: 1 }), /extra/);
  // A same-day range with times is fine; equal bounds are not.
  assert.ok(
    BlackoutWindowSchema.safeParse({ name: 'x', dates: [{ from: '2026-03-02', to: '2026-03-02' }] }).success,
  );
});

/** A deterministic pseudo-random sequence (mulberry32), so a failure replays. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("the settings file's time_windows are the 'outside' kind: the same answer as checkPolicies", async () => {
  const random = rng(18);
  const zones = ['UTC', 'Europe/Paris', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata'];
  const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
  const hhmm = () =>
    `${String(Math.floor(random() * 24)).padStart(2, '0')}:${String(Math.floor(random() * 4) * 15).padStart(2, '0')}`;
  for (let i = 0; i < 40; i++) {
    const windows = Array.from({ length: 1 + Math.floor(random() * 2) }, () =>
      TimeWindowSchema.parse({
        days: days.filter(() => random() < 0.6),
        start: hhmm(),
        end: hhmm(),
        timezone: zones[Math.floor(random() * zones.length)],
      }),
    );
    const rules: BlackoutRule[] = outsideTimeWindows(windows);
    for (let j = 0; j < 10; j++) {
      // Instants around 2026's daylight-saving changes and elsewhere.
      const now = new Date(
        ms('2026-03-01T00:00Z') + Math.floor((random() * 300 * 86_400_000) / 60_000) * 60_000,
      );
      const blocked = blackoutAt(now, rules) !== undefined;
      assert.equal(blocked, matchingWindow(now, windows) === undefined);
      const policy = checkPolicies([], { production_tags: [], time_windows: windows }, { now }).then(
        () => false,
        () => true,
      );
      assert.equal(await policy, blocked, `checkPolicies at ${now.toISOString()}`);
      // The next change is exact: the state holds until it (sampled every 5 minutes up to a day: windows are on quarter hours) and differs there.
      const change = nextChange(now, rules);
      if (change === undefined) continue;
      assert.notEqual(blackoutAt(change, rules) !== undefined, blocked, `at ${change.toISOString()}`);
      const end = Math.min(change.getTime(), now.getTime() + 86_400_000);
      for (let t = Math.ceil((now.getTime() + 1) / 60_000) * 60_000; t < end; t += 5 * 60_000)
        assert.equal(
          ruleInForce(rules[0]!, t),
          blocked,
          `constant before the change, at ${new Date(t).toISOString()}`,
        );
    }
  }
});

test('refusal and settings: the named window, the time_windows message kept', () => {
  const settings = SettingsSchema.parse({
    time_windows: [{ days: ['mon'], start: '09:00', end: '10:00' }],
    blackouts: [
      {
        name: 'freeze',
        timezone: 'Europe/Paris',
        dates: [{ from: '2026-12-20', to: '2027-01-04' }],
        reason: 'year-end',
      },
    ],
  });
  const rules = settingsBlackouts(settings);
  assert.deepEqual(
    rules.map((r) => r.name),
    ['settings.time_windows', 'freeze'],
  );
  const closed = blackoutAt(at('2026-11-25T09:30Z'), rules)!;
  assert.match(
    blackoutRefusal(closed, at('2026-11-25T09:30Z')).message,
    /^time_windows: runs are allowed only in mon 09:00-10:00 UTC; it is 2026-11-25T09:30:00.000Z: no run starts outside them \(until 2026-11-30T09:00:00.000Z\)$/,
  );
  const frozen = blackoutAt(at('2026-12-28T09:30Z'), settingsBlackouts({ blackouts: settings.blackouts }))!;
  assert.equal(frozen.reason, 'blackout freeze (dates 2026-12-20 to 2027-01-04, Europe/Paris): year-end');
  assert.equal(blackoutRefusal(frozen, at('2026-12-28T09:30Z')).code, 'FAULTLINE_ERR_POLICY');
  assert.match(blackoutRefusal(frozen, at('2026-12-28T09:30Z')).message, /until 2027-01-04T23:00:00.000Z/);
  const dup = SettingsSchema.safeParse({
    blackouts: [
      { name: 'a', weekly: [{ start: '01:00', end: '02:00' }] },
      { name: 'a', weekly: [{ start: '03:00', end: '04:00' }] },
    ],
  });
  assert.match(dup.error?.issues[0]?.message ?? '', /its own name/);
});
