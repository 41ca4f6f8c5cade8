/**
 * Durations beyond a Node timer's range (issue #13 item 8): a timer asked for
 * more than 2^31-1 ms fires after 1 ms, which made a pause of 1e308 s be
 * skipped, a 3,000,000 s process timeout kill at once and `max_duration:
 * 3000000s` interrupt at once. Each is run here with the value from the attack;
 * the assertions are on outcomes (still pausing, not killed, not interrupted),
 * never on how fast anything happened.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../../src/core/duration.js';
import type { Experiment } from '../../src/core/schema.js';
import { MAX_TIMER_MS, secondsToMs, setLongTimeout, sleep } from '../../src/core/timers.js';
import type { RunEvent } from '../../src/engine/events.js';
import { runExperiment } from '../../src/lib/run.js';
import { tempHomeSuite } from '../helpers/home.js';
import { startServer } from '../helpers/server.js';

const home = tempHomeSuite();

/** Resolves when `predicate` has seen an event; the run itself is started by the caller. */
function eventWaiter() {
  const seen: RunEvent[] = [];
  const waiters: { p: (e: RunEvent) => boolean; resolve(): void }[] = [];
  return {
    seen,
    onEvent(e: RunEvent) {
      seen.push(e);
      for (const w of [...waiters]) if (w.p(e)) w.resolve();
    },
    until(p: (e: RunEvent) => boolean): Promise<void> {
      if (seen.some(p)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ p, resolve }));
    },
  };
}

const sh = (name: string, script: string, extra: Record<string, unknown> = {}) => ({
  type: 'action' as const,
  name,
  provider: { type: 'process' as const, path: 'sh', arguments: ['-c', script], ...extra },
});

test('the helper: a delay past 2^31-1 ms is not fired early; non-finite delays are refused', async () => {
  let fired = false;
  const t = setLongTimeout(() => {
    fired = true;
  }, MAX_TIMER_MS + 1);
  // Before the fix a plain timer of this length fired after 1 ms; give it far longer.
  await sleep(200);
  assert.equal(fired, false);
  t.clear();

  const ac = new AbortController();
  const long = sleep(secondsToMs(1e308), ac.signal);
  ac.abort('stop');
  await assert.rejects(long, { name: 'AbortError' });

  assert.throws(() => setLongTimeout(() => {}, Number.POSITIVE_INFINITY), /finite number of milliseconds/);
  assert.throws(() => secondsToMs(Number.NaN), /finite number of seconds/);
  assert.ok(Number.isFinite(secondsToMs(1e308)));
  assert.ok(Number.isFinite(parseDuration(1e308)), 'a huge number of seconds is still a duration');
  assert.equal(parseDuration('3000000s'), 3_000_000_000);
});

test('a pause of 1e308 s waits, and Ctrl-C (the run signal) stops it', async () => {
  const events = eventWaiter();
  const ctrlC = new AbortController();
  const experiment: Experiment = {
    title: 'long pause',
    description: 'x',
    method: [sh('first', 'true'), { ...sh('second', 'true'), pauses: { before: 1e308 } }],
  };
  const run = runExperiment(experiment, { home: home.home, signal: ctrlC.signal, onEvent: events.onEvent });
  await events.until((e) => e.type === 'activity-end' && e.run.activity.name === 'first');
  // Before the fix the pause was skipped and the second activity ran at once.
  await sleep(500);
  const ended = events.seen.filter((e) => e.type === 'activity-end').map((e) => e.run.activity.name);
  assert.deepEqual(ended, ['first'], 'still in the pause before the second activity');
  assert.ok(!events.seen.some((e) => e.type === 'run-end'));
  ctrlC.abort('interrupted by SIGINT');
  const journal = await run;
  assert.equal(journal.status, 'interrupted');
  assert.equal(journal.run.find((r) => r.activity.name === 'second')?.status ?? 'not run', 'not run');
});

test('a process timeout of 3,000,000 s does not kill the process', async () => {
  const experiment: Experiment = {
    title: 'long timeout',
    description: 'x',
    method: [sh('slow', 'sleep 0.3; echo done', { timeout: 3_000_000 })],
  };
  const journal = await runExperiment(experiment, { home: home.home });
  const [r] = journal.run;
  assert.equal(r?.status, 'succeeded', JSON.stringify(r?.exception));
  assert.deepEqual(r?.output, { status: 0, stdout: 'done\n', stderr: '' });
});

test('max_duration: 3000000s does not interrupt the run', async () => {
  const experiment: Experiment = {
    title: 'long max duration',
    description: 'x',
    runtime: { max_duration: '3000000s' },
    method: [sh('slow', 'sleep 0.3')],
  };
  const journal = await runExperiment(experiment, { home: home.home });
  assert.equal(journal.status, 'completed');
  assert.equal(journal.run[0]?.status, 'succeeded');
});

test('an http timeout of 3,000,000 s does not time out a slow answer', async () => {
  const server = await startServer((_req, res) => {
    setTimeout(() => res.end('late'), 300);
  });
  try {
    for (const timeout of [3_000_000, [3_000_000, 3_000_000] as [number, number]]) {
      const experiment: Experiment = {
        title: 'long http timeout',
        description: 'x',
        method: [{ type: 'probe', name: 'slow', provider: { type: 'http', url: server.url, timeout } }],
      };
      const journal = await runExperiment(experiment, { home: home.home });
      const [r] = journal.run;
      assert.equal(r?.status, 'succeeded', JSON.stringify(r?.exception));
      assert.equal((r?.output as { body?: string } | undefined)?.body, 'late');
    }
  } finally {
    await server.close();
  }
});
