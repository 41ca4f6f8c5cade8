/**
 * Hostile experiments through the built CLI (issue #13): the attacks that
 * found each problem, scaled to run in seconds. Every wait is on output or on
 * the process ending, never on timing.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliSuite, journalOf, startCli } from '../helpers/cli.js';
import { startServer } from '../helpers/server.js';

const e2e = cliSuite('faultline-hostile-');

test('item 2: the ReDoS pattern in a regex tolerance neither stalls the run nor makes it deaf to SIGTERM', async () => {
  const file = join(e2e.work, 'redos.json');
  const journal = join(e2e.work, 'redos-journal.json');
  // The steady state is checked every 0.2 s during a long method: each check runs the attack.
  await writeFile(
    file,
    JSON.stringify({
      title: 'redos',
      description: 'a backtracking pattern against a crafted output',
      runtime: { hypothesis: { strategy: 'during-method-only', frequency: 0.2 } },
      'steady-state-hypothesis': {
        title: 'path is fine',
        probes: [
          {
            type: 'probe',
            name: 'crafted-path',
            provider: { type: 'process', path: 'printf', arguments: [`/${'a'.repeat(33)}!`] },
            tolerance: { type: 'regex', pattern: '^/(a+)+$', target: 'stdout' },
          },
        ],
      },
      method: [
        { type: 'action', name: 'wait', provider: { type: 'process', path: 'sleep', arguments: ['600'] } },
      ],
    }),
  );
  const cli = startCli(['run', file, '--journal-path', journal], { env: e2e.env });
  // Two checks done: the event loop is free (with a backtracking engine the first never ends).
  await cli.waitFor(/deviated during the method[\s\S]*deviated during the method/, 60_000);
  cli.child.kill('SIGTERM');
  const r = await cli.done;
  assert.equal(r.code, 1, r.stderr);
  const j = await journalOf(journal);
  assert.equal(j.status, 'interrupted');
  assert.ok(j.steady_states.during.length >= 2);
  assert.equal(j.steady_states.during[0].probes[0].tolerance_met, false);
});

// A secret with characters that URL encoding changes, so an encoded copy in a URL is caught too.
const TOKEN = 'Tk-9f3e/a+b c&d=e';
const FORMS = [TOKEN, encodeURIComponent(TOKEN), new URLSearchParams({ v: TOKEN }).toString().slice(2)];

/** Receives webhooks and OTLP/JSON traces: every request body, by path. */
async function collector() {
  const received: { path: string; body: string }[] = [];
  const server = await startServer((req, res, body) => {
    received.push({ path: req.url ?? '', body });
    if (req.url?.startsWith('/bad-json')) {
      res.setHeader('content-type', 'application/json');
      res.end('not json');
    } else res.end('ok');
  });
  return { ...server, received };
}

for (const format of ['text', 'json'] as const) {
  test(`item 11: planted secrets reach no output (${format} logs, trace, webhook, journal, metrics)`, async () => {
    const sink = await collector();
    try {
      const file = join(e2e.work, `leak-${format}.json`);
      const journal = join(e2e.work, `leak-${format}-journal.json`);
      const go = join(e2e.work, `leak-${format}.go`);
      await writeFile(
        join(e2e.work, 'boom.mjs'),
        'export function boom({ v }) { throw new Error(`bad value ${v}`); }\nexport const echo = ({ v }) => v;\n',
      );
      const proc = (name: string, args: string[]) => ({
        type: 'action',
        name,
        provider: { type: 'process', path: args[0], arguments: args.slice(1) },
      });
      await writeFile(
        file,
        JSON.stringify({
          title: 'leaks',
          description: 'every way a secret value used to reach a log line or a span',
          secrets: { s: { token: { type: 'env', key: 'FL_PLANTED_TOKEN' } } },
          runtime: { hypothesis: { strategy: 'after-method-only' } },
          'steady-state-hypothesis': {
            title: 'token check',
            probes: [
              {
                type: 'probe',
                name: 'tolerance-miss',
                provider: { type: 'process', path: 'printf', arguments: ['%s', '${token}'] },
                tolerance: { type: 'regex', pattern: '^never$', target: 'stdout' },
              },
            ],
          },
          method: [
            {
              type: 'action',
              name: 'output-preview',
              provider: { type: 'node', module: './boom.mjs', func: 'echo', arguments: { v: '${token}' } },
            },
            {
              type: 'action',
              name: 'http-error-with-query',
              provider: { type: 'http', url: `${sink.url}/bad-json`, arguments: { q: '${token}' } },
            },
            {
              type: 'action',
              name: 'http-connect-error',
              provider: { type: 'http', url: 'http://127.0.0.1:1/x?token=${token}', timeout: 5 },
            },
            {
              type: 'action',
              name: 'activity-error',
              provider: { type: 'node', module: './boom.mjs', func: 'boom', arguments: { v: '${token}' } },
            },
            proc('wait-go', ['sh', '-c', 'while [ ! -e "$0" ]; do sleep 0.1; done', go]),
          ],
        }),
      );
      const cli = startCli(
        [
          '--log-format',
          format,
          '--verbose',
          'run',
          file,
          '--journal-path',
          journal,
          '--metrics-port',
          '0',
          '--notify',
          `${sink.url}/hook`,
        ],
        {
          env: {
            ...e2e.env,
            FL_PLANTED_TOKEN: TOKEN,
            OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
            OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          },
        },
      );
      await cli.waitFor(/wait-go/);
      const url = /metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(cli.stderr())?.[1];
      assert.ok(url, cli.stderr());
      const metrics = await (await fetch(url)).text();
      await writeFile(go, '');
      const r = await cli.done;
      const logs = r.stderr + r.stdout;
      const journalText = await readFile(journal, 'utf8');
      const trace = sink.received.filter((x) => x.path === '/v1/traces').map((x) => x.body);
      const hooks = sink.received.filter((x) => x.path === '/hook').map((x) => x.body);
      assert.equal(trace.length, 1, 'the trace was exported');
      assert.ok(hooks.length >= 1, 'the webhook was called');
      const outputs: [string, string][] = [
        ['logs', logs],
        ['journal', journalText],
        ['trace', trace.join('\n')],
        ['webhook', hooks.join('\n')],
        ['metrics', metrics],
      ];
      for (const [name, text] of outputs) {
        for (const form of FORMS)
          assert.ok(!text.includes(form), `${name} carries the secret as ${form}:\n${text}`);
      }
      // The lines that used to leak are there, masked.
      assert.match(logs, /not valid JSON/);
      assert.match(logs, /output-preview' succeeded .*-> \\?"\*\*\*\\?"/);
      assert.match(logs, /bad value \*\*\*/);
      assert.match(logs, /127\.0\.0\.1:1\/x\?token=\*\*\*/);
      const spans = trace[0]!;
      assert.match(spans, /"exception\.message"[^}]*bad value \*\*\*/);
      assert.match(spans, /"faultline\.activity\.reason"[^}]*\*\*\*/);
      const j = JSON.parse(journalText);
      assert.equal(j.steady_states.after.probes[0].output.stdout, '***');
    } finally {
      await sink.close();
    }
  });
}
