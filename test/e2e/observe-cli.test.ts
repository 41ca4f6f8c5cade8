/** `faultline run --metrics-port / --notify` and the settings file's `notifications`, through the built CLI. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli, startCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';

let home: Awaited<ReturnType<typeof tempHome>>;
let work: string;
let env: NodeJS.ProcessEnv;
let hook: Server;
let hookUrl: string;
const received: { path: string; body: { text: string; faultline: Record<string, unknown> } }[] = [];

before(async () => {
  home = await tempHome();
  work = await mkdtemp(join(tmpdir(), 'faultline-observe-'));
  env = { FAULTLINE_HOME: home.home };
  hook = createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(data) });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}`;
});
after(async () => {
  await new Promise((r) => hook.close(r));
  assert.deepEqual(await home.activeFaults(), []);
  await home.cleanup();
  await rm(work, { recursive: true, force: true });
});

test('metrics are served during the run, webhooks hear the start and the outcome with the report, and the trace is exported', async () => {
  const journal = join(work, 'journal.json');
  const report = join(work, 'report.md');
  const settings = join(work, 'settings.yaml');
  await writeFile(settings, `notifications:\n  - url: ${hookUrl}/from-settings\n    events: [completed]\n`);
  const cli = startCli(
    [
      'run',
      'examples/quickstart/experiment.yaml',
      '--journal-path',
      journal,
      '--report',
      `markdown=${report}`,
      '--metrics-port',
      '0',
      '--notify',
      `${hookUrl}/from-flag`,
      '--settings',
      settings,
    ],
    { env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: hookUrl, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } },
  );
  await cli.waitFor(/metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/);
  const url = /metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(cli.stderr())![1]!;
  const scraped = await (await fetch(url)).text();
  assert.match(scraped, /^# TYPE faultline_runs_total counter$/m);
  const r = await cli.done;
  assert.equal(r.code, 0, r.stderr);
  const fromFlag = received.filter((x) => x.path === '/from-flag').map((x) => x.body.faultline.event);
  assert.deepEqual(fromFlag, ['started', 'completed']);
  const fromSettings = received.filter((x) => x.path === '/from-settings');
  assert.equal(fromSettings.length, 1, 'only the events it asked for');
  assert.equal(fromSettings[0]!.body.faultline.exit_code, 0);
  assert.deepEqual(fromSettings[0]!.body.faultline.reports, [report]);
  assert.equal(fromSettings[0]!.body.faultline.journal, journal);
  const traces = received.filter((x) => x.path === '/v1/traces');
  assert.equal(traces.length, 1, 'one trace export per run');
  const spans = (
    traces[0]!.body as unknown as { resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[] }
  ).resourceSpans[0]!.scopeSpans[0]!.spans;
  assert.ok(spans.some((sp) => sp.name.startsWith('faultline run ')));
  assert.ok(spans.some((sp) => sp.name === 'method'));
});

test('bad observer flags are exit 2 before anything runs', async () => {
  const cases: [string[], RegExp][] = [
    [['--metrics-port', 'abc'], /--metrics-port: expected a port number/],
    [['--notify', 'ftp://example'], /--notify: expected an http\(s\) URL/],
    [['--metrics-linger', '5s'], /expected --metrics-port too/],
    [['--metrics-port', '0', '--metrics-host', '0.0.0.0'], /without a token: set FAULTLINE_METRICS_TOKEN/],
  ];
  for (const [flags, re] of cases) {
    const r = await runCli(
      ['run', 'examples/quickstart/experiment.yaml', '--journal-path', join(work, 'x.json'), ...flags],
      {
        env,
      },
    );
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  const bad = join(work, 'bad-settings.yaml');
  await writeFile(bad, 'notifications:\n  - url: not-a-url\n');
  const r = await runCli(['run', 'examples/quickstart/experiment.yaml', '--settings', bad], { env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /notifications\.0\.url: expected an http\(s\) URL/);
});
