/**
 * `faultline agent --workloads FILE` refuses a bad file before it connects
 * anywhere: exit 2, one line per bad field with its line and column, no stack
 * trace. (The built CLI; the NATS URL points nowhere, which is never reached.)
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cliSuite, ROOT, runCli } from '../helpers/cli.js';

describe('faultline agent --workloads', () => {
  const suite = cliSuite('faultline-workloads-cli-');
  const built = existsSync(join(ROOT, 'dist/cli/main.js'));

  test('a bad field: exit 2 naming it with line and column', {
    skip: !built && 'run npm run build',
  }, async () => {
    const file = join(suite.work, 'bad.yaml');
    await writeFile(
      file,
      [
        'workloads:',
        '  - name: api',
        '    namespace: Payment',
        '    ports: [0]',
        '    netns: "a/b"',
        '',
      ].join('\n'),
    );
    const r = await runCli(['agent', '--nats', 'nats://127.0.0.1:1', '--name', 'w1', '--workloads', file], {
      env: suite.env,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /--workloads: workloads file: .*bad\.yaml:3:\d+: workloads\[0\]\.namespace: expected a namespace/,
    );
    assert.match(r.stderr, /bad\.yaml:4:\d+: workloads\[0\]\.ports\[0\]/);
    assert.match(r.stderr, /workloads\[0\]\.netns: expected an `ip netns` name/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  test('a file that does not exist or does not parse: exit 2 naming --workloads', {
    skip: !built && 'run npm run build',
  }, async () => {
    const missing = await runCli(
      ['agent', '--nats', 'nats://127.0.0.1:1', '--name', 'w1', '--workloads', join(suite.work, 'none.yaml')],
      { env: suite.env },
    );
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /--workloads: Workloads file ".*none\.yaml" does not exist/);
    const broken = join(suite.work, 'broken.json');
    await writeFile(broken, '{"workloads": [');
    const r = await runCli(['agent', '--nats', 'nats://127.0.0.1:1', '--name', 'w1', '--workloads', broken], {
      env: suite.env,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--workloads: Cannot parse .*broken\.json/);
  });
});
