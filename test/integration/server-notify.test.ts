/**
 * The control plane's notifications (server/notify.ts) against a real HTTP receiver: the settings
 * file's webhooks get the server's events they ask for, Slack-compatible, with the facts; a receiver
 * that refuses or is gone is reported naming its host only (the URL is a credential), and nothing throws.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ServerNotifier, serverNotificationBody } from '../../src/server/notify.js';
import { tempHome } from '../helpers/home.js';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

let receiver: Server;
let base: string;
const received: Received[] = [];
let home: Awaited<ReturnType<typeof tempHome>>;

before(async () => {
  home = await tempHome();
  receiver = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(text) });
      res.statusCode = req.url?.startsWith('/refuse') ? 403 : 200;
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((r) => receiver.close(() => r()));
  await home.cleanup();
});

test('the body is Slack-compatible text with the facts under faultline', () => {
  const body = serverNotificationBody('schedule.fired', 'schedule *nightly* fired', { schedule: 'nightly' });
  assert.match(String(body.text), /^:alarm_clock: schedule \*nightly\* fired$/);
  assert.deepEqual(body.faultline, { event: 'schedule.fired', schedule: 'nightly' });
});

test("the settings file's webhooks get the events they ask for, and failures name the host only", async () => {
  const secretPath = '/refuse/T000/B000/secret-token';
  await writeFile(
    join(home.home, 'settings.yaml'),
    [
      'notifications:',
      `  - url: ${base}/all`,
      `  - url: ${base}/approvals`,
      '    events: [approval.requested, approval.granted]',
      '    headers: { authorization: Bearer abc }',
      `  - url: ${base}${secretPath}`,
      '    events: [gameday.ended]',
      '  - url: http://127.0.0.1:1/gone',
      '    events: [gameday.ended]',
    ].join('\n'),
  );
  const problems: string[] = [];
  const notifier = new ServerNotifier({ home: home.home, onProblem: (m) => problems.push(m) });
  notifier.notify('approval.requested', 'approval requested for *checkout* v3', { experiment: 'checkout' });
  notifier.notify('schedule.skipped', 'schedule *nightly* skipped: blackout', { schedule: 'nightly' });
  notifier.notify('gameday.ended', 'game day *failover* ended', { gameday: 'g1' });
  await notifier.flush();

  const paths = received.map((r) => `${r.path} ${r.body.faultline.event}`).sort();
  assert.deepEqual(
    paths.filter((p) => !p.startsWith('/refuse')),
    [
      '/all approval.requested',
      '/all gameday.ended',
      '/all schedule.skipped',
      '/approvals approval.requested',
    ].sort(),
  );
  const approval = received.find((r) => r.path === '/approvals');
  assert.equal(approval?.headers.authorization, 'Bearer abc');
  assert.equal(approval?.body.faultline.experiment, 'checkout');
  assert.match(approval?.body.text, /approval requested/);

  // The refusal (no retry for a 4xx) and the unreachable receiver are reported, by host, never by URL.
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.ok(
    problems.some((p) => /gameday\.ended: notification to 127\.0\.0\.1:\d+ was refused: HTTP 403/.test(p)),
  );
  assert.ok(problems.some((p) => /gameday\.ended: could not notify 127\.0\.0\.1:1/.test(p)));
  for (const p of problems) assert.ok(!p.includes('secret-token') && !p.includes('/gone'), p);
});

test('an unreadable settings file is reported, and nothing is sent or thrown', async () => {
  const h = await tempHome();
  try {
    await writeFile(join(h.home, 'settings.yaml'), 'notifications: [ { url: not-a-url } ]\n');
    const problems: string[] = [];
    const notifier = new ServerNotifier({ home: h.home, onProblem: (m) => problems.push(m) });
    const before = received.length;
    notifier.notify('blackout.opened', 'blackout *freeze* opened');
    await notifier.flush();
    assert.equal(received.length, before);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /notifications: cannot read the settings file: .*url/);
  } finally {
    await h.cleanup();
  }
});
