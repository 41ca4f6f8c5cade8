/**
 * Game days on a real control plane (startServer on port 0, a real SQLite store, a private
 * FAULTLINE_HOME) running real runs of stored experiments that hold a real marker-file fault:
 *
 * - a whole game day through the API: a manual check confirmed, notes, a real run, a decision, the
 *   success criteria measured from the run (and a manual one judged afterwards), the live stream
 *   (server-sent events) carrying the timeline as it happens, the settings file's webhooks told of
 *   the start and the end, the report (HTML and Markdown) with the notes and the verdicts, and the
 *   follow-up actions it leaves, open until closed;
 * - a stop mid-run: the run is interrupted, its fault reverted, the rollback plan runs (a manual step
 *   confirmed, an experiment run) and the timeline records it all;
 * - the emergency stop mid-run: the game day stops with the run, its rollback's experiment is skipped
 *   and recorded, its manual step still waits for a person; starting a game day is refused meanwhile;
 * - closing the server mid-game-day stops it (its run interrupted, its fault reverted).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { markerExperiment, runEnded, startTestServer, type TestServer } from '../helpers/serve.js';
import { until } from '../helpers/until.js';

/** A plan whose experiment steps name the stored experiments `quick` (passes in a moment) and `long` (holds its fault). */
function plan(opts: {
  name: string;
  steps: string[];
  rollback?: string[];
  criteria?: string[];
  followUps?: string[];
}) {
  return [
    `name: ${opts.name}`,
    'title: Checkout survives losing its marker',
    'objective: Learn whether checkout notices a marker fault',
    'hypothesis: The marker is reverted and the probes pass',
    'participants:',
    '  - { name: alice, role: incident-commander }',
    '  - { name: bob, role: technical-lead }',
    '  - { name: carol, role: scribe }',
    'steps:',
    ...opts.steps.map((s) => `  - ${s}`),
    ...(opts.criteria ? ['success_criteria:', ...opts.criteria.map((c) => `  - ${c}`)] : []),
    ...(opts.rollback
      ? ['rollback:', '  description: Put things back', '  steps:', ...opts.rollback.map((s) => `    - ${s}`)]
      : []),
    ...(opts.followUps ? ['follow_ups:', ...opts.followUps.map((f) => `  - ${JSON.stringify(f)}`)] : []),
    '',
  ].join('\n');
}

/** Reads server-sent events from `url` into `frames` until the stream ends or `signal` aborts. */
function collect(url: string, frames: { event: string; id?: string; data: any }[], signal: AbortSignal) {
  return (async () => {
    const res = await fetch(url, { signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let cut = buf.indexOf('\n\n');
      while (cut >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        cut = buf.indexOf('\n\n');
        if (block.startsWith(':')) continue;
        const f: { event: string; id?: string; data: any } = { event: 'message', data: undefined };
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) f.event = line.slice(7);
          else if (line.startsWith('id: ')) f.id = line.slice(4);
          else if (line.startsWith('data: ')) f.data = JSON.parse(line.slice(6));
        }
        frames.push(f);
      }
    }
  })().catch((err) => {
    if (!signal.aborted) throw err;
  });
}

describe('game days on the server', () => {
  let srv: TestServer;
  const marker = (name: string) => join(srv.dir, `${name}.marker`);

  const get = async (id: string) => {
    const r = await srv.api('GET', `/api/gamedays/${id}`);
    assert.equal(r.status, 200, r.text);
    return r.body;
  };
  const waitFor = (id: string, what: string, check: (g: any) => boolean, ms = 120_000) =>
    until(
      `game day ${id}: ${what}`,
      async () => {
        const g = await get(id);
        return check(g) ? g : undefined;
      },
      ms,
    );
  const create = async (source: string) => {
    const r = await srv.api('POST', '/api/gamedays', { source });
    assert.equal(r.status, 201, r.text);
    return r.body.id as string;
  };
  const start = async (id: string) => {
    const r = await srv.api('POST', `/api/gamedays/${id}/start`);
    assert.equal(r.status, 202, r.text);
    return r.body;
  };

  const hooks = { url: '', received: [] as any[], server: undefined as Server | undefined };

  before(async () => {
    hooks.server = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => {
        text += c;
      });
      req.on('end', () => {
        hooks.received.push(JSON.parse(text));
        res.end();
      });
    });
    await new Promise<void>((r) => hooks.server?.listen(0, '127.0.0.1', r));
    hooks.url = `http://127.0.0.1:${(hooks.server.address() as AddressInfo).port}`;
    srv = await startTestServer({ serve: { haltPollMs: 200 } });
    for (const [name, pause] of [
      ['quick', 0],
      ['long', 600],
    ] as const) {
      const up = await srv.api('POST', '/api/experiments', {
        name,
        format: 'yaml',
        source: markerExperiment(marker(name), { title: `${name} marker`, pause }),
      });
      assert.equal(up.status, 201, up.text);
    }
  });
  after(async () => {
    await srv?.close();
    await new Promise<void>((r) => (hooks.server ? hooks.server.close(() => r()) : r()));
  });

  test('a game day through the API: confirm, notes, a real run, a decision, criteria, live stream, report, follow-ups', async () => {
    const id = await create(
      plan({
        name: 'checkout-marker',
        steps: [
          '{ id: baseline, kind: manual, title: Dashboards green, owner: technical-lead, instructions: Look at the dashboards }',
          '{ id: inject, kind: experiment, title: Hold the marker, experiment: quick, owner: bob }',
          '{ id: go-on, kind: decision, question: Go on?, options: [{ label: continue }, { label: stop, then: rollback }], owner: incident-commander }',
        ],
        criteria: [
          '{ id: held, description: The hypothesis held, measure: { kind: verdict, step: inject } }',
          '{ id: recovered, description: Recovered within a minute, measure: { kind: recovery_time, step: inject, max: 1m } }',
          '{ id: comms, description: Status page updated, measure: { kind: manual } }',
          '{ id: found, description: The hypothesis was refuted, measure: { kind: verdict, step: inject, equals: deviated } }',
        ],
        followUps: ['Write the postmortem'],
      }),
    );
    const pending = await get(id);
    assert.equal(pending.status, 'pending');
    assert.deepEqual(
      pending.steps.map((s: any) => [s.id, s.state, s.people]),
      [
        ['baseline', 'pending', ['bob']],
        ['inject', 'pending', ['bob']],
        ['go-on', 'pending', ['alice']],
      ],
    );
    // The settings file's webhooks hear of the start and the end (read at each event: no restart).
    await writeFile(
      join(srv.home.home, 'settings.yaml'),
      [
        'notifications:',
        `  - url: ${hooks.url}/hook`,
        '    events: [gameday.started, gameday.ended]',
        '',
      ].join('\n'),
    );
    // A note before the start is the briefing: in the timeline all the same.
    assert.equal((await srv.api('POST', `/api/gamedays/${id}/notes`, { text: 'briefing done' })).status, 201);

    const frames: { event: string; id?: string; data: any }[] = [];
    const watching = new AbortController();
    const stream = collect(`${srv.url}/api/gamedays/${id}/live`, frames, watching.signal);
    await until('the snapshot', () => frames.some((f) => f.event === 'snapshot'));

    const started = await start(id);
    assert.equal(started.status, 'running');
    assert.equal(started.startedBy, 'local');
    // Started once: a second start is refused.
    const again = await srv.api('POST', `/api/gamedays/${id}/start`);
    assert.equal(again.status, 409, again.text);
    assert.equal(again.body.error.code, 'not_pending');

    const waiting = await waitFor(id, 'waiting on baseline', (g) => g.waitingFor?.step === 'baseline');
    assert.equal(waiting.current, 'baseline');
    assert.equal(waiting.steps[0].state, 'waiting');
    // Not the step waiting: refused, naming the one that is.
    const early = await srv.api('POST', `/api/gamedays/${id}/steps/go-on/decide`, { choice: 'continue' });
    assert.equal(early.status, 409, early.text);
    assert.match(early.body.error.message, /baseline/);
    const unknown = await srv.api('POST', `/api/gamedays/${id}/steps/nope/confirm`, { ok: true });
    assert.equal(unknown.status, 404, unknown.text);

    assert.equal(
      (await srv.api('POST', `/api/gamedays/${id}/notes`, { text: 'error rate flat at 0.1%' })).status,
      201,
    );
    const confirmed = await srv.api('POST', `/api/gamedays/${id}/steps/baseline/confirm`, {
      ok: true,
      note: 'all green',
    });
    assert.equal(confirmed.status, 202, confirmed.text);

    const deciding = await waitFor(id, 'waiting on go-on', (g) => g.waitingFor?.step === 'go-on');
    const run = await runEnded(srv.store, deciding.runs[0].runId);
    assert.equal(run.origin, 'gameday');
    assert.equal(run.gameday, id);
    assert.equal(run.verdict, 'passed', run.reason);
    assert.equal(existsSync(marker('quick')), false, 'the fault was reverted');
    assert.equal(deciding.steps[1].state, 'ok');
    assert.equal(deciding.steps[1].runId, run.id);

    const wrong = await srv.api('POST', `/api/gamedays/${id}/steps/go-on/decide`, { choice: 'maybe' });
    assert.equal(wrong.status, 422, wrong.text);
    assert.match(wrong.body.error.message, /"continue", "stop"/);
    const decided = await srv.api('POST', `/api/gamedays/${id}/steps/go-on/decide`, { choice: 'continue' });
    assert.equal(decided.status, 202, decided.text);

    const done = await waitFor(id, 'finished', (g) => g.status === 'finished');
    assert.ok(done.endedAt);
    assert.equal(done.reason, 'every step done');
    const verdicts = Object.fromEntries(done.criteria.map((c: any) => [c.id, c.verdict]));
    assert.equal(verdicts.held, 'met');
    // The experiment measures no recovery: unknown, never a guess.
    assert.equal(verdicts.recovered, 'unknown');
    assert.equal(verdicts.comms, 'manual');
    assert.equal(verdicts.found, 'not-met');
    const types = done.timeline.map((e: any) => e.type);
    for (const t of [
      'note',
      'gameday.started',
      'step.confirmed',
      'run.started',
      'run.ended',
      'decision',
      'criterion',
      'gameday.ended',
    ])
      assert.ok(types.includes(t), `the timeline has ${t}: ${types.join(', ')}`);
    assert.deepEqual(
      done.timeline.map((e: any) => e.seq),
      done.timeline.map((_: any, i: number) => i + 1),
      'one sequence, notes included',
    );
    const notes = done.timeline.filter((e: any) => e.type === 'note');
    assert.deepEqual(
      notes.map((n: any) => [n.by, n.text]),
      [
        ['local', 'briefing done'],
        ['local', 'error rate flat at 0.1%'],
      ],
    );
    assert.equal(notes[1].step, 'baseline', 'a note during a step is attached to it');
    const confirm = done.timeline.find((e: any) => e.type === 'step.confirmed');
    assert.equal(confirm.by, 'local');
    assert.equal(confirm.text, 'all green');

    // A manual criterion is judged after the end (the retrospective); measured ones are not judged.
    const judged = await srv.api('POST', `/api/gamedays/${id}/criteria/comms`, {
      met: true,
      note: 'status page updated at 10:02',
    });
    assert.equal(judged.status, 200, judged.text);
    const comms = judged.body.criteria.find((c: any) => c.id === 'comms');
    assert.equal(comms.verdict, 'met');
    assert.match(comms.detail, /judged by local: status page updated at 10:02/);
    assert.equal(judged.body.criteria.find((c: any) => c.id === 'held').verdict, 'met', 'the others stay');
    const measured = await srv.api('POST', `/api/gamedays/${id}/criteria/held`, { met: false });
    assert.equal(measured.status, 409, measured.text);
    assert.equal(measured.body.error.code, 'not_manual');
    assert.equal((await srv.api('POST', `/api/gamedays/${id}/criteria/nope`, { met: true })).status, 404);

    // The live stream carried the timeline as it was recorded, then the end, then closed.
    await stream;
    const seqs = frames.filter((f) => f.event === 'timeline').map((f) => f.data.seq);
    assert.ok(seqs.length >= done.timeline.length - 1, `timeline frames: ${seqs.join(',')}`);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
    assert.ok(frames.some((f) => f.event === 'gameday' && f.data.waitingFor?.step === 'go-on'));
    assert.equal(frames.at(-1)?.event, 'end');
    assert.equal(frames.at(-1)?.data.status, 'finished');

    // Notified: started, then ended with its criteria (Slack-compatible text, the facts under faultline).
    const told = await until('the webhooks to hear of the end', () =>
      hooks.received.some((b) => b.faultline?.event === 'gameday.ended') ? hooks.received : undefined,
    );
    assert.deepEqual(
      told.map((b) => [b.faultline.event, b.faultline.gameday]),
      [
        ['gameday.started', id],
        ['gameday.ended', id],
      ],
    );
    assert.match(
      told[0].text,
      /Game day \*Checkout survives losing its marker\* \(checkout-marker\) started by local/,
    );
    assert.equal(told[1].faultline.status, 'finished');
    assert.deepEqual(
      told[1].faultline.criteria.map((c: any) => c.verdict),
      ['met', 'unknown', 'manual', 'not-met'],
    );
    await rm(join(srv.home.home, 'settings.yaml'));

    // The report: notes, verdicts, the run.
    const html = await fetch(`${srv.url}/api/gamedays/${id}/report`);
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const page = await html.text();
    for (const text of [
      'status page updated at 10:02',
      'error rate flat at 0.1%',
      'briefing done',
      'The hypothesis held',
      'Status page updated',
      'Write the postmortem',
    ])
      assert.ok(page.includes(text), `the HTML report has "${text}"`);
    const md = await srv.api('GET', `/api/gamedays/${id}/report?format=markdown`);
    assert.equal(md.status, 200);
    assert.ok(md.text.includes('error rate flat at 0.1%'));
    assert.ok(md.text.includes('The hypothesis held'));

    // Follow-ups: the plan's, open across game days until closed.
    const open = await srv.api('GET', '/api/followups');
    const mine = open.body.filter((f: any) => f.gameday === id);
    assert.deepEqual(mine.map((f: any) => [f.text, f.state, f.gamedayName, f.owner]).sort(), [
      [
        'Criterion found not met: The hypothesis was refuted (measured passed)',
        'open',
        'checkout-marker',
        'alice',
      ],
      ['Write the postmortem', 'open', 'checkout-marker', undefined],
    ]);
    const postmortem = mine.find((f: any) => f.text === 'Write the postmortem');
    const added = await srv.api('POST', '/api/followups', {
      gameday: id,
      text: 'Alert on marker files',
      owner: 'bob',
    });
    assert.equal(added.status, 201, added.text);
    const closed = await srv.api('POST', `/api/followups/${postmortem.id}/close`, { note: 'written' });
    assert.equal(closed.status, 200, closed.text);
    assert.equal(closed.body.state, 'closed');
    assert.equal(closed.body.closedBy, 'local');
    const twice = await srv.api('POST', `/api/followups/${postmortem.id}/close`);
    assert.equal(twice.status, 200, twice.text);
    assert.equal(twice.body.closeNote, 'written', 'closing again changes nothing');
    const still = await srv.api('GET', `/api/followups?gameday=${id}`);
    assert.deepEqual(still.body.map((f: any) => f.text).sort(), [
      'Alert on marker files',
      'Criterion found not met: The hypothesis was refuted (measured passed)',
    ]);
    const all = await srv.api('GET', `/api/followups?gameday=${id}&state=all`);
    assert.equal(all.body.length, 3);

    const audit = (await srv.api('GET', '/api/audit?limit=100')).body as any[];
    const actions = audit.filter((a) => a.subject === id || a.detail?.gameday === id).map((a) => a.action);
    for (const a of [
      'gameday.create',
      'gameday.start',
      'gameday.confirm',
      'gameday.decide',
      'gameday.judge',
      'followup.create',
      'followup.close',
    ])
      assert.ok(actions.includes(a), `audited: ${a} (${actions.join(', ')})`);
    const list = await srv.api('GET', '/api/gamedays');
    assert.equal(list.body.find((g: any) => g.id === id)?.status, 'finished');
    watching.abort();
  });

  test('a stop mid-run interrupts the run, reverts its fault and runs the rollback plan', async () => {
    const id = await create(
      plan({
        name: 'stop-mid-run',
        steps: [
          '{ id: hold, kind: experiment, experiment: long, owner: technical-lead }',
          '{ id: after, kind: manual }',
        ],
        rollback: [
          '{ id: restore, kind: manual, title: Restore by hand, owner: incident-commander }',
          '{ id: recheck, kind: experiment, experiment: quick }',
        ],
        criteria: ['{ id: held, description: The hypothesis held, measure: { kind: verdict, step: hold } }'],
      }),
    );
    await start(id);
    const holding = await waitFor(id, 'the run to start', (g) => g.steps[0].runId !== undefined);
    const runId = holding.steps[0].runId;
    await until('the fault to be held', () => existsSync(marker('long')));

    const stop = await srv.api('POST', `/api/gamedays/${id}/stop`, { reason: 'checkout errors climbing' });
    assert.equal(stop.status, 202, stop.text);
    const run = await runEnded(srv.store, runId);
    assert.equal(run.status, 'interrupted');
    assert.match(run.reason ?? '', /checkout errors climbing/);
    assert.equal(existsSync(marker('long')), false, 'the fault was reverted');

    const restoring = await waitFor(
      id,
      'the rollback to wait on restore',
      (g) => g.waitingFor?.step === 'restore',
    );
    assert.equal(restoring.status, 'rolling-back');
    assert.deepEqual(
      restoring.steps.find((s: any) => s.id === 'restore').people,
      ['alice'],
      'the incident commander is on it',
    );
    const ok = await srv.api('POST', `/api/gamedays/${id}/steps/restore/confirm`, { ok: true });
    assert.equal(ok.status, 202, ok.text);
    const done = await waitFor(id, 'stopped', (g) => g.status === 'stopped');
    const recheck = done.steps.find((s: any) => s.id === 'recheck');
    assert.equal(recheck.state, 'ok', JSON.stringify(recheck));
    assert.equal((await srv.store.getRun(recheck.runId))?.verdict, 'passed');
    assert.equal(
      done.steps.find((s: any) => s.id === 'after').state,
      'pending',
      'nothing after the stop ran',
    );
    const types = done.timeline.map((e: any) => e.type);
    for (const t of ['stop.requested', 'rollback.started', 'rollback.finished', 'gameday.ended'])
      assert.ok(types.includes(t), `the timeline has ${t}`);
    const stopEvent = done.timeline.find((e: any) => e.type === 'stop.requested');
    assert.equal(stopEvent.by, 'local');
    assert.equal(stopEvent.text, 'checkout errors climbing');
    // The criterion's run was interrupted: not met, and a follow-up for the incident commander says so.
    assert.equal(done.criteria[0].verdict, 'not-met');
    assert.equal(done.criteria[0].measured, 'interrupted');
    assert.ok(done.followUps.some((f: any) => /Criterion held not met/.test(f.text) && f.owner === 'alice'));
    const over = await srv.api('POST', `/api/gamedays/${id}/stop`, { reason: 'again' });
    assert.equal(over.status, 409, over.text);
    assert.equal(over.body.error.code, 'not_running');
  });

  test('the emergency stop stops a game day: run interrupted, rollback experiments skipped, manual steps still asked', async () => {
    const id = await create(
      plan({
        name: 'halted-mid-run',
        steps: ['{ id: hold, kind: experiment, experiment: long }'],
        rollback: [
          '{ id: restore, kind: manual, owner: alice }',
          '{ id: recheck, kind: experiment, experiment: quick }',
        ],
      }),
    );
    const other = await create(plan({ name: 'waits-for-release', steps: ['{ id: look, kind: manual }'] }));
    await start(id);
    const holding = await waitFor(id, 'the run to start', (g) => g.steps[0].runId !== undefined);
    await until('the fault to be held', () => existsSync(marker('long')));
    try {
      const halt = await srv.api('POST', '/api/halt', { reason: 'game day gone wrong' });
      assert.equal(halt.status, 200, halt.text);
      const run = await runEnded(srv.store, holding.steps[0].runId);
      assert.equal(run.status, 'interrupted');
      assert.equal(existsSync(marker('long')), false, 'the fault was reverted');
      const restoring = await waitFor(
        id,
        'the rollback to ask for restore',
        (g) => g.waitingFor?.step === 'restore',
      );
      const stop = restoring.timeline.find((e: any) => e.type === 'stop.requested');
      assert.ok(stop, 'the game day was stopped, not failed');
      assert.match(stop.text, /game day gone wrong/);
      // No game day starts while the stop is raised.
      const refused = await srv.api('POST', `/api/gamedays/${other}/start`);
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.body.error.code, 'halted');

      assert.equal(
        (await srv.api('POST', `/api/gamedays/${id}/steps/restore/confirm`, { ok: true })).status,
        202,
      );
      const done = await waitFor(id, 'stopped', (g) => g.status === 'stopped');
      const recheck = done.steps.find((s: any) => s.id === 'recheck');
      assert.equal(recheck.runId, undefined, 'no run while halted');
      assert.match(recheck.reason ?? '', /skipped: the emergency stop is raised/);
      assert.equal(done.steps.find((s: any) => s.id === 'restore').state, 'ok');
    } finally {
      await srv.api('DELETE', '/api/halt');
    }
    // Released: it starts.
    await start(other);
    assert.equal(
      (await srv.api('POST', `/api/gamedays/${other}/stop`, { reason: 'only checking the start' })).status,
      202,
    );
    await waitFor(other, 'stopped', (g) => g.status === 'stopped');
  });
});

describe('a server closing mid-game-day', () => {
  test('stops the game day: its run interrupted, its fault reverted, its end recorded', async () => {
    const srv = await startTestServer();
    try {
      const mark = join(srv.dir, 'closing.marker');
      await srv.api('POST', '/api/experiments', {
        name: 'long',
        format: 'yaml',
        source: markerExperiment(mark, { pause: 600 }),
      });
      const created = await srv.api('POST', '/api/gamedays', {
        source: plan({
          name: 'closing',
          steps: ['{ id: hold, kind: experiment, experiment: long }'],
          rollback: ['{ id: restore, kind: manual }'],
        }),
      });
      const id = created.body.id;
      assert.equal((await srv.api('POST', `/api/gamedays/${id}/start`)).status, 202);
      await until('the fault to be held', () => existsSync(mark));
      await srv.server.close();
      assert.equal(existsSync(mark), false, 'the fault was reverted');
      const g = await srv.store.gamedays.get(id);
      assert.equal(g?.status, 'stopped');
      const timeline = await srv.store.gamedays.timeline(id);
      const restore = timeline.find((e) => e.type === 'step.finished' && e.step === 'restore');
      assert.match(restore?.text ?? '', /shutting down/);
      const runs = await srv.store.listRuns({});
      assert.equal(runs.runs[0]?.status, 'interrupted');
    } finally {
      await srv.close();
    }
  });
});
