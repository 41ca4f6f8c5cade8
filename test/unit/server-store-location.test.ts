/**
 * `--database` parsing and password redaction (src/server/db/location.ts), the listRuns cursor
 * (cursor.ts) and run ids (ids.ts): pure, no database.
 */
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import { decodeCursor, encodeCursor } from '../../src/server/db/cursor.js';
import { scrub } from '../../src/server/db/errors.js';
import { newRunKey } from '../../src/server/db/ids.js';
import { describeLocation, parseDatabase, redactUrl } from '../../src/server/db/location.js';
import { RunSchema } from '../../src/server/store.js';

const HOME = '/home/ana/.faultline';

function usageError(fn: () => unknown, pattern: RegExp, secret?: string): void {
  assert.throws(fn, (err: FaultlineError) => {
    assert.ok(err instanceof FaultlineError);
    assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
    assert.equal(err.exitCode, 2);
    assert.match(err.message, pattern);
    if (secret) assert.ok(!err.message.includes(secret), err.message);
    return true;
  });
}

describe('parseDatabase', () => {
  test('the default is faultline.db in the home', () => {
    const loc = parseDatabase(undefined, HOME);
    assert.deepEqual(loc, { kind: 'sqlite', path: join(HOME, 'faultline.db'), inHome: true });
    assert.equal(describeLocation(loc), `sqlite ${HOME}/faultline.db`);
    assert.deepEqual(parseDatabase('', HOME), loc);
  });

  test('SQLite: a plain path (relative to the working directory) or sqlite:///absolute', () => {
    assert.deepEqual(parseDatabase('/srv/f.db', HOME), { kind: 'sqlite', path: '/srv/f.db', inHome: false });
    assert.deepEqual(parseDatabase('data/f.db', HOME), {
      kind: 'sqlite',
      path: resolve('data/f.db'),
      inHome: false,
    });
    assert.deepEqual(parseDatabase('sqlite:///srv/my%20db.db', HOME), {
      kind: 'sqlite',
      path: '/srv/my db.db',
      inHome: false,
    });
    usageError(
      () => parseDatabase('sqlite://relative.db', HOME),
      /^--database: .*not an absolute path; expected sqlite:\/\/\/absolute/,
    );
    usageError(() => parseDatabase('sqlite:///bad%zz', HOME), /^--database: .*malformed %-escape/);
  });

  test('PostgreSQL: the URL kept whole, described without its password', () => {
    const loc = parseDatabase('postgres://app:s3cret@db.example:5433/faultline?sslmode=require', HOME);
    assert.equal(loc.kind, 'postgres');
    assert.ok(loc.kind === 'postgres');
    assert.equal(loc.url, 'postgres://app:s3cret@db.example:5433/faultline?sslmode=require');
    assert.equal(loc.password, 's3cret');
    assert.equal(loc.redacted, 'postgres://app@db.example:5433/faultline?sslmode=require');
    assert.equal(describeLocation(loc), 'postgres postgres://app@db.example:5433/faultline?sslmode=require');
    const q = parseDatabase('postgresql://app@db/f?password=pw%21', HOME);
    assert.ok(q.kind === 'postgres');
    assert.equal(q.password, 'pw!');
    assert.ok(!q.redacted.includes('pw'), q.redacted);
    const enc = parseDatabase('postgres://app:p%40ss@db/f', HOME);
    assert.ok(enc.kind === 'postgres');
    assert.equal(enc.password, 'p@ss');
    assert.equal(enc.redacted, 'postgres://app@db/f');
    assert.equal((parseDatabase('postgres://app@db/f', HOME) as { password?: string }).password, undefined);
  });

  test('what it cannot be: exit 2, the flag named, no password', () => {
    usageError(
      () => parseDatabase('mysql://root:hunter2@db/x', HOME),
      /^--database: mysql:\/\/root@db\/x is not supported; expected/,
      'hunter2',
    );
    usageError(
      () => parseDatabase('postgres://u:hunter2@/x', HOME),
      /^--database: postgres:\/\/u@\/x is not a valid URL; expected postgres:\/\/user\[:password\]@host/,
      'hunter2',
    );
    usageError(
      () => parseDatabase('postgres://u:hunter2@[bad/x', HOME),
      /^--database: .*not a valid URL/,
      'hunter2',
    );
  });
});

test('redactUrl: userinfo passwords and password parameters, even in text that is not a URL', () => {
  assert.equal(redactUrl('postgres://u:p@h:1/d'), 'postgres://u@h:1/d');
  assert.equal(redactUrl('postgres://u@h/d'), 'postgres://u@h/d');
  assert.equal(redactUrl('postgres://h/d?password=x&a=1'), 'postgres://h/d?password=***&a=1');
  assert.equal(redactUrl('postgres://u:hunter2@[bad/x'), 'postgres://u@[bad/x');
  assert.equal(scrub('failed: password hunter2 for p%40ss', 'hunter2'), 'failed: password *** for p%40ss');
  assert.equal(scrub('for p%40ss', 'p@ss'), 'for ***');
});

describe('cursor', () => {
  test('round trip, opaque (base64url)', () => {
    const key = { requestedAt: '2026-12-07T01:57:05.363Z', id: '0190a5d0-ac96-7abc-8def-0123456789ab' };
    const c = encodeCursor(key);
    assert.match(c, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeCursor(c), key);
  });

  test('anything else is refused naming `cursor`', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const bad of [
      '',
      'not a cursor',
      'abc+/=',
      b64({ requestedAt: 'x', id: 'y' }),
      b64([2, '2026-12-07T01:57:05.363Z', 'id']),
      b64([1, 'not a date', 'id']),
      b64([1, '2026-12-07T01:57:05.363Z', 5]),
      b64([1, '2026-12-07T01:57:05.363Z']),
      'A'.repeat(501),
      Buffer.from('{').toString('base64url'),
    ]) {
      assert.throws(
        () => decodeCursor(bad),
        (err: FaultlineError) => {
          assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
          assert.equal(err.message, 'cursor: expected the `next` value of a previous page, unchanged');
          return true;
        },
        bad,
      );
    }
  });
});

test('run ids: UUIDv7 the schema accepts, in creation order, requestedAt from the same clock reading', () => {
  const keys = Array.from({ length: 5000 }, () => newRunKey());
  for (const k of keys) {
    assert.match(k.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(RunSchema.shape.id.safeParse(k.id).success, true);
    assert.equal(parseInt(k.id.replace(/-/g, '').slice(0, 12), 16), Date.parse(k.requestedAt));
  }
  for (let i = 1; i < keys.length; i++) {
    const [a, b] = [keys[i - 1], keys[i]] as [(typeof keys)[0], (typeof keys)[0]];
    assert.ok(
      a.requestedAt < b.requestedAt || (a.requestedAt === b.requestedAt && a.id < b.id),
      `${a.id} before ${b.id}`,
    );
  }
  assert.equal(new Set(keys.map((k) => k.id)).size, keys.length);
});
