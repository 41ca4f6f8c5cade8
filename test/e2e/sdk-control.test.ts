/**
 * A service controlled from an experiment run, through the built CLI: a
 * `faultline proxy` server (the control endpoint), a fixture "checkout"
 * service whose in-process SDK subscribes to it, and `faultline run` /
 * `faultline inject` / `faultline halt` turning an http_error fault on and off.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { SdkControlClient } from '../../src/sdk-control/client.js';
import { type Cli, ROOT, runCli, startCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/home.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let home: Awaited<ReturnType<typeof tempHome>>;
let work: string;
let proxy: Cli;
let controlUrl: string;
let control: SdkControlClient;
let service: { child: ReturnType<typeof spawn>; url: string; mode: string; exited: Promise<unknown> };
let env: NodeJS.ProcessEnv;

async function status(): Promise<number> {
  const r = await fetch(`${service.url}/checkout`, { signal: AbortSignal.timeout(3000) });
  await r.arrayBuffer();
  return r.status;
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

before(async () => {
  home = await tempHome();
  work = await mkdtemp(join(tmpdir(), 'faultline-sdk-e2e-'));
  env = { FAULTLINE_HOME: home.home };
  proxy = startCli(['proxy', '--port', '0'], { env });
  await proxy.waitFor(/API listening on http:\/\/\S+/);
  controlUrl = /API listening on (http:\/\/[^\s,]+)/.exec(proxy.stderr() + proxy.stdout())![1]!;
  control = new SdkControlClient({ url: controlUrl });

  const child = spawn(
    process.execPath,
    [join(ROOT, 'test/fixtures/sdk/service.mjs'), controlUrl, 'checkout'],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise((r) => child.on('exit', r));
  const lines = createInterface({ input: child.stdout! });
  let mode = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the service did not start')), 15_000);
    lines.on('line', (line) => {
      if (line.startsWith('mode ')) mode = line.slice(5);
      if (line.startsWith('listening ')) {
        clearTimeout(t);
        resolve(line.slice(10));
      }
    });
  });
  service = { child, url, mode, exited };
  // Which SDK path the fixture took (the real SDK's subscribe, or the minimal poller).
  console.log(`# fixture service uses: ${mode}`);
});

after(async () => {
  service?.child.stdin?.end();
  service?.child.kill('SIGTERM');
  await service?.exited;
  proxy?.child.kill('SIGTERM');
  await proxy?.done;
  assert.deepEqual(await home.activeFaults(), [], 'no fault left in the ledger');
  await home.cleanup();
  await rm(work, { recursive: true, force: true });
});

const journalOf = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
const activity = (j: { run: { activity: { name: string } }[] }, name: string) =>
  j.run.find((x) => x.activity.name === name) as { status: string; output: unknown } | undefined;

function experiment(name: string, disableAtTheEnd: boolean): Promise<string> {
  const file = join(work, `${name}.yaml`);
  const text = `title: checkout answers 503 while its SDK fails the payments call
description: the in-process SDK of checkout is told, from the run, to fail its outgoing calls
configuration:
  service_url: { type: env, key: SERVICE_URL }
  control_url: { type: env, key: CONTROL_URL }
steady-state-hypothesis:
  title: checkout works
  probes:
    - type: probe
      name: checkout-ok
      tolerance: 200
      provider: { type: http, url: "\${service_url}/checkout", timeout: 3 }
method:
  - type: action
    name: fail-payments-in-checkout
    provider:
      type: faultline
      module: faultline.sdk
      func: enable_fault
      arguments: { service: checkout, api_url: "\${control_url}", type: http_error, status: 503, percentage: 100, duration: 60 }
    pauses: { after: 1 }
  - type: probe
    name: checkout-during-the-fault
    provider: { type: http, url: "\${service_url}/checkout", timeout: 3 }
${
  disableAtTheEnd
    ? `  - type: action
    name: stop-failing
    provider: { type: faultline, module: faultline.sdk, func: disable_fault, arguments: { service: checkout, api_url: "\${control_url}" } }
    pauses: { after: 1 }
`
    : ''
}`;
  return writeFile(file, text).then(() => file);
}

describe('a service controlled from an experiment run', () => {
  test('the service is healthy before anything', async () => {
    assert.equal(await status(), 200);
  });

  test('enable_fault during the method, disable_fault at its end: 503 during, 200 after', async () => {
    const journal = join(work, 'with-disable.json');
    const r = await runCli(['run', await experiment('with-disable', true), '--journal-path', journal], {
      env: { ...env, SERVICE_URL: service.url, CONTROL_URL: controlUrl },
    });
    assert.equal(r.code, 0, r.stderr);
    const j = await journalOf(journal);
    assert.equal(j.status, 'completed');
    assert.equal((activity(j, 'checkout-during-the-fault')!.output as { status: number }).status, 503);
    const enabled = activity(j, 'fail-payments-in-checkout')!.output as {
      fault_id: string;
      targets: unknown[];
    };
    assert.deepEqual(enabled.targets, [
      { type: 'sdk', name: 'checkout', host: '127.0.0.1', port: Number(new URL(controlUrl).port) },
    ]);
    const disabled = activity(j, 'stop-failing')!.output as { reverted: string[] };
    assert.deepEqual(disabled.reverted, [enabled.fault_id]);
    assert.equal(j.steady_states.after.steady_state_met, true, 'checkout works again after disable_fault');
    assert.equal(j.faultline.faults.length, 1);
    assert.equal(j.faultline.faults[0].kind, 'sdk-enable-fault');
    assert.equal(j.faultline.faults[0].verified, true);
    assert.equal(await status(), 200);
    assert.deepEqual((await control.document('checkout')).faults, []);
    assert.deepEqual(await home.activeFaults(), []);
  });

  test('a fault the experiment leaves on is removed when the run ends', async () => {
    const journal = join(work, 'forgot.json');
    const r = await runCli(['run', await experiment('forgot', false), '--journal-path', journal], {
      env: { ...env, SERVICE_URL: service.url, CONTROL_URL: controlUrl },
    });
    // The after-hypothesis runs while the fault is still on (the run deviates); the fault is reverted after it.
    const j = await journalOf(journal);
    assert.equal((activity(j, 'checkout-during-the-fault')!.output as { status: number }).status, 503);
    assert.equal(j.deviated, true, r.stderr);
    assert.equal(j.steady_states.after.steady_state_met, false);
    assert.equal(j.faultline.faults[0].verified, true);
    assert.deepEqual((await control.document('checkout')).faults, [], 'the rule is gone from the endpoint');
    await until(async () => (await status()) === 200, 3000, 'checkout to answer 200 after the run');
    assert.deepEqual(await home.activeFaults(), []);
  });

  test('`faultline inject sdk.enable_fault` then `faultline halt`: the SDK fault is switched off', async () => {
    const injectEnv = { ...env, FAULTLINE_SDK_CONTROL_URL: controlUrl };
    const inject = startCli(
      [
        'inject',
        'sdk.enable_fault',
        'service=checkout',
        'type=http_error',
        'status=503',
        'percentage=100',
        '--duration',
        '2m',
      ],
      { env: injectEnv },
    );
    await until(async () => (await control.document('checkout')).faults.length === 1, 10_000, 'the rule');
    const [rule] = (await control.document('checkout')).faults;
    assert.equal(rule?.status, 503);
    assert.ok(
      Date.parse(rule!.expires_at) - Date.now() <= 15_500,
      'the rule carries the lease, not 2 minutes',
    );
    await until(async () => (await status()) === 503, 3000, 'checkout to answer 503');

    const halt = await runCli(['halt', '--reason', 'sdk e2e'], { env: injectEnv });
    assert.equal(halt.code, 0, halt.stderr);
    assert.deepEqual((await control.document('checkout')).faults, [], 'halt deleted the rule');
    await until(async () => (await status()) === 200, 3000, 'checkout to answer 200 after the halt');
    const done = await inject.done;
    assert.notEqual(done.signal, 'SIGKILL');
    const release = await runCli(['halt', '--release'], { env: injectEnv });
    assert.equal(release.code, 0, release.stderr);
    assert.deepEqual(await home.activeFaults(), []);
  });
});
