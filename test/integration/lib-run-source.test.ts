/**
 * runFromSource (lib/run-source.ts), the library's `faultline run`: the same
 * settings file (found in FAULTLINE_HOME when no path is given), blast radius,
 * production policy (through `confirm`), var overrides, journal, reports and
 * exit code as the CLI, an AbortSignal that interrupts, and not one byte on
 * stdout or stderr. Real files, a real settings file, the built CLI to compare.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Experiment } from '../../src/core/schema.js';
import { type RunSourceEvent, runFromSource } from '../../src/lib/run-source.js';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';

const PROBES = fileURLToPath(new URL('../fixtures/engine/probes.mjs', import.meta.url));

let home: Awaited<ReturnType<typeof tempHome>>;
let work: string;
before(async () => {
  home = await tempHome();
  work = await mkdtemp(join(tmpdir(), 'faultline-lib-run-'));
  await copyFile(PROBES, join(work, 'probes.mjs'));
});
after(async () => {
  assert.deepEqual(await home.activeFaults(), [], 'no fault left behind');
  await home.cleanup();
  await rm(work, { recursive: true, force: true });
});

/** The environment of a library caller whose FAULTLINE_HOME is the test's. */
const env = () => ({ ...process.env, FAULTLINE_HOME: home.home });

/**
 * Under `node --test` the runner reports to its parent through this process's stdout, as
 * v8-serialized buffers (`test:start`, `test:pass`...), whenever it likes: those are not the library's.
 */
const runnerReport = (chunk: unknown): boolean =>
  chunk instanceof Uint8Array &&
  /^[\s\S]{0,24}"\x04type"[\s\S]{1,2}test:[a-z:]+"/.test(Buffer.from(chunk).toString('latin1'));

/** Runs `fn` and returns what it resolved with and everything else written to stdout and stderr meanwhile. */
async function captured<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown; written: string[] }> {
  const written: string[] = [];
  const out = process.stdout.write;
  const err = process.stderr.write;
  const spy =
    (original: typeof out, stream: NodeJS.WriteStream) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      if (!runnerReport(chunk)) written.push(String(chunk));
      return (original as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
    };
  process.stdout.write = spy(out, process.stdout) as typeof out;
  process.stderr.write = spy(err, process.stderr) as typeof err;
  try {
    return { value: await fn(), written };
  } catch (error) {
    return { error, written };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

const echo = (name: string, value: unknown) => ({
  type: 'action' as const,
  name,
  provider: { type: 'node' as const, module: './probes.mjs', func: 'echo', arguments: { value } },
});

function experiment(extra: Partial<Experiment> = {}): Experiment {
  return {
    title: 'library run',
    description: 'echoes its configuration',
    configuration: { greeting: 'hello' },
    'steady-state-hypothesis': {
      title: 'the greeting holds',
      probes: [
        {
          type: 'probe',
          name: 'greeting',
          provider: {
            type: 'node',
            module: './probes.mjs',
            func: 'echo',
            arguments: { value: '${greeting}' },
          },
          tolerance: 'hello',
        },
      ],
    },
    method: [echo('say', '${greeting}')],
    ...extra,
  };
}

async function file(name: string, content: unknown): Promise<string> {
  const path = join(work, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

describe('runFromSource', () => {
  test('runs a path: journal and report written, exit code as the CLI gives it, nothing printed', async () => {
    const source = await file('pass.json', experiment());
    const journalPath = join(work, 'pass-journal.json');
    const report = join(work, 'reports', 'pass.html');
    const events: RunSourceEvent['type'][] = [];
    const r = await captured(() =>
      runFromSource(source, {
        env: env(),
        journalPath,
        reports: [{ format: 'html', path: report }],
        onEvent: (e) => events.push(e.type),
      }),
    );
    assert.equal(r.error, undefined, String(r.error));
    assert.deepEqual(r.written, [], 'nothing on stdout or stderr');
    const result = r.value!;
    assert.equal(result.exitCode, 0);
    assert.equal(result.journal.status, 'completed');
    assert.equal(result.journalPath, journalPath);
    assert.deepEqual(result.reports, [report]);
    assert.equal(JSON.parse(await readFile(journalPath, 'utf8')).status, 'completed');
    assert.match(await readFile(report, 'utf8'), /<html/i);
    assert.ok(events.indexOf('run-start') < events.indexOf('run-end'));
    assert.ok(events.indexOf('run-end') < events.indexOf('journal'));
    assert.ok(events.indexOf('journal') < events.indexOf('report'));

    const cli = await runCli(['run', source, '--journal-path', join(work, 'pass-cli.json')], { env: env() });
    assert.equal(cli.code, result.exitCode, cli.stderr);
  });

  test('relative paths (source, var file, journal, report) resolve against `cwd`', async () => {
    await file('relative.json', experiment());
    await file('relative-vars.yaml', 'configuration:\n  greeting: hello\n');
    const r = await captured(() =>
      runFromSource('relative.json', {
        env: env(),
        cwd: work,
        varFiles: ['relative-vars.yaml'],
        journalPath: 'relative-journal.json',
        reports: [{ format: 'markdown', path: 'relative.md' }],
      }),
    );
    assert.equal(r.error, undefined, String(r.error));
    assert.deepEqual(r.written, []);
    assert.equal(r.value?.journalPath, join(work, 'relative-journal.json'));
    assert.deepEqual(r.value?.reports, [join(work, 'relative.md')]);
    assert.ok(existsSync(join(work, 'relative.md')));
  });

  test('a deviating run: the same exit code (1) from the library and the CLI', async () => {
    const source = await file(
      'deviate.json',
      experiment({ method: [echo('say', 'x')], configuration: { greeting: 'bye' } }),
    );
    const r = await captured(() => runFromSource(source, { env: env() }));
    assert.deepEqual(r.written, []);
    assert.equal(r.value?.exitCode, 1);
    assert.equal(r.value?.journalPath, undefined, 'no journal path: none written');
    const cli = await runCli(['run', source, '--journal-path', join(work, 'deviate-cli.json')], {
      env: env(),
    });
    assert.equal(cli.code, 1, cli.stderr);
  });

  test('runs an object, with var overrides and a var file', async () => {
    const varFile = await file('vars.yaml', 'configuration:\n  greeting: from-file\n');
    const r = await captured(() =>
      runFromSource(experiment(), {
        env: env(),
        baseDir: work,
        varFiles: [varFile],
        vars: { configuration: { greeting: 'hello' } },
      }),
    );
    assert.equal(r.error, undefined, String(r.error));
    assert.deepEqual(r.written, []);
    assert.equal(r.value?.journal.run[0]?.output, 'hello', '`vars` wins over the var file');

    const { 'steady-state-hypothesis': _, ...noHypothesis } = experiment();
    const fromFile = await runFromSource(noHypothesis, { env: env(), baseDir: work, varFiles: [varFile] });
    assert.equal(fromFile.journal.run[0]?.output, 'from-file');
  });

  test("validation's warnings are returned and told as notices, not printed", async () => {
    const notices: string[] = [];
    const r = await captured(() =>
      runFromSource({ ...experiment(), steady_state_hypothesis: {} } as Experiment, {
        env: env(),
        baseDir: work,
        onEvent: (e) => {
          if (e.type === 'notice') notices.push(`${e.level} ${e.message}`);
        },
      }),
    );
    assert.equal(r.error, undefined, String(r.error));
    assert.deepEqual(r.written, []);
    assert.ok(r.value!.warnings.length > 0, 'an unknown key is a warning');
    assert.ok(
      notices.some((n) => /^warn warning: .*steady_state_hypothesis/.test(n)),
      notices.join('\n'),
    );
  });

  test('the settings file in FAULTLINE_HOME applies its blast radius: refused as the CLI refuses it (exit 2)', async () => {
    const blockHome = await tempHome();
    try {
      await writeFile(
        join(blockHome.home, 'settings.yaml'),
        `blast_radius:\n  block:\n    - {type: file, name: '*/forbidden-*'}\n`,
      );
      const marker = join(work, `forbidden-${process.pid}`);
      const source = await file('blocked.json', {
        title: 'touches a forbidden file',
        description: 'the settings file blocks it',
        method: [
          {
            type: 'action',
            name: 'marker',
            provider: {
              type: 'faultline',
              module: 'faultline.marker',
              func: 'create',
              arguments: { path: marker, duration: 60 },
            },
          },
        ],
      });
      const homeEnv = { ...process.env, FAULTLINE_HOME: blockHome.home };
      const r = await captured(() => runFromSource(source, { env: homeEnv }));
      assert.deepEqual(r.written, []);
      const err = r.error as { code?: string; exitCode?: number; message?: string };
      assert.ok(err, 'refused');
      assert.equal(err.exitCode, 2);
      assert.match(String(err.message), /blast radius: block \(the settings file's blast_radius\)/);
      assert.equal(existsSync(marker), false, 'nothing injected');

      const cli = await runCli(['run', source, '--journal-path', join(work, 'blocked-cli.json')], {
        env: { FAULTLINE_HOME: blockHome.home },
      });
      assert.equal(cli.code, err.exitCode, cli.stderr);
      assert.match(cli.stderr, /blast radius: block \(the settings file's blast_radius\)/);
      assert.deepEqual(await blockHome.activeFaults(), []);
    } finally {
      await blockHome.cleanup();
    }
  });

  test('a production policy: refused without confirm or when it says no, runs when it says yes', async () => {
    const settings = await file('prod-settings.yaml', 'production_tags: [production]\n');
    const source = await file('prod.json', experiment({ tags: ['production'] }));
    const questions: string[] = [];
    const missing = await captured(() => runFromSource(source, { env: env(), settings }));
    assert.deepEqual(missing.written, []);
    assert.equal((missing.error as { code?: string }).code, 'FAULTLINE_ERR_POLICY');
    assert.equal((missing.error as { exitCode?: number }).exitCode, 2);

    const no = await captured(() =>
      runFromSource(source, {
        env: env(),
        settings,
        confirm: async (q) => {
          questions.push(q);
          return false;
        },
      }),
    );
    assert.equal((no.error as { code?: string }).code, 'FAULTLINE_ERR_POLICY');
    assert.match(questions[0] ?? '', /tagged 'production'/);

    const yes = await captured(() =>
      runFromSource(source, { env: env(), settings, confirm: async () => true }),
    );
    assert.equal(yes.error, undefined, String(yes.error));
    assert.deepEqual(yes.written, []);
    assert.equal(yes.value?.exitCode, 0);
    assert.equal(yes.value?.policy.production, true);
    assert.ok(yes.value?.policy.approval, 'the approval is recorded');

    const approved = await runFromSource(source, { env: env(), settings, yes: true });
    assert.equal(approved.exitCode, 0);
  });

  test('an AbortSignal interrupts the run (status interrupted), and the journal is still written', async () => {
    const source = await file('slow.json', {
      title: 'waits',
      description: 'a slow action the caller interrupts',
      method: [
        {
          type: 'action',
          name: 'slow',
          provider: { type: 'node', module: './probes.mjs', func: 'slow', arguments: { seconds: 60 } },
        },
      ],
    });
    const journalPath = join(work, 'slow-journal.json');
    const controller = new AbortController();
    const r = await captured(() =>
      runFromSource(source, {
        env: env(),
        journalPath,
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'activity-start') controller.abort('the caller stopped it');
        },
      }),
    );
    assert.equal(r.error, undefined, String(r.error));
    assert.deepEqual(r.written, []);
    assert.equal(r.value?.journal.status, 'interrupted');
    assert.equal(r.value?.exitCode, 1);
    assert.equal(JSON.parse(await readFile(journalPath, 'utf8')).status, 'interrupted');
  });

  test('a journal path Faultline would refuse is refused before the run (exit 2), named as the option', async () => {
    const source = await file('ok.json', experiment());
    const link = join(work, 'link.json');
    const { symlink } = await import('node:fs/promises');
    await symlink(join(work, 'elsewhere.json'), link);
    const r = await captured(() => runFromSource(source, { env: env(), journalPath: link }));
    assert.deepEqual(r.written, []);
    const err = r.error as { exitCode?: number; message?: string };
    assert.equal(err.exitCode, 2);
    assert.match(String(err.message), /^journalPath: refusing to write .*symbolic link/);
  });
});
