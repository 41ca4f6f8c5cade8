/**
 * `faultline proxy --allowed-host` / FAULTLINE_PROXY_ALLOWED_HOSTS and `faultline
 * run --metrics-allowed-host` / FAULTLINE_METRICS_ALLOWED_HOSTS through the
 * built CLI: a token-less server refuses a `Host` it does not know (DNS
 * rebinding) and answers it once the name is given; values that can never
 * match a `Host` are usage errors naming the flag.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type Cli, cliSuite, runCli, startCli } from '../helpers/cli.js';
import { http } from '../helpers/http-raw.js';

const suite = cliSuite('faultline-allowed-host-e2e-');
const LISTENING = /API listening on (http:\/\/\S+)/;
const METRICS = /metrics: (http:\/\/127\.0\.0\.1:\d+)\/metrics/;
const ALIAS = 'myalias.test';

const env = (extra: NodeJS.ProcessEnv = {}) => ({
  ...suite.env,
  FAULTLINE_PROXY_URL: '',
  FAULTLINE_PROXY_TOKEN: '',
  FAULTLINE_PROXY_ALLOWED_HOSTS: '',
  FAULTLINE_METRICS_TOKEN: '',
  FAULTLINE_METRICS_ALLOWED_HOSTS: '',
  ...extra,
});

async function started(cli: Cli, pattern: RegExp): Promise<string> {
  await cli.waitFor(pattern);
  return pattern.exec(cli.stderr())![1]!;
}

/** Runs `body` against a `faultline proxy --port 0 ...args`, then stops it (exit 0). */
async function withProxy(
  args: string[],
  extraEnv: NodeJS.ProcessEnv,
  body: (url: string, cli: Cli) => Promise<void>,
): Promise<void> {
  const cli = startCli(['proxy', '--port', '0', ...args], { env: env(extraEnv) });
  try {
    await body(await started(cli, LISTENING), cli);
  } finally {
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    assert.equal(r.code, 0, r.stderr);
  }
}

const asHost = (url: string, path: string, host: string) => http(url, 'GET', path, undefined, { host });

describe('faultline proxy --allowed-host', () => {
  test('without it a Host the server does not know is refused; with it that name is answered', async () => {
    await withProxy([], {}, async (url) => {
      const refused = await asHost(url, '/proxies', `${ALIAS}:8474`);
      assert.equal(refused.status, 403, refused.body);
      assert.match(JSON.parse(refused.body).error, /Host header "myalias\.test:8474" is not a name/);
      assert.equal((await asHost(url, '/proxies', new URL(url).host)).status, 200, 'the address itself');
    });
    await withProxy(['--allowed-host', ALIAS, '--allowed-host', '.corp.example'], {}, async (url, cli) => {
      assert.match(cli.stderr(), /also answers to Host myalias\.test, \.corp\.example/);
      const answered = await asHost(url, '/proxies', `${ALIAS}:8474`);
      assert.equal(answered.status, 200, answered.body);
      assert.deepEqual(JSON.parse(answered.body), {});
      assert.equal((await asHost(url, '/version', 'api.corp.example')).status, 200, 'a subdomain');
      const other = await asHost(url, '/proxies', 'attacker.example');
      assert.equal(other.status, 403, 'names not given stay refused');
    });
  });

  test('FAULTLINE_PROXY_ALLOWED_HOSTS (comma-separated) does the same; a flag replaces it', async () => {
    const aliases = { FAULTLINE_PROXY_ALLOWED_HOSTS: `other.test, ${ALIAS}` };
    await withProxy([], aliases, async (url) => {
      assert.equal((await asHost(url, '/proxies', ALIAS)).status, 200);
      assert.equal((await asHost(url, '/proxies', 'other.test')).status, 200);
    });
    await withProxy(['--allowed-host', 'other.test'], aliases, async (url) => {
      assert.equal((await asHost(url, '/proxies', 'other.test')).status, 200);
      assert.equal((await asHost(url, '/proxies', ALIAS)).status, 403, 'the flag, not the variable');
    });
  });

  test('with a token, any Host is accepted unless names are given; then only those', async () => {
    const token = { FAULTLINE_PROXY_TOKEN: 'allowed-host-secret' };
    const auth = { authorization: 'Bearer allowed-host-secret' };
    await withProxy([], token, async (url) => {
      const r = await http(url, 'GET', '/proxies', undefined, { ...auth, host: 'toxiproxy:8474' });
      assert.equal(r.status, 200, r.body);
    });
    await withProxy(['--allowed-host', ALIAS], token, async (url) => {
      assert.equal((await http(url, 'GET', '/proxies', undefined, { ...auth, host: ALIAS })).status, 200);
      const r = await http(url, 'GET', '/proxies', undefined, { ...auth, host: 'toxiproxy:8474' });
      assert.equal(r.status, 403, r.body);
    });
  });

  test('`proxy --help` and `run --help` show the flags', async () => {
    const proxy = await runCli(['proxy', '--help'], { env: env() });
    assert.match(proxy.stdout, /--allowed-host <name> +a name clients use to reach the API/);
    assert.match(proxy.stdout, /FAULTLINE_PROXY_ALLOWED_HOSTS/);
    const run = await runCli(['run', '--help'], { env: env() });
    assert.match(run.stdout, /--metrics-allowed-host <name>/);
  });

  test('a value no Host can match is a usage error naming the flag or variable', async () => {
    for (const [args, extraEnv, pattern] of [
      [
        ['--allowed-host', 'myalias.test:8474'],
        {},
        /--allowed-host: expected a host name .* got 'myalias\.test:8474'/,
      ],
      [
        ['--allowed-host', '*.corp.example'],
        {},
        /--allowed-host: expected .*\.example\.com .* got '\*\.corp\.example'/,
      ],
      [['--allowed-host', 'http://myalias.test'], {}, /--allowed-host: .* got 'http:\/\/myalias\.test'/],
      [
        [],
        { FAULTLINE_PROXY_ALLOWED_HOSTS: 'ok.test,bad name' },
        /FAULTLINE_PROXY_ALLOWED_HOSTS: .* got 'bad name'/,
      ],
    ] as const) {
      const r = await runCli(['proxy', '--port', '0', ...args], { env: env(extraEnv) });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /API listening/, 'nothing started');
    }
  });
});

describe('faultline run --metrics-allowed-host', () => {
  /** A run that waits until it is interrupted, serving its metrics meanwhile. */
  async function withRun(
    args: string[],
    extraEnv: NodeJS.ProcessEnv,
    body: (base: string) => Promise<void>,
  ): Promise<void> {
    const experiment = join(suite.work, 'wait.json');
    await writeFile(
      experiment,
      JSON.stringify({
        title: 'waits for the test',
        description: 'serves its metrics until interrupted',
        method: [
          {
            type: 'action',
            name: 'wait',
            provider: { type: 'process', path: 'sleep', arguments: ['120'] },
          },
        ],
      }),
    );
    const cli = startCli(
      ['run', experiment, '--journal-path', join(suite.work, 'journal.json'), '--metrics-port', '0', ...args],
      { env: env(extraEnv) },
    );
    try {
      await body(await started(cli, METRICS));
    } finally {
      cli.child.kill('SIGINT');
      const r = await cli.done;
      assert.match(r.stderr, /interrupted/, r.stderr);
    }
  }

  test('without it a Host the metrics server does not know is refused; with it that name is answered', async () => {
    await withRun([], {}, async (base) => {
      const refused = await asHost(base, '/metrics', ALIAS);
      assert.equal(refused.status, 403, refused.body);
      assert.match(JSON.parse(refused.body).error, /Host header "myalias\.test" is not a name/);
    });
    await withRun(['--metrics-allowed-host', ALIAS], {}, async (base) => {
      const answered = await asHost(base, '/metrics', `${ALIAS}:9464`);
      assert.equal(answered.status, 200, answered.body);
      assert.match(answered.body, /^# TYPE faultline_/m);
      assert.equal((await asHost(base, '/metrics', 'attacker.example')).status, 403);
    });
    await withRun([], { FAULTLINE_METRICS_ALLOWED_HOSTS: ALIAS }, async (base) => {
      assert.equal((await asHost(base, '/metrics', ALIAS)).status, 200, 'from the environment');
    });
  });

  test('usage errors: a value with a port, or the flag without --metrics-port', async () => {
    const experiment = 'examples/quickstart/experiment.yaml';
    for (const [args, pattern] of [
      [
        ['--metrics-port', '0', '--metrics-allowed-host', 'a.test:1'],
        /--metrics-allowed-host: expected a host name .* got 'a\.test:1'/,
      ],
      [['--metrics-allowed-host', ALIAS], /--metrics-allowed-host: expected --metrics-port too/],
    ] as const) {
      const r = await runCli(['run', experiment, '--journal-path', join(suite.work, 'no.json'), ...args], {
        env: env(),
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
    }
  });
});
