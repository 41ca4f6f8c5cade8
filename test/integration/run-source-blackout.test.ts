/**
 * Blackout windows on the library's `faultline run` (runFromSource): refused at the start while one is
 * in force (FAULTLINE_ERR_POLICY naming the window), and a run in progress interrupted when one opens
 * or its allowed time window closes, its fault reverted (a real marker-file fault, checked on disk)
 * and the window named in the journal's reason.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FaultlineError } from '../../src/core/errors.js';
import type { Experiment } from '../../src/core/schema.js';
import { type RunSourceEvent, runFromSource } from '../../src/lib/run-source.js';
import { tempHome } from '../helpers/home.js';

let home: Awaited<ReturnType<typeof tempHome>>;
let work: string;
before(async () => {
  home = await tempHome();
  work = await mkdtemp(join(tmpdir(), 'faultline-run-blackout-'));
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
  await home.cleanup();
  await rm(work, { recursive: true, force: true });
});

const env = () => ({ ...process.env, FAULTLINE_HOME: home.home });

/** Holds a marker-file fault for a minute: long enough for a window to open. */
const holding = (marker: string): Experiment =>
  ({
    title: 'holds a fault',
    description: 'a marker file held while the window opens',
    method: [
      {
        type: 'action',
        name: 'create-marker',
        provider: {
          type: 'faultline',
          module: 'faultline.marker',
          func: 'create',
          arguments: { path: marker, duration: 600 },
        },
        pauses: { after: 60 },
      },
    ],
  }) as unknown as Experiment;

/** UTC local date-time with seconds, as a window's `dates` take it. */
const utc = (ms: number) => new Date(ms).toISOString().slice(0, 19);

/** Runs `experiment` with `settings`, noting whether the marker existed when its fault was injected. */
async function run(marker: string, settings: Record<string, unknown>) {
  const events: RunSourceEvent[] = [];
  let presentWhenInjected = false;
  const result = await runFromSource(holding(marker), {
    env: env(),
    settings,
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'fault' && e.action === 'injected') presentWhenInjected = existsSync(marker);
    },
  });
  return { result, events, presentWhenInjected };
}

test('a run is refused while a blackout is in force, naming the window; nothing is injected', async () => {
  const marker = join(work, 'refused.marker');
  const now = Date.now();
  const settings = {
    blackouts: [
      {
        name: 'deploy-freeze',
        dates: [{ from: utc(now - 60_000), to: utc(now + 3_600_000) }],
        reason: 'the release',
      },
    ],
  };
  await assert.rejects(run(marker, settings), (err: FaultlineError) => {
    assert.equal(err.code, 'FAULTLINE_ERR_POLICY');
    assert.match(
      err.message,
      /^blackout deploy-freeze \(dates .* UTC\): the release; it is .*: no run starts during it \(until /,
    );
    return true;
  });
  assert.equal(existsSync(marker), false);
});

test('a blackout opening during the run interrupts it; its fault is reverted and the window named', async () => {
  const marker = join(work, 'opens.marker');
  // Opens a few seconds after the start: the run has injected its fault by then (asserted below).
  const opens = Math.ceil((Date.now() + 6_000) / 1000) * 1000;
  const settings = {
    blackouts: [{ name: 'deploy-freeze', dates: [{ from: utc(opens), to: utc(opens + 3_600_000) }] }],
  };
  const { result, events, presentWhenInjected } = await run(marker, settings);
  assert.ok(presentWhenInjected, 'the fault was in place before the window opened');
  const { journal } = result;
  assert.equal(journal.status, 'interrupted');
  assert.match(
    String(journal.faultline.reason),
    /blackout deploy-freeze \(dates .*\) opened: the run was stopped/,
  );
  assert.equal(result.exitCode, 1);
  assert.equal(existsSync(marker), false, 'the marker fault was reverted');
  assert.ok(events.some((e) => e.type === 'fault' && e.action === 'reverted'));
  assert.ok(events.some((e) => e.type === 'notice' && /deploy-freeze/.test(e.message)));
  assert.ok(Date.now() >= opens, 'stopped when the window opened, not before');
});

test("a run is interrupted when the settings file's allowed time window closes", async () => {
  const marker = join(work, 'closes.marker');
  // time_windows are whole minutes: the window ends at the next minute at least 5 s away.
  let end = Math.ceil(Date.now() / 60_000) * 60_000;
  if (end - Date.now() < 5_000) end += 60_000;
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  const settings = { time_windows: [{ start: hhmm(end - 5 * 60_000), end: hhmm(end) }] };
  const { result, presentWhenInjected } = await run(marker, settings);
  assert.ok(presentWhenInjected);
  assert.equal(result.journal.status, 'interrupted');
  assert.equal(result.policy.time_window?.allowed, true, 'it was allowed at the start');
  assert.match(
    String(result.journal.faultline.reason),
    /^time_windows: runs are allowed only in .* UTC: the allowed window closed, so the run was stopped$/,
  );
  assert.equal(existsSync(marker), false, 'the marker fault was reverted');
});
