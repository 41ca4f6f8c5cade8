/**
 * Cron timing of schedules (src/schedule/): the functions take dates, so the clock is whatever the test
 * passes. Daylight-saving dates used below:
 *   Europe/Paris      2026-03-29 02:00 CET -> 03:00 CEST (01:00Z);  2026-10-25 03:00 CEST -> 02:00 CET (01:00Z)
 *   America/New_York  2026-03-08 02:00 EST -> 03:00 EDT (07:00Z);   2026-11-01 02:00 EDT -> 01:00 EST (06:00Z)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import {
  type CronTiming,
  CronTimingSchema,
  type Fire,
  firesBetween,
  nextFire,
  parseDuration,
} from '../../src/schedule/index.js';
import { seededRandom } from '../../src/schedule/random.js';

const cron = (x: Record<string, unknown>): CronTiming => CronTimingSchema.parse(x);
const at = (iso: string) => new Date(iso);
const iso = (fires: readonly Fire[]) => fires.map((f) => f.due.toISOString());
/** The next `n` due times after `after`, by iterating nextFire. */
function iterate(t: CronTiming, after: Date, n: number, anchor?: Date): string[] {
  const out: string[] = [];
  let cursor = after;
  for (let i = 0; i < n; i++) {
    const f = nextFire(t, 'k', cursor, anchor);
    if (!f) break;
    out.push(f.due.toISOString());
    cursor = f.due;
  }
  return out;
}

test('spring forward: a fixed time in the gap fires once, at the first valid time after it (Paris, New York)', () => {
  const paris = cron({ cron: '30 2 * * *', timezone: 'Europe/Paris' });
  assert.deepEqual(iterate(paris, at('2026-03-28T12:00:00Z'), 3), [
    '2026-03-29T01:00:00.000Z', // 03:00 CEST: 02:30 does not exist that night
    '2026-03-30T00:30:00.000Z', // 02:30 CEST
    '2026-03-31T00:30:00.000Z',
  ]);
  const ny = cron({ cron: '30 2 * * *', timezone: 'America/New_York' });
  assert.deepEqual(iterate(ny, at('2026-03-07T12:00:00Z'), 3), [
    '2026-03-08T07:00:00.000Z', // 03:00 EDT
    '2026-03-09T06:30:00.000Z', // 02:30 EDT
    '2026-03-10T06:30:00.000Z',
  ]);
  // An interval (a step in the minutes) skips the local times that do not exist and keeps its pace in real time.
  const every30 = cron({ cron: '*/30 * * * *', timezone: 'Europe/Paris' });
  assert.deepEqual(
    iso(firesBetween(every30, 'k', at('2026-03-29T00:00:00Z'), at('2026-03-29T02:00:00Z'), 10)),
    [
      '2026-03-29T00:30:00.000Z', // 01:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST
      '2026-03-29T01:30:00.000Z',
      '2026-03-29T02:00:00.000Z',
    ],
  );
});

test('fall back: a fixed time that happens twice fires once, at its first occurrence (Paris, New York)', () => {
  const paris = cron({ cron: '30 2 * * *', timezone: 'Europe/Paris' });
  assert.deepEqual(iterate(paris, at('2026-10-24T12:00:00Z'), 2), [
    '2026-10-25T00:30:00.000Z', // 02:30 CEST, the first pass; not again at 01:30Z (02:30 CET)
    '2026-10-26T01:30:00.000Z', // 02:30 CET
  ]);
  // A list of fixed times is fixed too (croner's fixedTimeRule 'no-wildcard'): still once.
  const list = cron({ cron: '30 2,14 * * *', timezone: 'Europe/Paris' });
  assert.deepEqual(iterate(list, at('2026-10-24T20:00:00Z'), 2), [
    '2026-10-25T00:30:00.000Z',
    '2026-10-25T13:30:00.000Z',
  ]);
  const ny = cron({ cron: '30 1 * * *', timezone: 'America/New_York' });
  assert.deepEqual(iterate(ny, at('2026-10-31T12:00:00Z'), 2), [
    '2026-11-01T05:30:00.000Z', // 01:30 EDT; not again at 06:30Z (01:30 EST)
    '2026-11-02T06:30:00.000Z',
  ]);
  // An interval fires through both passes of the repeated hour: every 30 minutes of real time.
  const every30 = cron({ cron: '*/30 * * * *', timezone: 'America/New_York' });
  assert.deepEqual(
    iso(firesBetween(every30, 'k', at('2026-11-01T04:00:00Z'), at('2026-11-01T07:00:00Z'), 10)),
    [
      '2026-11-01T04:30:00.000Z',
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T05:30:00.000Z',
      '2026-11-01T06:00:00.000Z', // 01:00 EST
      '2026-11-01T06:30:00.000Z',
      '2026-11-01T07:00:00.000Z',
    ],
  );
});

test('leap day: 0 12 29 2 * fires on 2028-02-29 next after 2026, then 2032', () => {
  const t = cron({ cron: '0 12 29 2 *' });
  assert.deepEqual(iterate(t, at('2026-01-01T00:00:00Z'), 2), [
    '2028-02-29T12:00:00.000Z',
    '2032-02-29T12:00:00.000Z',
  ]);
});

test('5 and 6 fields, names and ranges, nicknames in a zone', () => {
  const start = at('2026-06-06T00:00:00Z'); // a Saturday
  assert.deepEqual(iterate(cron({ cron: '*/20 * * * *' }), start, 2), [
    '2026-06-06T00:20:00.000Z',
    '2026-06-06T00:40:00.000Z',
  ]);
  assert.deepEqual(iterate(cron({ cron: '*/20 * * * * *' }), start, 2), [
    '2026-06-06T00:00:20.000Z',
    '2026-06-06T00:00:40.000Z',
  ]);
  assert.deepEqual(iterate(cron({ cron: '0 9 * * MON-FRI', timezone: 'Europe/Paris' }), start, 2), [
    '2026-06-08T07:00:00.000Z', // Monday 09:00 CEST
    '2026-06-09T07:00:00.000Z',
  ]);
  assert.deepEqual(iterate(cron({ cron: '0 0 9-17 * * MON-FRI' }), at('2026-06-05T16:30:00Z'), 2), [
    '2026-06-05T17:00:00.000Z', // the issue's Chaos Monkey example, as a plain cron
    '2026-06-08T09:00:00.000Z',
  ]);
  // @daily is midnight in the zone, whose offset changes with the season.
  const daily = cron({ cron: '@daily', timezone: 'Europe/Paris' });
  assert.deepEqual(iterate(daily, at('2026-03-27T12:00:00Z'), 3), [
    '2026-03-27T23:00:00.000Z', // midnight CET
    '2026-03-28T23:00:00.000Z', // midnight CET, the night of the change
    '2026-03-29T22:00:00.000Z', // midnight CEST
  ]);
  assert.equal(
    nextFire(cron({ cron: '@hourly' }), 'k', at('2026-06-06T10:00:00Z'))?.due.toISOString(),
    '2026-06-06T11:00:00.000Z',
  );
  assert.equal(
    nextFire(cron({ cron: '@weekly' }), 'k', start)?.due.toISOString(),
    '2026-06-07T00:00:00.000Z',
  );
  assert.equal(
    nextFire(cron({ cron: '@monthly' }), 'k', start)?.due.toISOString(),
    '2026-07-01T00:00:00.000Z',
  );
  assert.equal(
    nextFire(cron({ cron: '@yearly' }), 'k', start)?.due.toISOString(),
    '2027-01-01T00:00:00.000Z',
  );
});

test('strictly after: a due time equal to `after` is not returned again', () => {
  const t = cron({ cron: '0 * * * *' });
  assert.equal(nextFire(t, 'k', at('2026-01-01T00:00:00Z'))?.due.toISOString(), '2026-01-01T01:00:00.000Z');
  assert.equal(
    nextFire(t, 'k', at('2026-01-01T00:59:59.999Z'))?.due.toISOString(),
    '2026-01-01T01:00:00.000Z',
  );
});

test('@every is a fixed interval in real time from the anchor, across a daylight-saving change', () => {
  const t = cron({ cron: '@every 1h30m', timezone: 'Europe/Paris' });
  const anchor = at('2026-03-28T22:10:00Z');
  const fires = firesBetween(t, 'k', anchor, at('2026-03-29T04:10:00Z'), 10, anchor);
  assert.deepEqual(iso(fires), [
    '2026-03-28T23:40:00.000Z',
    '2026-03-29T01:10:00.000Z', // the clocks jumped at 01:00Z; the interval did not
    '2026-03-29T02:40:00.000Z',
    '2026-03-29T04:10:00.000Z',
  ]);
  // Counting from the anchor, not from `after`: every server and every restart agree.
  assert.equal(
    nextFire(t, 'k', at('2026-03-29T01:11:00Z'), anchor)?.due.toISOString(),
    '2026-03-29T02:40:00.000Z',
  );
  // The first firing is one interval after the anchor, even when asked from before it.
  assert.equal(
    nextFire(t, 'k', at('2026-01-01T00:00:00Z'), anchor)?.due.toISOString(),
    '2026-03-28T23:40:00.000Z',
  );
  // Without an anchor, the Unix epoch.
  const fiveSeconds = cron({ cron: '@every 5s' });
  assert.equal(
    nextFire(fiveSeconds, 'k', at('2026-01-01T00:00:02Z'))?.due.toISOString(),
    '2026-01-01T00:00:05.000Z',
  );
  assert.equal(
    nextFire(cron({ cron: '@every 10m' }), 'k', at('2026-01-01T00:00:00Z'))?.due.toISOString(),
    '2026-01-01T00:10:00.000Z',
  );
});

test('jitter: due is the schedule time, at = due + [0, jitter) from (key, due), the same on every server', () => {
  const t = cron({ cron: '0 9 * * *', timezone: 'Europe/Paris', jitter: '5m' });
  const from = at('2026-01-01T00:00:00Z');
  const a = firesBetween(t, 'schedule-a', from, at('2027-01-01T00:00:00Z'), 1000);
  assert.equal(a.length, 365);
  for (const f of a) {
    const lag = f.at.getTime() - f.due.getTime();
    assert.ok(lag >= 0 && lag < 300_000, `${f.due.toISOString()}: jitter ${lag} ms outside [0, 5m)`);
  }
  assert.deepEqual(
    iso(a),
    iso(
      firesBetween(
        cron({ cron: '0 9 * * *', timezone: 'Europe/Paris' }),
        'x',
        from,
        at('2027-01-01T00:00:00Z'),
        1000,
      ),
    ),
    'jitter never moves due',
  );
  // Deterministic: another server (another call) computes the same starts for the same key.
  const again = firesBetween(t, 'schedule-a', from, at('2027-01-01T00:00:00Z'), 1000);
  assert.deepEqual(
    again.map((f) => f.at.getTime()),
    a.map((f) => f.at.getTime()),
  );
  // Another schedule with the same timing starts at other instants.
  const b = firesBetween(t, 'schedule-b', from, at('2027-01-01T00:00:00Z'), 1000);
  assert.ok(b.filter((f, i) => f.at.getTime() !== a[i]?.at.getTime()).length > 360);
  // Spread over the whole interval: the mean lag of 365 uniform draws on [0, 300 s) is 150 s with a
  // standard error of 300/sqrt(12*365) = 4.5 s; 4 standard errors is 18 s.
  const mean = a.reduce((s, f) => s + f.at.getTime() - f.due.getTime(), 0) / a.length / 1000;
  assert.ok(Math.abs(mean - 150) < 18, `mean jitter ${mean} s`);
});

test('firesBetween over a week matches nextFire iterated; (from, to] and the limit', () => {
  const timings = [
    cron({ cron: '*/15 9-17 * * MON-FRI', timezone: 'America/New_York', jitter: '30s' }),
    cron({ cron: '0 */6 * * *', timezone: 'Europe/Paris' }),
    cron({ cron: '@every 7h', timezone: 'UTC' }),
  ];
  const from = at('2026-10-28T00:00:00Z');
  const to = at('2026-11-04T00:00:00Z'); // across New York's fall back
  const anchor = at('2026-10-01T00:00:00Z');
  for (const t of timings) {
    const listed = firesBetween(t, 'week', from, to, 10_000, anchor);
    const iterated: Fire[] = [];
    for (let f = nextFire(t, 'week', from, anchor); f && f.due <= to; f = nextFire(t, 'week', f.due, anchor))
      iterated.push(f);
    assert.deepEqual(listed, iterated, t.cron);
    assert.ok(listed.length > 10, t.cron);
    assert.deepEqual(
      firesBetween(t, 'week', from, to, 3, anchor),
      listed.slice(0, 3),
      'at most `limit`, oldest first',
    );
  }
  const hourly = cron({ cron: '@hourly' });
  // A due time equal to `from` is not included (it fired already); one equal to `to` is.
  assert.deepEqual(
    iso(firesBetween(hourly, 'k', at('2026-01-01T00:00:00Z'), at('2026-01-01T02:00:00Z'), 10)),
    ['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z'],
  );
  assert.deepEqual(firesBetween(hourly, 'k', at('2026-01-01T00:00:00Z'), at('2026-01-01T00:30:00Z'), 10), []);
  assert.deepEqual(firesBetween(hourly, 'k', at('2026-01-01T00:00:00Z'), at('2026-01-02T00:00:00Z'), 0), []);
});

test('validation: every bad field is an issue naming it and what was expected', () => {
  const messages = (x: Record<string, unknown>) =>
    CronTimingSchema.safeParse(x).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
  assert.match(messages({ cron: '61 * * * *' })[0] ?? '', /^cron: expected a cron expression.*minute: 61/);
  assert.match(messages({ cron: '* * *' })[0] ?? '', /^cron: expected a cron expression/);
  assert.match(messages({ cron: '* * * * * * *' })[0] ?? '', /^cron: expected .*7 parts/, 'no year field');
  assert.match(messages({ cron: '0 0 30 2 *' })[0] ?? '', /^cron: .*never fires/);
  assert.match(messages({ cron: '@reboot' })[0] ?? '', /^cron: expected/);
  assert.match(messages({ cron: '@every 0s' })[0] ?? '', /^cron: .*@every takes a duration of 1s or more/);
  assert.match(messages({ cron: '@every soon' })[0] ?? '', /^cron: .*@every/);
  assert.deepEqual(messages({ cron: '@daily', timezone: 'Mars/Olympus' }), [
    'timezone: expected an IANA time zone such as Europe/Paris',
  ]);
  assert.deepEqual(messages({ cron: '@daily', jitter: '30' }), [
    'jitter: expected a duration such as 30s, 10m, 1h30m',
  ]);
  assert.ok(messages({ cron: '@daily', every: '1h' }).length > 0, 'unknown keys are refused');
  assert.equal(CronTimingSchema.safeParse({ nothing: true }).success, false);
  // Defaults.
  assert.deepEqual(cron({ cron: '@daily' }), { cron: '@daily', timezone: 'UTC' });
});

test('fuzz: random timings are accepted or refused with issues, never a throw', () => {
  const pieces = [
    '*',
    '*/5',
    '0',
    '59',
    '60',
    '1-5',
    '5-1',
    'MON-FRI',
    'L',
    '?',
    '#',
    '@daily',
    '@every',
    '1h',
    'x',
    '',
    ' ',
    '-1',
    '1,2,3',
    '*/0',
    'JAN',
    '@yearly',
  ];
  const random = seededRandom('schedule-cron fuzz');
  const rand = (n: number) => Math.floor(random() * n);
  const common = ['*', '*/5', '1', '1-5', '1,2'];
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    // Half the time five or six fields of mostly valid parts, so that the accepted side is exercised too.
    const n = rand(2) ? 5 + rand(2) : rand(8);
    const fields = Array.from({ length: n }, () =>
      rand(4) ? common[rand(common.length)] : pieces[rand(pieces.length)],
    ).join(' ');
    const body = [
      { cron: fields },
      { cron: fields, timezone: ['UTC', 'Europe/Paris', 'Nowhere/City', '', 'utc'][rand(5)] },
      { cron: fields, jitter: ['30s', '1h30m', '0s', '-5s', 'abc', '1.5h', '5ms'][rand(7)] },
      { cron: rand(2) ? 42 : null },
      fields,
    ][rand(5)];
    const r = CronTimingSchema.safeParse(body);
    if (r.success) {
      accepted++;
      // Whatever is accepted can be computed.
      const f = nextFire(r.data, 'fuzz', at('2026-01-01T00:00:00Z'));
      assert.ok(
        f === undefined || f.due.getTime() > at('2026-01-01T00:00:00Z').getTime(),
        JSON.stringify(body),
      );
    } else {
      refused++;
      assert.ok(r.error.issues.length > 0);
      for (const issue of r.error.issues)
        assert.ok(issue.message.startsWith('expected') || issue.message.includes('expected'), issue.message);
    }
  }
  assert.ok(
    accepted > 100 && refused > 100,
    `accepted ${accepted}, refused ${refused}: the fuzz covers both`,
  );
});

test('parseDuration: compound units, days, and an error naming the field', () => {
  assert.equal(parseDuration('90s', 'jitter'), 90_000);
  assert.equal(parseDuration('10m', 'jitter'), 600_000);
  assert.equal(parseDuration('1h30m', 'jitter'), 5_400_000);
  assert.equal(parseDuration('2d', 'x'), 172_800_000);
  assert.equal(parseDuration('1h0m', 'x'), 3_600_000);
  assert.equal(parseDuration('500ms', 'x'), 500);
  assert.equal(parseDuration('1m30s', 'x'), 90_000);
  assert.equal(parseDuration('1.5h', 'x'), 5_400_000);
  for (const bad of ['', '30', '0s', '-1m', '1x', '30m1h', 'h', '1h 30m', '1e3s']) {
    assert.throws(
      () => parseDuration(bad, 'jitter'),
      (e: unknown) =>
        e instanceof FaultlineError &&
        e.code === 'FAULTLINE_ERR_VALIDATION' &&
        e.message.startsWith('jitter: expected a duration such as 30s, 10m, 1h30m') &&
        e.issues[0]?.path === 'jitter',
      bad,
    );
  }
});
