/**
 * The engine's one redaction step for RunEvents (issue #13 item 11): secret
 * values masked in every string, raw or URL-encoded, credential-named query
 * values masked, and the activity object a listener saw at activity-start is
 * the one it sees again at activity-end (renderers key on it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ActivityRun } from '../../src/core/journal.js';
import type { Activity } from '../../src/core/schema.js';
import type { RunEvent } from '../../src/engine/events.js';
import { redactEvent } from '../../src/engine/redact.js';

const SECRET = 'p@ss word/+1';
const secrets = { db: { password: SECRET } };

test('secret values are masked raw, percent-encoded and form-encoded; credential query values too', () => {
  const seen = new WeakMap<object, unknown>();
  const message = [
    `raw ${SECRET}`,
    `http://h/x?a=${encodeURIComponent(SECRET)}`,
    `http://h/x?${new URLSearchParams({ a: SECRET })}`,
    'http://h/x?api_key=abc123&page=2&X-Amz-Signature=deadbeef',
  ].join(' | ');
  const e = redactEvent({ type: 'log', level: 'warn', message }, secrets, seen);
  assert.equal(
    (e as { message: string }).message,
    'raw *** | http://h/x?a=*** | http://h/x?a=*** | http://h/x?api_key=***&page=2&X-Amz-Signature=***',
  );
});

test('an event with nothing to mask is passed on as is; an activity keeps one identity per run', () => {
  const seen = new WeakMap<object, unknown>();
  const plain: RunEvent = { type: 'phase', phase: 'method' };
  assert.equal(redactEvent(plain, secrets, seen), plain);
  const activity = {
    type: 'action',
    name: 'a',
    provider: { type: 'http', url: `http://h/?q=${SECRET}` },
  } as Activity;
  const start = redactEvent(
    { type: 'activity-start', phase: 'method', activity, background: false },
    secrets,
    seen,
  );
  const run = { activity, output: `got ${SECRET}`, status: 'succeeded', start: '', end: '', duration: 0 };
  const end = redactEvent({ type: 'activity-end', phase: 'method', run: run as ActivityRun }, secrets, seen);
  assert.ok(start.type === 'activity-start' && end.type === 'activity-end');
  assert.equal(end.run.activity, start.activity, 'the same object at start and end');
  assert.equal((start.activity.provider as { url: string }).url, 'http://h/?q=***');
  assert.equal(end.run.output, 'got ***');
  assert.equal(
    (activity.provider as { url: string }).url,
    `http://h/?q=${SECRET}`,
    'the original is untouched',
  );
});
