/**
 * The engine reaches Chaos Toolkit's outcomes (status, deviated, which
 * activities and rollbacks ran) on the cases of the reference's section 6,
 * with real HTTP servers, real processes and real Node modules.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Experiment } from '../../src/core/schema.js';
import type { RunEvent } from '../../src/engine/events.js';
import { exitCodeFor, type RunOptions } from '../../src/engine/run.js';
import { runExperiment } from '../../src/lib/run.js';
import { tempHome } from '../helpers/home.js';
import { statusServer, type TestServer } from '../helpers/server.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/engine/', import.meta.url));
const node = (func: string, args: Record<string, unknown> = {}) => ({
  type: 'node' as const,
  module: './probes.mjs',
  func,
  arguments: args,
});

let home: Awaited<ReturnType<typeof tempHome>>;
const run = (e: Experiment, o: RunOptions = {}) =>
  runExperiment(e, { baseDir: FIXTURES, home: home.home, ...o });

before(async () => {
  home = await tempHome();
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
  await home.cleanup();
});

const base = (extra: Partial<Experiment>): Experiment => ({
  title: 'test',
  description: 'test',
  method: [],
  ...extra,
});

describe('Chaos Toolkit outcomes', () => {
  let server: Awaited<ReturnType<typeof statusServer>>;
  before(async () => {
    server = await statusServer(200);
  });
  after(() => server.close());

  test('A. happy path: before met, action, after met -> completed, exit 0', async () => {
    const marker = join(home.home, 'touched');
    const j = await run(
      base({
        'steady-state-hypothesis': {
          title: 'ok',
          probes: [
            { type: 'probe', name: 'ls', tolerance: 0, provider: { type: 'process', path: 'ls' } },
            { type: 'probe', name: 'true', tolerance: true, provider: node('echo', { value: true }) },
          ],
        },
        method: [
          { type: 'action', name: 'touch', provider: { type: 'process', path: 'touch', arguments: marker } },
        ],
      }),
    );
    assert.equal(j.status, 'completed');
    assert.equal(j.deviated, false);
    assert.equal(j.steady_states.before?.steady_state_met, true);
    assert.equal(j.steady_states.after?.steady_state_met, true);
    assert.equal(j.run.length, 1);
    assert.ok(existsSync(marker));
    assert.equal(exitCodeFor(j), 0);
    for (const key of [
      'chaoslib-version',
      'platform',
      'node',
      'experiment',
      'start',
      'end',
      'duration',
      'status',
      'deviated',
      'steady_states',
      'run',
      'rollbacks',
    ]) {
      assert.ok(key in j, `journal has ${key}`);
    }
    const r = j.run[0]!;
    assert.deepEqual(Object.keys(r).sort(), ['activity', 'duration', 'end', 'output', 'start', 'status']);
    assert.match(r.start, /\+00:00$/);
  });

  test('B. a hypothesis probe raises -> failed, method skipped; rollbacks 0/1/0', async () => {
    const exp = base({
      'steady-state-hypothesis': {
        title: 'raises',
        probes: [{ type: 'probe', name: 'boom', tolerance: true, provider: node('fail') }],
      },
      method: [{ type: 'action', name: 'm', provider: node('echo', { value: 1 }) }],
      rollbacks: [{ type: 'action', name: 'rb', provider: node('echo', { value: 2 }) }],
    });
    const counts: number[] = [];
    for (const rollbackStrategy of ['default', 'always', 'never'] as const) {
      const j = await run(exp, { rollbackStrategy });
      assert.equal(j.status, 'failed');
      assert.equal(j.deviated, false);
      assert.deepEqual(j.run, []);
      const probe = j.steady_states.before!.probes[0]!;
      assert.equal(probe.status, 'failed');
      assert.equal(probe.tolerance_met, false);
      assert.match(probe.exception!.at(-1)!, /RuntimeError: oops/);
      counts.push(j.rollbacks.length);
      assert.equal(exitCodeFor(j), 1);
    }
    assert.deepEqual(counts, [0, 1, 0]);
  });

  test('C. deviation: after-hypothesis missed -> completed + deviated, rollbacks played, exit 1', async () => {
    const dummy = join(home.home, 'dummy.txt');
    await writeFile(dummy, 'x');
    const j = await run(
      base({
        'steady-state-hypothesis': {
          title: 'file exists',
          probes: [
            {
              type: 'probe',
              name: 'exists',
              tolerance: 0,
              provider: { type: 'process', path: 'test', arguments: ['-e', dummy] },
            },
          ],
        },
        method: [
          { type: 'action', name: 'rm', provider: { type: 'process', path: 'rm', arguments: ['-f', dummy] } },
        ],
        rollbacks: [{ type: 'action', name: 'rb', provider: node('echo', { value: 1 }) }],
      }),
    );
    assert.equal(j.status, 'completed');
    assert.equal(j.deviated, true);
    assert.equal(j.rollbacks.length, 1);
    assert.equal(exitCodeFor(j), 1);
  });

  test('D. http status list: 200 met; 404 completed not deviated with empty run; unreachable failed', async () => {
    const exp = (url: string) =>
      base({
        'steady-state-hypothesis': {
          title: 'up',
          probes: [
            {
              type: 'probe',
              name: 'up',
              tolerance: [200, 301, 302],
              provider: { type: 'http', url, timeout: 5 },
            },
          ],
        },
        method: [{ type: 'action', name: 'm', provider: node('echo', { value: 1 }) }],
        rollbacks: [{ type: 'action', name: 'rb', provider: node('echo', { value: 1 }) }],
      });
    server.setStatus(200);
    let j = await run(exp(server.url));
    assert.equal(j.status, 'completed');
    assert.equal(exitCodeFor(j), 0);

    server.setStatus(404);
    j = await run(exp(server.url));
    assert.equal(j.status, 'completed');
    assert.equal(j.deviated, false);
    assert.deepEqual(j.run, []);
    assert.equal(j.steady_states.after, null);
    assert.equal(j.rollbacks.length, 1, 'rollbacks are played under default after a tolerance miss');
    assert.equal(exitCodeFor(j), 1, 'Faultline: a run that never got to inject does not pass');
    server.setStatus(200);

    const closed: TestServer = await statusServer(200);
    const deadUrl = closed.url;
    await closed.close();
    j = await run(exp(deadUrl));
    assert.equal(j.status, 'failed');
    assert.match(j.steady_states.before!.probes[0]!.exception!.at(-1)!, /failed to connect/);
    assert.equal(j.rollbacks.length, 0);
  });

  test('E. before-miss still plays rollbacks (a ref to a method probe); later probes do not run', async () => {
    server.setStatus(500);
    const j = await run(
      base({
        'steady-state-hypothesis': {
          title: 'h',
          probes: [
            { type: 'probe', name: 'b', tolerance: true, provider: node('echo', { value: true }) },
            {
              type: 'probe',
              name: 'web',
              tolerance: [200, 301, 302],
              provider: { type: 'http', url: server.url },
            },
            { type: 'probe', name: 'never', tolerance: true, provider: node('echo', { value: true }) },
          ],
        },
        method: [{ type: 'probe', name: 'method-probe', provider: node('echo', { value: 3 }) }],
        rollbacks: [{ ref: 'method-probe' }],
      }),
    );
    server.setStatus(200);
    assert.equal(j.status, 'completed');
    assert.equal(j.deviated, false);
    assert.equal(j.rollbacks.length, 1);
    assert.equal(j.rollbacks[0]!.activity.name, 'method-probe', 'the journal records the resolved activity');
    assert.equal(j.steady_states.before!.probes.length, 2);
  });

  test('F. process exit-code miss: run [], before set, after null, during []', async () => {
    const j = await run(
      base({
        'steady-state-hypothesis': {
          title: 'h',
          probes: [
            {
              type: 'probe',
              name: 'echo',
              tolerance: 1,
              provider: { type: 'process', path: 'echo', arguments: 'hello' },
            },
          ],
        },
        method: [{ type: 'action', name: 'm', provider: node('echo', { value: 1 }) }],
      }),
    );
    assert.equal(j.status, 'completed');
    assert.equal(j.deviated, false);
    assert.deepEqual(j.run, []);
    assert.notEqual(j.steady_states.before, null);
    assert.equal(j.steady_states.after, null);
    assert.deepEqual(j.steady_states.during, []);
  });

  test('G. a failing method action does not change the status; rollbacks played', async () => {
    const j = await run(
      base({
        method: [
          { type: 'action', name: 'boom', provider: node('fail', { message: 'oops' }) },
          { type: 'action', name: 'next', provider: node('echo', { value: 1 }) },
        ],
        rollbacks: [{ type: 'action', name: 'rb', provider: node('echo', { value: 1 }) }],
      }),
    );
    assert.equal(j.status, 'completed');
    assert.equal(j.run.length, 2, 'the method continues after a failed activity');
    assert.equal(j.run[0]!.status, 'failed');
    assert.ok(j.run[0]!.exception!.at(-1)!.includes('oops'));
    assert.equal(j.rollbacks.length, 1);
    // Faultline's verdict (not Chaos Toolkit's status): a failed action fails the run.
    assert.equal(j.faultline.verdict?.kind, 'failed');
    assert.deepEqual(j.faultline.verdict?.reasons, ["action 'boom' failed: RuntimeError: oops"]);
    assert.equal(exitCodeFor(j), 1);
  });

  test('G. a control interrupting at activity level -> interrupted; rollbacks 0 (default) / 1 (always)', async () => {
    const exp = base({
      method: [
        {
          type: 'action',
          name: 'a',
          provider: node('echo', { value: 1 }),
          controls: [{ name: 'stopper', provider: { type: 'node', module: './interrupt-control.mjs' } }],
        },
        { type: 'action', name: 'b', provider: node('echo', { value: 1 }) },
      ],
      rollbacks: [{ type: 'action', name: 'rb', provider: node('echo', { value: 1 }) }],
    });
    let j = await run(exp);
    assert.equal(j.status, 'interrupted');
    assert.equal(j.rollbacks.length, 0);
    assert.equal(exitCodeFor(j), 1);
    j = await run(exp, { rollbackStrategy: 'always' });
    assert.equal(j.status, 'interrupted');
    assert.equal(j.rollbacks.length, 1);
  });

  test('H. continuously with and without fail-fast', async () => {
    const exp = base({
      'steady-state-hypothesis': {
        title: 'counter stays below 2',
        probes: [
          {
            type: 'probe',
            name: 'counter',
            tolerance: { type: 'probe', name: 'lt2', provider: node('lessThan2') },
            provider: node('count'),
          },
        ],
      },
      method: [
        { type: 'action', name: 'first', provider: node('echo', { value: 1 }), pauses: { after: 0.5 } },
        { type: 'action', name: 'second', provider: node('echo', { value: 2 }) },
      ],
      rollbacks: [{ type: 'action', name: 'reset', provider: node('resetCount') }],
    });
    const opts = {
      hypothesisStrategy: 'continuously',
      hypothesisFrequency: 0.1,
      rollbackStrategy: 'always',
    } as const;
    let j = await run(exp, { ...opts, failFast: true });
    assert.equal(j.status, 'completed');
    assert.equal(j.deviated, true);
    assert.equal(j.run.length, 1, 'fail-fast cut the method short');
    // Faultline: the reason stays fail-fast's (it was "deviated after the method"); the verdict says so.
    assert.match(j.faultline.reason ?? '', /^fail-fast: the steady state was not met during the method/);
    assert.equal(j.faultline.verdict?.kind, 'deviated');
    assert.match(j.faultline.verdict?.reasons[0] ?? '', /^fail-fast: /);
    assert.ok(j.faultline.fail_fast?.fired_at);

    j = await run(exp, opts);
    assert.equal(j.status, 'completed');
    assert.equal(j.deviated, true);
    assert.equal(j.run.length, 2);
    assert.ok(j.steady_states.during.length >= 2);
    assert.equal(j.faultline.fail_fast, undefined);
    assert.equal(j.faultline.verdict?.kind, 'deviated');
  });

  test('I. a missing ref without validation -> aborted', async () => {
    const j = await run(base({ method: [{ ref: 'pizza' }] }));
    assert.equal(j.status, 'aborted');
    assert.match(j.faultline.reason ?? '', /pizza/);
  });

  test('I. an interrupt during a long pause -> interrupted, journal has the runs so far', async () => {
    const ac = new AbortController();
    const events: string[] = [];
    const onEvent = (e: RunEvent) => {
      events.push(e.type);
      if (e.type === 'activity-end' && e.run.activity.name === 'first')
        setTimeout(() => ac.abort('SIGINT'), 50);
    };
    const started = Date.now();
    const j = await run(
      base({
        method: [
          { type: 'action', name: 'first', provider: node('echo', { value: 1 }), pauses: { after: 30 } },
          { type: 'action', name: 'second', provider: node('echo', { value: 1 }) },
        ],
      }),
      { signal: ac.signal, onEvent },
    );
    assert.ok(Date.now() - started < 5000, 'the pause was cut short');
    assert.equal(j.status, 'interrupted');
    assert.equal(j.run.length, 1);
    assert.ok(events.includes('run-end'));
  });

  test('J. hypothesis strategies decide which states are set', async () => {
    const exp = base({
      'steady-state-hypothesis': {
        title: 'h',
        probes: [{ type: 'probe', name: 'p', tolerance: true, provider: node('echo', { value: true }) }],
      },
      method: [{ type: 'action', name: 'm', provider: node('echo', { value: 1 }), pauses: { after: 0.15 } }],
    });
    const cases = [
      ['before-method-only', true, false, false],
      ['after-method-only', false, true, false],
      ['during-method-only', false, false, true],
      ['continuously', true, true, true],
    ] as const;
    for (const [hypothesisStrategy, b, a, d] of cases) {
      const j = await run(exp, { hypothesisStrategy, hypothesisFrequency: 0.05 });
      assert.equal(j.steady_states.before !== null, b, `${hypothesisStrategy} before`);
      assert.equal(j.steady_states.after !== null, a, `${hypothesisStrategy} after`);
      assert.equal(j.steady_states.during.length > 0, d, `${hypothesisStrategy} during`);
      assert.equal(j.status, 'completed');
    }
    // From the runtime block; a CLI flag overrides it.
    const j = await run({ ...exp, runtime: { hypothesis: { strategy: 'after-method-only' } } });
    assert.equal(j.steady_states.before, null);
    const k = await run(
      { ...exp, runtime: { hypothesis: { strategy: 'after-method-only' } } },
      { hypothesisStrategy: 'default' },
    );
    assert.notEqual(k.steady_states.before, null);
  });
});

describe('Faultline behaviour', () => {
  test('rollback strategies deviated and never', async () => {
    const exp = (tol: boolean) =>
      base({
        'steady-state-hypothesis': {
          title: 'h',
          probes: [{ type: 'probe', name: 'p', tolerance: tol, provider: node('echo', { value: true }) }],
        },
        rollbacks: [{ type: 'action', name: 'rb', provider: node('echo', { value: 1 }) }],
      });
    assert.equal((await run(exp(true), { rollbackStrategy: 'deviated' })).rollbacks.length, 0);
    assert.equal((await run(exp(true), { rollbackStrategy: 'never' })).rollbacks.length, 0);
    assert.equal(
      (await run(exp(false), { rollbackStrategy: 'deviated' })).rollbacks.length,
      0,
      'a before miss is not a deviation',
    );
    assert.equal((await run(exp(true), { rollbackStrategy: 'default' })).rollbacks.length, 1);
  });

  test('dry modes: activities executes nothing and the hypothesis is met', async () => {
    const exp = base({
      'steady-state-hypothesis': {
        title: 'h',
        probes: [{ type: 'probe', name: 'p', tolerance: 42, provider: node('fail') }],
      },
      method: [{ type: 'action', name: 'm', provider: node('fail'), pauses: { before: 0.2 } }],
    });
    const j = await run(exp, { dry: 'activities' });
    assert.equal(j.status, 'completed');
    assert.equal(j.steady_states.before!.steady_state_met, true);
    assert.equal(j.run[0]!.status, 'succeeded');
    assert.equal(j.run[0]!.output, null);
    assert.equal(j.experiment.dry, 'activities');
    const k = await run(exp, { dry: 'probes' });
    assert.equal(k.steady_states.before!.steady_state_met, true);
    assert.equal(k.run[0]!.status, 'failed', 'actions run under --dry probes');
  });

  test('background activities run concurrently, appear in start order, and are awaited', async () => {
    const started = Date.now();
    const j = await run(
      base({
        method: [
          { type: 'action', name: 'bg', background: true, provider: node('slow', { seconds: 0.4 }) },
          { type: 'action', name: 'fg', provider: node('slow', { seconds: 0.4 }) },
        ],
      }),
    );
    const took = Date.now() - started;
    assert.deepEqual(
      j.run.map((r) => r.activity.name),
      ['bg', 'fg'],
    );
    assert.ok(j.run.every((r) => r.status === 'succeeded'));
    assert.ok(took < 780, `ran concurrently (${took} ms)`);
  });

  test('configuration, substitution and secrets: typed values pass through, secrets never reach the journal', async () => {
    const j = await run(
      base({
        title: 'hello ${who}',
        configuration: {
          who: 'world',
          n: 3,
          url: { type: 'env', key: 'FAULTLINE_TEST_UNSET_VAR', default: 'dflt' },
        },
        secrets: { auth: { token: 's3cr3t-value' } },
        method: [
          { type: 'probe', name: 'typed', provider: node('echo', { value: '${n}' }) },
          { type: 'probe', name: 'text', provider: node('echo', { value: 'n=${n} $$ $unknown' }) },
          { type: 'probe', name: 'leak', provider: node('secret') },
        ],
      }),
    );
    assert.equal(j.experiment.title, 'hello world');
    assert.equal(j.run[0]!.output, 3);
    assert.equal(j.run[1]!.output, 'n=3 $ $unknown');
    const text = JSON.stringify(j);
    assert.ok(!text.includes('s3cr3t-value'), 'the secret is masked everywhere');
    assert.equal(j.run[2]!.output, 'token is ***');
  });

  test('--var overrides only declared configuration keys', async () => {
    const j = await run(
      base({
        configuration: { n: 1 },
        method: [{ type: 'probe', name: 'cfg', provider: node('config') }],
      }),
      { configuration: { n: 5, undeclared: 1 } },
    );
    assert.deepEqual(j.run[0]!.output, { n: 5 });
  });
});

describe('max duration', () => {
  test('runtime.max_duration interrupts a run that lasts too long; --max-duration overrides it', async () => {
    const exp = base({
      runtime: { max_duration: '300ms' },
      method: [{ type: 'action', name: 'long', provider: node('echo', { value: 1 }), pauses: { after: 30 } }],
    });
    const started = Date.now();
    const j = await run(exp);
    assert.ok(Date.now() - started < 5000);
    assert.equal(j.status, 'interrupted');
    assert.match(j.faultline.reason ?? '', /max duration \(0\.3 s\)/);
    const k = await run(exp, { maxDurationMs: 100 });
    assert.equal(k.status, 'interrupted');
    assert.match(k.faultline.reason ?? '', /0\.1 s/);
  });
});

describe('baseline tolerances', () => {
  test('the before-method value is the baseline; the after check compares with it', async () => {
    const exp = (maxRatio: number) =>
      base({
        'steady-state-hypothesis': {
          title: 'no worse than 1.5x',
          probes: [
            {
              type: 'probe',
              name: 'counter',
              tolerance: { type: 'baseline', max_ratio: maxRatio },
              provider: node('count'),
            },
          ],
        },
        method: [{ type: 'action', name: 'reset-after', provider: node('echo', { value: 1 }) }],
        rollbacks: [{ type: 'action', name: 'reset', provider: node('resetCount') }],
      });
    await run(base({ method: [{ type: 'action', name: 'r', provider: node('resetCount') }] }));
    const worse = await run(exp(1.5), { rollbackStrategy: 'always' });
    assert.equal(worse.deviated, true, 'count went 1 -> 2: 2x the baseline');
    assert.deepEqual(worse.faultline.baselines, { counter: 1 });
    assert.equal(worse.steady_states.after!.probes[0]!.tolerance_met, false);
    const fine = await run(exp(2.5), { rollbackStrategy: 'always' });
    assert.equal(fine.deviated, false);
  });
});
