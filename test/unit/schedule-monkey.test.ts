/**
 * Chaos Monkey mode and target picking (src/schedule/): working days, working hours in a zone, holidays,
 * seeded determinism, and the distribution of the plan checked against Netflix's arithmetic. Pure
 * functions of the dates passed in: no clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Fire,
  firesBetween,
  type MonkeyTiming,
  MonkeyTimingSchema,
  nextFire,
  pickTargets,
} from '../../src/schedule/index.js';
import { instantOf, localDay, planMonkeyDay } from '../../src/schedule/monkey.js';
import { seededRandom } from '../../src/schedule/random.js';

const monkey = (m: Record<string, unknown> = {}): MonkeyTiming => MonkeyTimingSchema.parse({ monkey: m });
const at = (iso: string) => new Date(iso);

/** Local date, weekday and HH:MM:SS of `d` in `timezone`, read through Intl (not through the code under test). */
function local(d: Date, timezone: string) {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return {
    date: `${get('year')}-${get('month')}-${get('day')}`,
    weekday: get('weekday').toLowerCase().slice(0, 3),
    time: `${get('hour')}:${get('minute')}:${get('second')}`,
  };
}

test('working days: weekends and holidays never run; μ = 1 runs on every working day', () => {
  const m = monkey({
    timezone: 'Europe/Paris',
    meanTimeBetweenRunsInWorkDays: 1,
    holidays: ['2026-05-01', '2026-05-08'],
  });
  // Monday 2026-04-27 00:00 to Sunday 2026-05-10 24:00, Paris time (CEST).
  const fires = firesBetween(m, 'k', at('2026-04-26T22:00:00Z'), at('2026-05-10T22:00:00Z'), 100);
  assert.deepEqual(
    fires.map((f) => local(f.due, 'Europe/Paris').date),
    [
      '2026-04-27',
      '2026-04-28',
      '2026-04-29',
      '2026-04-30',
      '2026-05-04',
      '2026-05-05',
      '2026-05-06',
      '2026-05-07',
    ],
    'two weeks of weekdays less Friday 1 May and Friday 8 May',
  );
  assert.ok(fires.every((f) => f.skipped === undefined && f.at.getTime() === f.due.getTime()));
  const weekends = monkey({ meanTimeBetweenRunsInWorkDays: 1, workingDays: ['sat', 'sun'] });
  const days = firesBetween(weekends, 'k', at('2026-04-27T00:00:00Z'), at('2026-05-11T00:00:00Z'), 100);
  assert.deepEqual(
    days.map((f) => local(f.due, 'UTC').weekday),
    ['sat', 'sun', 'sat', 'sun'],
  );
});

test('working hours edges: a run at the start is in, one at the end is out', () => {
  const from = at('2027-01-01T00:00:00Z');
  const to = at('2030-01-01T00:00:00Z');
  // A one-minute window makes both edges likely over three years of working days (~780 draws of 60 seconds).
  const first = firesBetween(
    monkey({ meanTimeBetweenRunsInWorkDays: 1, workingHours: { start: '09:00', end: '09:01' } }),
    'edge',
    from,
    to,
    10_000,
  );
  const times = new Set(first.map((f) => local(f.due, 'UTC').time));
  assert.ok(first.length > 700);
  assert.ok(times.has('09:00:00'), 'the start is inside');
  assert.ok(times.has('09:00:59'));
  assert.ok(
    [...times].every((t) => t >= '09:00:00' && t < '09:01:00'),
    'the end is outside',
  );
  const last = firesBetween(
    monkey({ meanTimeBetweenRunsInWorkDays: 1, workingHours: { start: '16:59', end: '17:00' } }),
    'edge',
    from,
    to,
    10_000,
  );
  const lastTimes = new Set(last.map((f) => local(f.due, 'UTC').time));
  assert.ok(lastTimes.has('16:59:59'), 'the last second before the end is inside');
  assert.ok(!lastTimes.has('17:00:00') && [...lastTimes].every((t) => t >= '16:59:00' && t < '17:00:00'));
});

test('working hours are local in the zone, across both daylight-saving changes (Paris, New York)', () => {
  for (const [timezone, spring, autumn] of [
    ['Europe/Paris', '2026-03-29', '2026-10-25'],
    ['America/New_York', '2026-03-08', '2026-11-01'],
  ] as const) {
    const m = monkey({
      timezone,
      meanTimeBetweenRunsInWorkDays: 1,
      workingDays: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
    });
    for (const change of [spring, autumn]) {
      const day = at(`${change}T12:00:00Z`).getTime();
      const fires = firesBetween(
        m,
        'dst',
        new Date(day - 10 * 86_400_000),
        new Date(day + 10 * 86_400_000),
        100,
      );
      const dates = fires.map((f) => local(f.due, timezone).date);
      assert.ok(
        fires.length >= 20 && new Set(dates).size === dates.length,
        `${timezone} ${change}: one run a day`,
      );
      const offsets = new Set<number>();
      for (const f of fires) {
        const { time } = local(f.due, timezone);
        assert.ok(
          time >= '09:00:00' && time < '17:00:00',
          `${timezone} ${f.due.toISOString()} is ${time} local`,
        );
        offsets.add(f.due.getUTCHours() - Number(time.slice(0, 2)));
      }
      assert.equal(
        offsets.size,
        2,
        `${timezone} ${change}: the UTC offset of the runs changes with the clocks`,
      );
    }
  }
});

test('zone arithmetic: a local time in the spring gap moves forward by the gap; a repeated one is its first pass', () => {
  const day = (iso: string, tz: string) => localDay(at(`${iso}T12:00:00Z`).getTime(), tz);
  const t = (iso: string, tz: string, hhmm: string) =>
    new Date(
      instantOf(day(iso, tz), Number(hhmm.slice(0, 2)) * 3600 + Number(hhmm.slice(3)) * 60, tz),
    ).toISOString();
  assert.equal(t('2026-03-29', 'Europe/Paris', '02:30'), '2026-03-29T01:30:00.000Z', '03:30 CEST');
  assert.equal(t('2026-03-29', 'Europe/Paris', '01:59'), '2026-03-29T00:59:00.000Z');
  assert.equal(t('2026-03-29', 'Europe/Paris', '03:00'), '2026-03-29T01:00:00.000Z');
  assert.equal(
    t('2026-10-25', 'Europe/Paris', '02:30'),
    '2026-10-25T00:30:00.000Z',
    '02:30 CEST, the first pass',
  );
  assert.equal(t('2026-10-25', 'Europe/Paris', '03:00'), '2026-10-25T02:00:00.000Z');
  assert.equal(t('2026-03-08', 'America/New_York', '02:30'), '2026-03-08T07:30:00.000Z', '03:30 EDT');
  assert.equal(
    t('2026-11-01', 'America/New_York', '01:30'),
    '2026-11-01T05:30:00.000Z',
    '01:30 EDT, the first pass',
  );
  assert.equal(t('2026-11-01', 'America/New_York', '09:00'), '2026-11-01T14:00:00.000Z');
  assert.equal(t('2026-06-01', 'UTC', '09:00'), '2026-06-01T09:00:00.000Z');
  assert.equal(t('2026-03-29', 'Asia/Kolkata', '09:00'), '2026-03-29T03:30:00.000Z');
  // Working hours over the gap: a run drawn at 02:xx on the spring night starts at 03:xx, never twice.
  const night = monkey({
    timezone: 'Europe/Paris',
    meanTimeBetweenRunsInWorkDays: 1,
    workingDays: ['sun'],
    workingHours: { start: '02:00', end: '03:00' },
  });
  const spring = nextFire(night, 'gap', at('2026-03-28T12:00:00Z'));
  assert.ok(spring && spring.due >= at('2026-03-29T01:00:00Z') && spring.due < at('2026-03-29T02:00:00Z'));
  const autumn = nextFire(night, 'gap', at('2026-10-24T12:00:00Z'));
  assert.ok(
    autumn && autumn.due >= at('2026-10-25T00:00:00Z') && autumn.due < at('2026-10-25T01:00:00Z'),
    'first pass',
  );
  assert.ok(
    (nextFire(night, 'gap', autumn.due)?.due ?? autumn.due) > at('2026-10-31T00:00:00Z'),
    'once that night',
  );
});

test('determinism: the same key gives the same plan on every server; another key another plan', () => {
  const m = monkey({ timezone: 'Europe/Paris', probability: 0.5 });
  const year = (key: string) =>
    firesBetween(m, key, at('2026-01-01T00:00:00Z'), at('2027-01-01T00:00:00Z'), 1000);
  const a = year('schedule-a');
  assert.deepEqual(year('schedule-a'), a);
  const b = year('schedule-b');
  assert.notDeepEqual(b, a);
  const aDays = new Set(a.map((f) => local(f.due, 'Europe/Paris').date));
  const both = b.filter((f) => aDays.has(local(f.due, 'Europe/Paris').date)).length;
  assert.ok(
    both < b.length * 0.75,
    `the two plans share ${both} of ${b.length} days: independent coins share about half`,
  );
  // Pinned: a change to the generator or the seeding would move every deployed plan, so it must be deliberate.
  const random = seededRandom('faultline');
  assert.deepEqual(
    [random(), random(), random()],
    [0.2273564545903355, 0.7952917760703713, 0.7420457368716598],
  );
  assert.deepEqual(
    firesBetween(
      monkey({ timezone: 'Europe/Paris', probability: 0.5 }),
      'schedule-1',
      at('2026-01-01T00:00:00Z'),
      at('2026-01-15T00:00:00Z'),
      10,
    ).map((f) => [f.due.toISOString(), f.skipped ?? 'runs']),
    [
      ['2026-01-05T10:33:28.000Z', 'probability'],
      ['2026-01-06T09:00:11.000Z', 'probability'],
      ['2026-01-07T11:30:30.000Z', 'probability'],
      ['2026-01-12T13:39:41.000Z', 'runs'],
      ['2026-01-13T12:55:17.000Z', 'runs'],
    ],
  );
  // Restarting in the middle of a day (asking from any instant) gives the same remaining firings.
  const mid = a[10] as Fire;
  assert.deepEqual(
    firesBetween(m, 'schedule-a', new Date(mid.due.getTime() - 1), at('2027-01-01T00:00:00Z'), 1000),
    a.slice(10),
  );
  assert.deepEqual(nextFire(m, 'schedule-a', mid.due), a[11], 'strictly after');
});

test('probability: a planned run that loses its roll is a Fire skipped for probability; editing it keeps the times', () => {
  const range = [at('2026-01-01T00:00:00Z'), at('2027-01-01T00:00:00Z')] as const;
  const always = firesBetween(monkey({ probability: 1 }), 'p', ...range, 1000);
  const half = firesBetween(monkey({ probability: 0.5 }), 'p', ...range, 1000);
  assert.ok(always.every((f) => f.skipped === undefined));
  assert.deepEqual(
    half.map((f) => f.due),
    always.map((f) => f.due),
    'the coin and the time are drawn before the probability roll',
  );
  const skipped = half.filter((f) => f.skipped === 'probability').length;
  assert.ok(skipped > 0 && skipped < half.length);
  // The runs that go ahead at p = 0.1 are among those at p = 0.5 (the same roll, a lower bar).
  const tenth = firesBetween(monkey({ probability: 0.1 }), 'p', ...range, 1000);
  const goes = (fires: Fire[]) => fires.filter((f) => !f.skipped).map((f) => f.due.getTime());
  assert.ok(goes(tenth).every((t) => goes(half).includes(t)));
});

test('distribution: over 20,000 working days the plan matches p = probability/μ, mean gap μ/probability, uniform time of day', () => {
  const m = monkey({ timezone: 'Europe/Paris', meanTimeBetweenRunsInWorkDays: 2, probability: 0.5 }).monkey;
  const seeds = { ...m, probability: 0.1 }; // the issue's Chaos Monkey numbers: μ 2, probability 0.1
  const N = 20_000;
  let working = 0;
  let planned = 0;
  const runs: number[] = []; // working-day index of each run that goes ahead
  let seedRuns = 0;
  const hours = new Array<number>(8).fill(0);
  for (let day = localDay(at('2027-01-01T12:00:00Z').getTime(), 'Europe/Paris'); working < N; day++) {
    const plan = planMonkeyDay(m, 'distribution', day);
    if (!plan.working) continue;
    if (plan.run) {
      planned++;
      const hour = Number(local(plan.run.due, 'Europe/Paris').time.slice(0, 2));
      hours[hour - 9] = (hours[hour - 9] ?? 0) + 1;
      if (!plan.run.skipped) runs.push(working);
      if (!planMonkeyDay(seeds, 'distribution', day).run?.skipped && plan.run) seedRuns++;
    }
    working++;
  }
  // Fractions of days: binomial, sd = sqrt(p(1-p)/N). 4 sd leaves a chance of 6e-5 to fail a correct plan
  // (and the plan is seeded, so the verdict never changes between runs).
  const within4sd = (observed: number, p: number) =>
    Math.abs(observed / N - p) < 4 * Math.sqrt((p * (1 - p)) / N);
  assert.ok(within4sd(planned, 0.5), `planned on ${planned / N} of the days, the coin's p = 1/μ = 0.5`);
  assert.ok(within4sd(runs.length, 0.25), `ran on ${runs.length / N} of the days, probability/μ = 0.25`);
  assert.ok(within4sd(seedRuns, 0.05), `μ 2, probability 0.1: ran on ${seedRuns / N} of the days, 0.05`);
  // Gaps between runs are geometric with p = 0.25: mean 1/p = 4 working days, sd sqrt(1-p)/p = 3.46, so the
  // mean of ~5,000 gaps has a standard error of 0.049; 4 of them is 0.2.
  const gaps = runs.slice(1).map((r, i) => r - (runs[i] ?? 0));
  const meanGap = gaps.reduce((s, g) => s + g, 0) / gaps.length;
  assert.ok(Math.abs(meanGap - 4) < 0.2, `mean gap ${meanGap} working days, μ/probability = 4`);
  // Time of day: chi-square of the hourly counts of planned runs against uniform over 09:00-17:00. With 8 bins
  // (7 degrees of freedom) the critical value at α = 0.001 is 24.32 (NIST/SEMATECH e-Handbook, table 1.3.6.7.4).
  const expected = planned / 8;
  const chi2 = hours.reduce((s, o) => s + (o - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 24.32, `chi-square ${chi2.toFixed(2)} over hours ${hours.join(',')}`);
  assert.equal(
    hours.reduce((s, h) => s + h, 0),
    planned,
    'every run is within working hours',
  );
});

test('validation: the Netflix alias, defaults, and an issue naming each bad field', () => {
  assert.deepEqual(monkey({ meanTimeBetweenKillsInWorkDays: 3 }).monkey, {
    timezone: 'UTC',
    workingHours: { start: '09:00', end: '17:00' },
    workingDays: ['mon', 'tue', 'wed', 'thu', 'fri'],
    probability: 1,
    meanTimeBetweenRunsInWorkDays: 3,
  });
  assert.equal(monkey().monkey.meanTimeBetweenRunsInWorkDays, 2);
  const messages = (m: unknown) =>
    MonkeyTimingSchema.safeParse({ monkey: m }).error?.issues.map(
      (i) => `${i.path.join('.')}: ${i.message}`,
    ) ?? [];
  assert.deepEqual(messages({ meanTimeBetweenRunsInWorkDays: 0.5 }), [
    'monkey.meanTimeBetweenRunsInWorkDays: expected a number of working days, 1 or more',
  ]);
  assert.deepEqual(messages({ meanTimeBetweenKillsInWorkDays: 0 }), [
    'monkey.meanTimeBetweenKillsInWorkDays: expected a number of working days, 1 or more',
  ]);
  assert.deepEqual(messages({ meanTimeBetweenRunsInWorkDays: 2, meanTimeBetweenKillsInWorkDays: 2 }), [
    'monkey.meanTimeBetweenKillsInWorkDays: expected one of meanTimeBetweenRunsInWorkDays and its alias meanTimeBetweenKillsInWorkDays, not both',
  ]);
  assert.deepEqual(messages({ probability: 0 }), [
    'monkey.probability: expected a probability above 0 and at most 1',
  ]);
  assert.deepEqual(messages({ probability: 1.5 }), [
    'monkey.probability: expected a probability above 0 and at most 1',
  ]);
  assert.deepEqual(messages({ workingHours: { start: '17:00', end: '09:00' } }), [
    'monkey.workingHours.end: expected an end after start (working hours within one day)',
  ]);
  assert.deepEqual(messages({ workingHours: { start: '9am' } }), [
    'monkey.workingHours.start: expected HH:MM (24 h)',
  ]);
  assert.deepEqual(messages({ workingDays: ['mon', 'funday'] }), [
    'monkey.workingDays.1: expected days among sun, mon, tue, wed, thu, fri, sat',
  ]);
  assert.deepEqual(messages({ workingDays: [] }), ['monkey.workingDays: expected at least one working day']);
  assert.deepEqual(messages({ holidays: ['2026-02-30', '25/12/2026'] }), [
    'monkey.holidays.0: expected a date YYYY-MM-DD that exists',
    'monkey.holidays.1: expected a date YYYY-MM-DD',
  ]);
  assert.deepEqual(messages({ timezone: 'Europe/Atlantis' }), [
    'monkey.timezone: expected an IANA time zone such as Europe/Paris',
  ]);
  assert.equal(messages({ cron: '@daily' }).length, 1, 'unknown keys are refused');
});

test('fuzz: random monkey bodies are accepted or refused with issues, never a throw', () => {
  const random = seededRandom('schedule-monkey fuzz');
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const values = [
    undefined,
    null,
    0,
    -1,
    0.5,
    1,
    2,
    1e9,
    Number.NaN,
    '',
    'x',
    '09:00',
    '25:00',
    [],
    ['mon'],
    {},
    true,
  ];
  const keys = [
    'timezone',
    'workingHours',
    'workingDays',
    'meanTimeBetweenRunsInWorkDays',
    'meanTimeBetweenKillsInWorkDays',
    'probability',
    'holidays',
    'extra',
  ];
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const body: Record<string, unknown> = {};
    for (const k of keys) if (random() < 0.3) body[k] = pick(values);
    if (random() < 0.3)
      body.workingHours = { start: pick(['08:00', '09:00', '9', 1]), end: pick(['17:00', '08:00', '24:00']) };
    const r = MonkeyTimingSchema.safeParse(random() < 0.05 ? pick(values) : { monkey: body });
    if (r.success) {
      accepted++;
      const f = nextFire(r.data, 'fuzz', at('2026-01-01T00:00:00Z'));
      assert.ok(f && f.due > at('2026-01-01T00:00:00Z'), JSON.stringify(body));
    } else {
      assert.ok(r.error.issues.every((issue) => issue.message.length > 0));
    }
  }
  assert.ok(accepted > 50, `accepted ${accepted}`);
});

test('pickTargets: a seeded partial shuffle, without repeats, count clamped', () => {
  const hosts = ['a', 'b', 'c', 'd', 'e', 'f'];
  const seed = 'schedule-1@2026-01-05T09:00:00.000Z';
  assert.deepEqual(pickTargets(hosts, 3, seed), ['d', 'a', 'e'], 'pinned: the same targets on every server');
  assert.deepEqual(pickTargets(hosts, 3, seed), pickTargets(hosts, 3, seed));
  assert.equal(new Set(pickTargets(hosts, 6, seed)).size, 6);
  assert.deepEqual([...pickTargets(hosts, 6, seed)].sort(), hosts);
  assert.equal(pickTargets(hosts, 10, seed).length, 6);
  assert.deepEqual(pickTargets(hosts, 0, seed), []);
  assert.deepEqual(pickTargets(hosts, -2, seed), []);
  assert.deepEqual(pickTargets([], 3, seed), []);
  assert.equal(pickTargets(hosts, 2.7, seed).length, 2);
  assert.deepEqual(hosts, ['a', 'b', 'c', 'd', 'e', 'f'], 'the candidates are not reordered');
  // Each of 5 candidates is in a pick of 2 with p = 0.4: over 10,000 seeds sd = 0.0049, 4 sd = 0.0196.
  const counts = new Map<string, number>();
  for (let i = 0; i < 10_000; i++)
    for (const h of pickTargets(hosts.slice(0, 5), 2, `seed-${i}`)) counts.set(h, (counts.get(h) ?? 0) + 1);
  for (const [h, c] of counts) assert.ok(Math.abs(c / 10_000 - 0.4) < 0.0196, `${h} picked ${c} times`);
});
