// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} strings are the Chaos Toolkit syntax under test
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { providerRegistry } from '../../src/compose.js';
import { FaultlineError, type Issue } from '../../src/core/errors.js';
import type { ProviderRunner } from '../../src/engine/context.js';
import { loadExperimentSource, MAX_ISSUES } from '../../src/experiment/index.js';
import { assertValidExperiment, validateExperiment } from '../../src/lib/validate.js';

const providers = await providerRegistry();

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', 'experiment', name);

const base = () => ({ title: 't', description: 'd', method: [] as unknown[] });
const http = (url: unknown = 'http://127.0.0.1/') => ({ type: 'http', url });
const probe = (name: string, extra: Record<string, unknown> = {}) => ({
  type: 'probe',
  name,
  provider: http(),
  tolerance: 200,
  ...extra,
});
const withHypothesis = (...probes: unknown[]) => ({
  ...base(),
  'steady-state-hypothesis': { title: 'h', probes },
});

async function issuesOf(doc: unknown, opts: Parameters<typeof validateExperiment>[1] = {}): Promise<Issue[]> {
  return (await validateExperiment(doc, { env: {}, ...opts })).issues;
}

/** Asserts one issue at `path` whose message matches. */
function has(issues: Issue[], path: string, message: RegExp): Issue {
  const found = issues.find((i) => i.path === path && message.test(i.message));
  assert.ok(
    found,
    `no issue ${path}: ${message}\n got:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
  );
  return found;
}

describe('validation: files, paths and positions', () => {
  test('the valid fixtures have no issues', async () => {
    for (const name of ['valid.json', 'valid.yaml']) {
      const { experiment, issues } = await validateExperiment(await loadExperimentSource(fixture(name)), {
        env: {},
      });
      assert.deepEqual(issues, [], name);
      assert.equal(experiment.method.length, 2);
    }
  });

  test('JSON: every problem, with its path, line and column, in document order', async () => {
    const { issues } = await validateExperiment(await loadExperimentSource(fixture('invalid.json')), {
      env: {},
    });
    assert.deepEqual(issues, [
      {
        path: 'steady-state-hypothesis.probes[0].tolerance',
        message: 'hypothesis probe must have a tolerance entry',
        line: 7,
        column: 7,
      },
      {
        path: 'method[0].provider.url',
        message: 'required (a HTTP activity must have a URL)',
        line: 18,
        column: 19,
      },
      {
        path: 'method[1].provider.url',
        message: 'a HTTP activity must have a URL, got an integer (42)',
        line: 23,
        column: 44,
      },
      {
        path: 'method[2].ref',
        message: "referenced activity 'nowhere' could not be found in the experiment",
        line: 25,
        column: 14,
      },
    ]);
  });

  test('YAML: the same problems at their YAML positions', async () => {
    const { issues } = await validateExperiment(await loadExperimentSource(fixture('invalid.yaml')), {
      env: {},
    });
    assert.deepEqual(
      issues.map((i) => [i.path, i.line, i.column]),
      [
        ['steady-state-hypothesis.probes[0].tolerance', 6, 7],
        ['method[0].provider.url', 15, 7],
        ['method[1].provider.url', 20, 12],
        ['method[2].ref', 21, 10],
      ],
    );
  });

  test('plain objects validate too, without positions', async () => {
    const issues = await issuesOf({ title: 't', method: [] });
    assert.deepEqual(issues, [
      { path: 'description', message: 'required (experiment requires a description)' },
    ]);
  });

  test('assertValidExperiment throws FAULTLINE_ERR_VALIDATION with every issue', async () => {
    const loaded = await loadExperimentSource(fixture('invalid.json'));
    await assert.rejects(assertValidExperiment(loaded, { env: {} }), (err: unknown) => {
      assert.ok(err instanceof FaultlineError);
      assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
      assert.equal(err.exitCode, 2);
      assert.equal(err.issues.length, 4);
      assert.match(err.message, /invalid\.json is not a valid experiment \(4 issues\)/);
      return true;
    });
    const ok = await assertValidExperiment(await loadExperimentSource(fixture('valid.yaml')), { env: {} });
    assert.equal(ok.experiment.title, 'Service stays healthy while ${service} restarts');
    assert.deepEqual(ok.issues, []);
  });
});

describe('validation: the document', () => {
  test('empty and non-object documents', async () => {
    has(await issuesOf({}), '', /^an empty experiment is not an experiment$/);
    has(await issuesOf(null), '', /^an empty experiment is not an experiment$/);
    has(await issuesOf([1]), '', /expected an object.*got a list/);
  });

  test('title, description and method are required; method may be empty', async () => {
    const issues = await issuesOf({ tags: [] });
    has(issues, 'title', /^required \(experiment requires a title\)$/);
    has(issues, 'description', /^required \(experiment requires a description\)$/);
    has(issues, 'method', /^required \(an experiment requires a method/);
    has(await issuesOf({ ...base(), title: '' }), 'title', /^must not be empty/);
    has(await issuesOf({ ...base(), method: null }), 'method', /an experiment requires a method.*got null/);
    assert.deepEqual(await issuesOf(base()), []);
  });

  test('tags, extensions, hypothesis title', async () => {
    has(await issuesOf({ ...base(), tags: ['ok', ''] }), 'tags[1]', /tags must be non-empty strings/);
    has(
      await issuesOf({ ...base(), tags: ['ok', 3] }),
      'tags[1]',
      /tags must be non-empty strings, got an integer/,
    );
    has(
      await issuesOf({ ...base(), extensions: [{ x: 1 }] }),
      'extensions[0].name',
      /require a non-empty name/,
    );
    has(
      await issuesOf({ ...base(), 'steady-state-hypothesis': {} }),
      'steady-state-hypothesis.title',
      /hypothesis requires a title/,
    );
  });

  test('unknown keys are ignored, as in Chaos Toolkit', async () => {
    assert.deepEqual(await issuesOf({ ...base(), whatever: { x: 1 }, contributions: { a: 'high' } }), []);
  });
});

describe('validation: activities', () => {
  test('each bad field gets its own precise message', async () => {
    const issues = await issuesOf({
      ...base(),
      method: [
        { type: 'actio', name: '', provider: http() },
        { type: 'action', name: 'x', provider: { url: 'u' } },
        { type: 'action', name: 'y', provider: { type: 'ftp' } },
        { type: 'action', name: 'z', provider: http(), background: 'yes', timeout: 'slow' },
        { type: 'action', name: 'h', provider: { ...http(), headers: ['a'] } },
        { name: 'no-type', provider: http() },
        { type: 'action', name: 'no-provider' },
        null,
      ],
    });
    has(issues, 'method[0].type', /expected an activity type of probe or action, got "actio"/);
    has(issues, 'method[0].name', /must not be empty \(an activity must have a name\)/);
    has(
      issues,
      'method[1].provider.type',
      /^required \(expected a provider type of http, process, node, python or faultline\)$/,
    );
    has(issues, 'method[2].provider.type', /expected a provider type of .*, got "ftp"/);
    has(issues, 'method[3].background', /activity background must be a boolean, got a string/);
    has(issues, 'method[3].timeout', /activity timeout must be a number/);
    has(issues, 'method[4].provider.headers', /expected headers as a mapping, got a list/);
    has(issues, 'method[5].type', /^required \(expected an activity type of probe or action\)$/);
    has(issues, 'method[6].provider', /^required/);
    has(issues, 'method[7]', /expected an activity .* or a reference \{ref: name\}, got null/);
    // Precise messages, never zod's generic union text.
    assert.ok(!issues.some((i) => /Invalid input/.test(i.message)), JSON.stringify(issues, null, 1));
  });

  test('provider-specific required fields', async () => {
    const issues = await issuesOf({
      ...base(),
      method: [
        { type: 'action', name: 'p', provider: { type: 'process' } },
        { type: 'action', name: 'py', provider: { type: 'python', module: 'm' } },
        { type: 'action', name: 'u', provider: http(7) },
      ],
    });
    has(issues, 'method[0].provider.path', /^required \(a process activity must have a path\)$/);
    has(issues, 'method[1].provider.func', /^required \(a Python activity must have a function name\)$/);
    has(issues, 'method[2].provider.url', /a HTTP activity must have a URL, got an integer/);
  });

  test('a {ref} is checked as a reference, not as a full activity', async () => {
    const issues = await issuesOf({ ...base(), method: [{ ref: '' }, { ref: 5 }] });
    has(issues, 'method[0].ref', /must not be empty \(reference to activity must be a non-empty string\)/);
    has(issues, 'method[1].ref', /reference to activity must be a non-empty string, got an integer/);
    assert.ok(!issues.some((i) => /\.(type|name|provider)$/.test(i.path)));
  });

  test('refs resolve among the method and the hypothesis probes', async () => {
    const issues = await issuesOf({
      ...withHypothesis(probe('health')),
      method: [
        { type: 'action', name: 'act', provider: http() },
        { ref: 'act' },
        { ref: 'health' },
        { ref: 'pizza' },
      ],
      rollbacks: [{ ref: 'act' }, { ref: 'ghost' }],
    });
    assert.deepEqual(
      issues.map((i) => [i.path, i.message]),
      [
        ['method[3].ref', "referenced activity 'pizza' could not be found in the experiment"],
        ['rollbacks[1].ref', "referenced activity 'ghost' could not be found in the experiment"],
      ],
    );
  });

  test('pauses are numbers or "${name}" references', async () => {
    const issues = await issuesOf({
      ...base(),
      method: [
        { type: 'action', name: 'a', provider: http(), pauses: { before: 1.5, after: '${wait}' } },
        { type: 'action', name: 'b', provider: http(), pauses: { before: 'soon', after: '${my-key}' } },
      ],
    });
    assert.deepEqual(
      issues.map((i) => [i.path, i.message]),
      [
        ['method[1].pauses.before', 'expected a number or a "${name}" reference, got "soon"'],
        ['method[1].pauses.after', 'expected a number or a "${name}" reference, got "${my-key}"'],
      ],
    );
  });
});

describe('validation: hypothesis and tolerances', () => {
  test('hypothesis probes need a tolerance; refs may borrow the target one', async () => {
    const issues = await issuesOf({
      ...withHypothesis(probe('a', { tolerance: undefined }), probe('b'), { ref: 'b' }, { ref: 'c' }),
      method: [{ type: 'probe', name: 'c', provider: http() }],
    });
    assert.deepEqual(
      issues.map((i) => [i.path, i.message]),
      [
        ['steady-state-hypothesis.probes[0].tolerance', 'hypothesis probe must have a tolerance entry'],
        ['steady-state-hypothesis.probes[3].tolerance', 'hypothesis probe must have a tolerance entry'],
      ],
    );
  });

  test('float and null tolerances are invalid', async () => {
    const issues = await issuesOf(
      withHypothesis(probe('f', { tolerance: 1.5 }), probe('n', { tolerance: null })),
    );
    has(
      issues,
      'steady-state-hypothesis.probes[0].tolerance',
      /expected a boolean, an integer, a string, a list, or an object.*got a float \(1\.5\)/,
    );
    has(issues, 'steady-state-hypothesis.probes[1].tolerance', /got null/);
  });

  test('every tolerance shape Chaos Toolkit accepts is valid', async () => {
    const tolerances = [
      true,
      0,
      'ok',
      '${expected}',
      [200, 204],
      { type: 'range', range: [1, 2.5], target: 'body' },
      { type: 'regex', pattern: '^ok$' },
      { type: 'jsonpath', path: '$.a', expect: 1 },
      { type: 'probe', name: 'check', provider: { ...http(), arguments: {} } },
    ];
    const issues = await issuesOf(
      withHypothesis(...tolerances.map((tolerance, i) => probe(`p${i}`, { tolerance }))),
    );
    assert.deepEqual(issues, []);
  });

  test('object tolerances are checked against the branch their type names', async () => {
    const issues = await issuesOf(
      withHypothesis(
        probe('r', { tolerance: { type: 'range', range: [1] } }),
        probe('x', { tolerance: { type: 'regex' } }),
        probe('j', { tolerance: { type: 'jsonpath', path: '' } }),
        probe('u', { tolerance: { type: 'bogus' } }),
        probe('t', { tolerance: { range: [1, 2] } }),
        probe('p', { tolerance: { type: 'probe', name: 'tp', provider: { type: 'python', module: 'm' } } }),
      ),
    );
    const p = (i: number) => `steady-state-hypothesis.probes[${i}].tolerance`;
    has(issues, `${p(0)}.range`, /expected a range of two numbers/);
    has(issues, `${p(1)}.pattern`, /regex tolerance must have a string `pattern`/);
    has(issues, `${p(2)}.path`, /must not be empty|JSON path cannot be empty/);
    has(issues, `${p(3)}.type`, /tolerance type "bogus" is unsupported/);
    has(issues, `${p(4)}.type`, /^required/);
    has(issues, `${p(5)}.provider.func`, /a Python activity must have a function name/);
    assert.equal(issues.length, 6, JSON.stringify(issues, null, 1));
  });

  test("the tolerance's own checks run, with paths under the tolerance", async () => {
    const issues = await issuesOf(
      withHypothesis(probe('r', { tolerance: { type: 'regex', pattern: '(unclosed' } })),
    );
    has(issues, 'steady-state-hypothesis.probes[0].tolerance.pattern', /\(unclosed/);
  });

  test('tolerances outside the hypothesis are ignored, as Chaos Toolkit ignores them', async () => {
    const issues = await issuesOf({ ...base(), method: [probe('m', { tolerance: 1.5 })] });
    assert.deepEqual(issues, []);
  });
});

describe('validation: controls', () => {
  test('a control needs a provider unless it is a ref to a top-level control', async () => {
    const issues = await issuesOf({
      ...withHypothesis(
        probe('p', {
          controls: [
            { name: 'use-top', ref: 'top' },
            { name: 'lost', ref: 'nowhere' },
          ],
        }),
      ),
      controls: [
        // A safeguards control with no probes is refused now that its probes are checked: a node control here.
        { name: 'top', provider: { type: 'node', module: './c.js' } },
        { name: 'bare' },
        { name: 'bad-scope', provider: { type: 'node', module: './c.js' }, scope: 'post' },
      ],
    });
    assert.deepEqual(
      issues.map((i) => [i.path, i.message]),
      // Object key order: the hypothesis was written before `controls`.
      [
        [
          'steady-state-hypothesis.probes[0].controls[1].ref',
          "control reference 'nowhere' cannot be found among the top-level controls",
        ],
        ['controls[1].provider', "control 'bare' must have a provider (or a ref to a top-level control)"],
        ['controls[2].scope', "scope must be 'before' or 'after', got \"post\""],
      ],
    );
  });
});

describe('validation: configuration and secrets', () => {
  test('env configuration: key required, variable must exist unless defaulted', async () => {
    const doc = {
      ...base(),
      configuration: {
        literal: 1,
        nokey: { type: 'env' },
        missing: { type: 'env', key: 'FAULTLINE_UNSET_VAR' },
        defaulted: { type: 'env', key: 'FAULTLINE_UNSET_VAR', default: null },
        typed: { type: 'env', key: 'PORT', env_var_type: 'int' },
        badtype: { type: 'env', key: 'PORT', env_var_type: 'uuid' },
      },
    };
    const issues = await issuesOf(doc, { env: { PORT: 'eighty' } });
    assert.deepEqual(
      issues.map((i) => [i.path, i.message]),
      [
        ['configuration.nokey.key', 'required'],
        [
          'configuration.missing.key',
          'Configuration makes reference to an environment key that does not exist: FAULTLINE_UNSET_VAR',
        ],
        [
          'configuration.typed',
          'Configuration "typed": environment variable PORT is not an int (env_var_type int)',
        ],
        [
          'configuration.badtype.env_var_type',
          'expected one of "int", "float", "str", "bytes", "bool", "json", got "uuid"',
        ],
      ],
    );
    const relaxed = await issuesOf(doc, { env: {}, checkEnv: false });
    assert.deepEqual(
      relaxed.map((i) => i.path),
      ['configuration.nokey.key', 'configuration.badtype.env_var_type'],
    );
  });

  test('dynamic configuration probes are checked as probes', async () => {
    const issues = await issuesOf({
      ...base(),
      configuration: { dyn: { type: 'probe', name: 'get', provider: { type: 'http' } } },
    });
    has(issues, 'configuration.dyn.provider.url', /^required/);
  });

  test('secrets: env secrets must exist (no default); vault is not supported yet', async () => {
    const issues = await issuesOf(
      {
        ...base(),
        secrets: {
          api: {
            token: { type: 'env', key: 'FAULTLINE_NO_TOKEN' },
            user: { type: 'env', key: 'FAULTLINE_NO_USER', default: 'x' },
            ok: { type: 'env', key: 'SET' },
            nokey: { type: 'env' },
          },
          db: { password: { type: 'vault', path: 'secret/db' } },
        },
      },
      { env: { SET: '1' } },
    );
    assert.deepEqual(
      issues.map((i) => [i.path, i.message]),
      [
        [
          'secrets.api.token.key',
          'Secrets make reference to an environment key that does not exist: FAULTLINE_NO_TOKEN',
        ],
        [
          'secrets.api.user.key',
          'Secrets make reference to an environment key that does not exist: FAULTLINE_NO_USER (secrets have no default)',
        ],
        ['secrets.api.nokey.key', 'required (the environment variable to read)'],
        ['secrets.db.password', 'vault secrets are not supported yet'],
      ],
    );
  });
});

describe('validation: provider checks', () => {
  test("each provider's check runs; its issue paths are prefixed with the provider's path", async (t) => {
    const seen: unknown[] = [];
    const fake: ProviderRunner = {
      type: 'process',
      run: async () => null,
      check: (provider, ctx) => {
        seen.push([provider, ctx.baseDir]);
        if ((provider as { path: string }).path === 'explode') throw new Error('kaboom');
        return (provider as { path: string }).path === 'missing-bin'
          ? [{ path: 'path', message: "path 'missing-bin' cannot be found" }]
          : [];
      },
    };
    const original = providers.get.bind(providers);
    providers.get = (name: string) => (name === 'process' ? fake : original(name));
    t.after(() => {
      providers.get = original;
    });
    const issues = await issuesOf(
      {
        ...withHypothesis(
          probe('p', { provider: { type: 'process', path: 'missing-bin' }, tolerance: 0 }),
          probe('q', {
            tolerance: { type: 'probe', name: 'tp', provider: { type: 'process', path: 'missing-bin' } },
          }),
        ),
        method: [
          { type: 'action', name: 'ok', provider: { type: 'process', path: 'echo' } },
          { type: 'action', name: 'boom', provider: { type: 'process', path: 'explode' } },
        ],
        rollbacks: [{ type: 'action', name: 'rb', provider: { type: 'process', path: 'missing-bin' } }],
      },
      { baseDir: '/some/dir' },
    );
    assert.deepEqual(
      issues.map((i) => [i.path, i.message]),
      // Object key order: `method` (from base()) precedes the hypothesis.
      [
        ['method[1].provider', 'the process provider check failed: kaboom'],
        ['steady-state-hypothesis.probes[0].provider.path', "path 'missing-bin' cannot be found"],
        ['steady-state-hypothesis.probes[1].tolerance.provider.path', "path 'missing-bin' cannot be found"],
        ['rollbacks[0].provider.path', "path 'missing-bin' cannot be found"],
      ],
    );
    assert.ok(seen.every((s) => (s as unknown[])[1] === '/some/dir'));
  });
});

describe('validation: limits', () => {
  test('huge numbers of issues are capped with a summary', async () => {
    const issues = await issuesOf({ ...base(), method: Array.from({ length: MAX_ISSUES + 50 }, () => 5) });
    assert.equal(issues.length, MAX_ISSUES + 1);
    assert.match(issues.at(-1)!.message, /and 50 more issues/);
  });
});

describe('validation: built-in arguments', () => {
  test('a ${name} value is checked at run time, once substituted; a wrong literal is refused now', async () => {
    const action = (name: string, percent: unknown) => ({
      type: 'action',
      name,
      provider: {
        type: 'faultline',
        module: 'faultline.network',
        func: 'loss',
        arguments: { percent, namespace: 'x' },
      },
    });
    const issues = await issuesOf({
      title: 't',
      description: 'd',
      configuration: { pct: 25 },
      method: [action('from-configuration', '${pct}'), action('literal', 'abc')],
    });
    assert.deepEqual(
      issues.map((i) => i.path),
      ['method[1].provider.arguments.percent'],
    );
  });
});

describe('validation: unknown keys are warnings', () => {
  test("'titel' at the top level and 'tolerence' in an activity are reported with a suggestion, never as issues", async () => {
    const doc = {
      ...withHypothesis({ ...probe('p'), tolerence: 200 }),
      titel: 'typo',
      'x-team': 'payments',
      method: [{ type: 'action', name: 'a', provider: http(), pauses: { after: 1 }, backgroud: true }],
      rollbacks: [{ ref: 'a' }],
      safeguards: [{ ...probe('s'), frequency: 1, frequncy: 2 }],
    };
    const { issues, warnings } = await validateExperiment(doc, { env: {} });
    assert.deepEqual(issues, []);
    has(warnings, 'titel', /^unknown key 'titel' in the experiment .*did you mean 'title'\?$/);
    has(warnings, 'x-team', /^unknown key 'x-team' in the experiment \(ignored, as Chaos Toolkit does\)$/);
    has(warnings, 'steady-state-hypothesis.probes[0].tolerence', /did you mean 'tolerance'\?/);
    has(warnings, 'method[0].backgroud', /in this activity .*did you mean 'background'\?/);
    has(warnings, 'safeguards[0].frequncy', /in this safeguard .*did you mean 'frequency'\?/);
    assert.equal(warnings.length, 5, warnings.map((w) => w.path).join(', '));
  });

  test("Faultline's own keys (from the schema), Chaos Toolkit's and $schema are known: no warning", async () => {
    const doc = {
      $schema: './faultline.schema.json',
      version: '1.0.0',
      ...withHypothesis(probe('p', { background: false, timeout: 3, controls: [], pauses: { before: 0 } })),
      tags: ['t'],
      configuration: {},
      secrets: {},
      extensions: [{ name: 'e', anything: 1 }],
      contributions: {},
      controls: [],
      rollbacks: [],
      runtime: {},
      proxies: [],
      safeguards: [],
      load: { rate: 1, requests: [{ url: 'http://127.0.0.1/' }] },
      blast_radius: {},
      blastRadius: {},
    };
    const { issues, warnings } = await validateExperiment(doc, { env: {} });
    assert.deepEqual(issues, []);
    assert.deepEqual(warnings, []);
  });

  test('warnings carry their line in a file, and a file with only warnings is valid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'faultline-unknown-'));
    try {
      const path = join(dir, 'titel.yaml');
      await writeFile(path, 'title: t\ndescription: d\ntitel: typo\nmethod: []\n');
      const loaded = await loadExperimentSource(path);
      const { issues, warnings } = await validateExperiment(loaded, { env: {} });
      assert.deepEqual(issues, []);
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]?.line, 3);
      await assertValidExperiment(loaded, { env: {} });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
