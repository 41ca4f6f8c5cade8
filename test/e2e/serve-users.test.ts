/**
 * `faultline serve user|token` and the sign-in rules as users meet them, with
 * the built CLI in child processes: users added with --password-stdin (and on
 * a real terminal, through `script`'s pseudo-terminal, without echo), listed
 * without secrets, refused when the name is taken, the password short or no
 * way to read it; a token printed once on stdout and usable as a bearer
 * token; `serve --host 0.0.0.0` refused (exit 2, saying how) until an admin
 * exists, then listening, reached on 127.0.0.1, answering only with sign-in;
 * `push` refused without $FAULTLINE_TOKEN and accepted with it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BIN, type Cli, cliSuite, runCli, startCli } from '../helpers/cli.js';

const suite = cliSuite('faultline-serve-users-');
const servers = new Set<Cli>();
const db = () => join(suite.work, 'faultline.db');
/** The CI token `token add` printed, for the server test after it. */
let ciToken = '';

after(async () => {
  for (const s of servers) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    await s.done;
  }
});

const cli = (args: string[], input?: string) =>
  runCli(args, { env: suite.env, ...(input !== undefined ? { input } : {}) });

function noStack(text: string): void {
  assert.doesNotMatch(text, /\bat .+\.js:\d+/);
}

async function stop(server: Cli): Promise<number | null> {
  server.child.kill('SIGTERM');
  const r = await server.done;
  servers.delete(server);
  return r.code;
}

describe('faultline serve user / token (built CLI)', () => {
  test('serve --host 0.0.0.0 is refused while there is no admin, saying how to make one', async () => {
    const r = await cli(['serve', '--host', '0.0.0.0', '--port', '0', '--database', db()]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /--host 0\.0\.0\.0: .*no admin user yet.*faultline serve user add NAME --role admin/,
    );
    assert.doesNotMatch(r.stderr, /listening on/);
    noStack(r.stderr);
  });

  test('user add reads the password from stdin, never from a flag; list shows no secret', async () => {
    const add = await cli(
      ['serve', 'user', 'add', 'alice', '--role', 'admin', '--password-stdin', '--database', db()],
      'alice-password-1\n',
    );
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stderr, /user alice added \(admin\)/);
    assert.doesNotMatch(add.stdout + add.stderr, /alice-password-1/);
    // --database before the subcommand works too (commander gives it to `serve`).
    const op = await cli(
      ['serve', '--database', db(), 'user', 'add', 'olga', '--role', 'operator', '--password-stdin'],
      'olga-password-1',
    );
    assert.equal(op.code, 0, op.stderr);

    const flag = await cli([
      'serve',
      'user',
      'add',
      'bob',
      '--role',
      'viewer',
      '--password',
      'x',
      '--database',
      db(),
    ]);
    assert.equal(flag.code, 2, 'there is no --password flag');
    const taken = await cli(
      ['serve', 'user', 'add', 'alice', '--role', 'viewer', '--password-stdin', '--database', db()],
      'another-password',
    );
    assert.equal(taken.code, 2);
    assert.match(taken.stderr, /NAME 'alice': a user with that name exists/);
    const short = await cli(
      ['serve', 'user', 'add', 'carl', '--role', 'viewer', '--password-stdin', '--database', db()],
      'short\n',
    );
    assert.equal(short.code, 2);
    assert.match(short.stderr, /--password-stdin: expected a password of at least 8 characters/);
    const noTty = await cli(['serve', 'user', 'add', 'dora', '--role', 'viewer', '--database', db()], '');
    assert.equal(noTty.code, 2);
    assert.match(noTty.stderr, /stdin is not a terminal.*--password-stdin/);
    const badRole = await cli([
      'serve',
      'user',
      'add',
      'eve',
      '--role',
      'root',
      '--password-stdin',
      '--database',
      db(),
    ]);
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /--role.*viewer, operator, approver, admin/);
    const badName = await cli(
      ['serve', 'user', 'add', 'local', '--role', 'viewer', '--password-stdin', '--database', db()],
      'long-enough-password',
    );
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /NAME 'local'/);
    for (const r of [flag, taken, short, noTty, badRole, badName]) noStack(r.stderr);

    const list = await cli(['serve', 'user', 'list', '--database', db()]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+ROLE\s+CREATED\s+STATE$/m);
    assert.match(list.stdout, /^alice\s+admin\s+\S+\s+enabled$/m);
    assert.match(list.stdout, /^olga\s+operator\s+/m);
    assert.doesNotMatch(list.stdout, /scrypt|password/);
    const json = await cli(['serve', 'user', 'list', '--json', '--database', db()]);
    assert.deepEqual(
      JSON.parse(json.stdout).map((u: { name: string }) => u.name),
      ['alice', 'olga'],
    );
  });

  test('user add on a terminal asks twice without echoing', async (t) => {
    const script = (() => {
      try {
        execFileSync('script', ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    })();
    if (!script) {
      t.skip('util-linux `script` (a pseudo-terminal) is not installed');
      return;
    }
    const command = [
      process.execPath,
      BIN,
      'serve',
      'user',
      'add',
      'tty-user',
      '--role',
      'viewer',
      '--database',
      db(),
    ]
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
      .join(' ');
    // The pseudo-terminal reads what `script` gets on stdin; the two answers arrive as typed lines.
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], {
        env: { ...process.env, ...suite.env, NO_COLOR: '1' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let sent = 0;
      const onData = (d: Buffer) => {
        out += d.toString();
        const prompts = (out.match(/password for tty-user: |the same password again: /g) ?? []).length;
        while (sent < prompts) {
          child.stdin.write('tty-password-1\r');
          sent++;
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('close', (code) => resolve({ code, out }));
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /password for tty-user: /);
    assert.match(r.out, /user tty-user added \(viewer\)/);
    assert.doesNotMatch(r.out, /tty-password-1/, 'the password is not echoed');
  });

  test('token add prints the token once on stdout; list shows its name, never it', async () => {
    const add = await cli(['serve', 'token', 'add', 'ci', '--role', 'operator', '--database', db()]);
    assert.equal(add.code, 0, add.stderr);
    const token = add.stdout.trim();
    assert.match(token, /^flt_[A-Za-z0-9_-]{43}$/);
    assert.match(add.stderr, /token ci \(operator, owner local\) added .*shown this once/);
    assert.doesNotMatch(add.stderr, /flt_/);
    const owned = await cli([
      'serve',
      'token',
      'add',
      'olga-ci',
      '--role',
      'admin',
      '--owner',
      'olga',
      '--database',
      db(),
    ]);
    assert.equal(owned.code, 0, owned.stderr);
    const noOwner = await cli([
      'serve',
      'token',
      'add',
      'x',
      '--role',
      'viewer',
      '--owner',
      'ghost',
      '--database',
      db(),
    ]);
    assert.equal(noOwner.code, 2);
    assert.match(noOwner.stderr, /--owner ghost: no such user/);
    const list = await cli(['serve', 'token', 'list', '--database', db()]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ci\s+operator\s+local\s+/m);
    assert.match(list.stdout, /^olga-ci\s+admin\s+olga\s+/m);
    assert.ok(!list.stdout.includes(token));
    assert.doesNotMatch(list.stdout, /flt_/);
    ciToken = token;
  });

  test('with an admin, serve --host 0.0.0.0 listens; on 127.0.0.1 only sign-in and tokens get in', async () => {
    const server = startCli(['serve', '--host', '0.0.0.0', '--port', '0', '--database', db()], {
      env: suite.env,
    });
    servers.add(server);
    await server.waitFor(/listening on http:\/\/0\.0\.0\.0:\d+/, 60_000);
    const port = /listening on http:\/\/0\.0\.0\.0:(\d+)/.exec(server.stderr() + server.stdout())?.[1];
    const url = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${url}/api/health`)).status, 200);
    const anon = await fetch(`${url}/api/experiments`);
    assert.equal(anon.status, 401);
    const token = ciToken;
    const who = await fetch(`${url}/api/session`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(who.status, 200);
    assert.deepEqual(await who.json(), { actor: 'token:ci', role: 'operator', kind: 'token' });
    const signIn = await fetch(`${url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'alice', password: 'alice-password-1' }),
    });
    assert.equal(signIn.status, 200);
    const cookie = /faultline_session=[^;]+/.exec(signIn.headers.get('set-cookie') ?? '')?.[0] as string;
    const { csrfToken } = (await signIn.json()) as { csrfToken: string };
    const users = await fetch(`${url}/api/users`, { headers: { cookie } });
    assert.equal(users.status, 200);
    const made = await fetch(`${url}/api/tokens`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'from-api', role: 'viewer' }),
    });
    assert.equal(made.status, 201);
    const audit = (await (await fetch(`${url}/api/audit`, { headers: { cookie } })).json()) as {
      actor: string;
      action: string;
      subject?: string;
    }[];
    const has = (actor: string, action: string, subject: string) =>
      audit.some((e) => e.actor === actor && e.action === action && e.subject === subject);
    assert.ok(has('local', 'user.create', 'alice'), 'the CLI audits the users it adds');
    assert.ok(has('local', 'token.create', 'ci'));
    assert.ok(has('alice', 'session.sign_in', 'alice'));
    assert.ok(has('alice', 'token.create', 'from-api'));
    // `push` (and `run --server`) send $FAULTLINE_TOKEN as a bearer token; without it they are refused.
    const journal = fileURLToPath(new URL('../fixtures/report/quickstart.json', import.meta.url));
    const refused = await runCli(['push', journal, '--server', url], { env: suite.env });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /answered 401/);
    const pushed = await runCli(['push', journal, '--server', url], {
      env: { ...suite.env, FAULTLINE_TOKEN: token },
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stderr, /pushed to .*\(passed\)/);
    assert.ok(!pushed.stderr.includes(token), 'the token is not printed');
    const runs = (await (await fetch(`${url}/api/runs`, { headers: { cookie } })).json()) as {
      runs: { requestedBy: string; origin: string }[];
    };
    assert.ok(runs.runs.some((r) => r.origin === 'push' && r.requestedBy === 'token:ci'));
    assert.equal(await stop(server), 0);
    const out = server.stderr() + server.stdout();
    for (const secret of [
      'alice-password-1',
      'olga-password-1',
      token,
      csrfToken,
      cookie.split('=')[1] as string,
    ])
      assert.ok(!out.includes(secret), "no secret in the server's output");
  });
});
