/**
 * A long-lived spawn helper for the `process` provider (issue #14 item 3).
 *
 * Node 20's child_process.spawn forks the whole Node process, which costs
 * 7-15 ms a spawn (bench/spawn-cost.mjs), more the more memory Node holds; a
 * small Perl process forking each command costs about half of that on a
 * loaded two-core VM, and does not grow with Faultline. One helper per Faultline
 * process is started at the first `process` activity and runs every command
 * of the run; Perl because perl-base is Essential on Debian and Ubuntu and
 * its core modules (POSIX, IO::Select, Fcntl) are all this needs.
 *
 * The script is the constant HELPER_SCRIPT, passed with `perl -e`: nothing
 * of a command is ever part of code. Commands are data on the helper's stdin,
 * length-prefixed and binary-safe (all integers big-endian u32):
 *   request  = len, 'R', id, file, cwd, env, argv...
 *              (each string: len, bytes; env: the strings key, value, key, ...)
 *   forget   = len, 'C', id   (stop reading the command's pipes: a timeout or
 *              an abort, after the provider killed the process group)
 * Responses on its stdout: type (1 byte), id, len, payload:
 *   'H' the helper is ready; 'P' started, pid; 'F' cannot start (exec or
 *   chdir failed), errno;
 *   'O' / 'E' a chunk of stdout / stderr;
 *   'X' exited: kind (1 byte: 0 exit code, 1 signal), number. Sent only once
 *       the child was reaped AND both its pipes reached EOF: Node's 'close'.
 * The child is what `spawn(file, argv, {detached: true, stdio: ['ignore',
 * 'pipe', 'pipe']})` makes: its own session and process group (setsid), stdin
 * /dev/null, default signal dispositions and an empty signal mask, the env and
 * cwd of the Node process at the time of the call, argv[0] the file.
 *
 * The helper exits when its stdin reaches EOF, that is when Faultline exits
 * however it exits; Node's handles on it are unref'd while no command runs,
 * so it never keeps Faultline alive. Commands still running then go on in
 * their own process groups, as with spawn.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { ActivityFailed } from '../core/errors.js';

/** The tag in the helper's command line: tests look for it in /proc/<pid>/cmdline. */
export const HELPER_TAG = 'faultline-spawn-helper';
const PERL = '/usr/bin/perl';

// Perl, run with `perl -e HELPER_SCRIPT faultline-spawn-helper`. No `warnings`:
// a failed exec must not print into the child's stderr.
const HELPER_SCRIPT = String.raw`
use strict;
use POSIX ();
use IO::Select;
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
my $chld = 0;
$SIG{CHLD} = sub { $chld = 1 };
binmode STDIN; binmode STDOUT;
# Non-blocking stdin: should select ever wake it for nothing, the read
# returns instead of stalling every command's output.
fcntl(STDIN, F_SETFL, fcntl(STDIN, F_GETFL, 0) | O_NONBLOCK);
my $sel = IO::Select->new(\*STDIN);
my (%req, %byfd, %bypid);
my $in = '';
my $waiting = 0;
my $lastenv = '';
open(my $nullfh, '<', '/dev/null') or die "/dev/null: $!";
my $null = fileno $nullfh;

sub put {
  my ($t, $id, $data) = @_;
  my $f = pack('a N N', $t, $id, length $data) . $data;
  my $off = 0;
  while ($off < length $f) {
    my $n = syswrite(STDOUT, $f, length($f) - $off, $off);
    if (!defined $n) { next if $!{EINTR} || $!{EAGAIN}; exit 0; }
    $off += $n;
  }
}

sub done {
  my $id = shift;
  my $r = $req{$id};
  return unless $r;
  $waiting = 1 if $r->{open} == 0 && !defined $r->{status};
  return if !defined $r->{status} || $r->{open} > 0;
  delete $req{$id};
  return if $r->{forgotten};
  my $st = $r->{status};
  put('X', $id, ($st & 127) ? pack('C N', 1, $st & 127) : pack('C N', 0, $st >> 8));
}

sub reap {
  $chld = 0;
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $st = $?;
    my $id = delete $bypid{$pid};
    next unless defined $id && $req{$id};
    $req{$id}{status} = $st;
    done($id);
  }
}

sub shut {
  my ($r, $fh) = @_;
  $sel->remove($fh);
  delete $byfd{fileno $fh};
  close $fh;
  $r->{open}--;
}

sub start {
  my ($id, $file, $cwd, $envs, @argv) = unpack('N (N/a*)*', $_[0]);
  # The env and cwd are set in the helper itself, before the fork: the child
  # then runs almost no Perl between fork and exec (copy-on-write faults in a
  # child that runs the interpreter cost milliseconds). The helper uses
  # neither. Perl resets the signal mask in the child; handlers are reset by
  # exec and the helper ignores no signal.
  if ($envs ne $lastenv) { %ENV = unpack('(N/a*)*', $envs); $lastenv = $envs; }
  if (!chdir $cwd) { put('F', $id, pack('N', $! + 0)); return; }
  my ($or, $ow, $er, $ew, $xr, $xw);
  if (!pipe($or, $ow) || !pipe($er, $ew) || !pipe($xr, $xw)) { put('F', $id, pack('N', $! + 0)); return; }
  my $pid = fork;
  if (!defined $pid) { put('F', $id, pack('N', $! + 0)); return; }
  if ($pid == 0) {
    POSIX::setsid();
    if (defined POSIX::dup2($null, 0) && defined POSIX::dup2(fileno $ow, 1) && defined POSIX::dup2(fileno $ew, 2)) {
      exec { $file } $file, @argv;
    }
    syswrite($xw, pack('N', $! + 0));
    POSIX::_exit(127);
  }
  close $ow; close $ew; close $xw;
  # The exec-status pipe is close-on-exec: EOF means the exec worked.
  my $buf = '';
  while (length $buf < 4) {
    my $n = sysread($xr, $buf, 4 - length $buf, length $buf);
    if (!defined $n) { next if $!{EINTR}; last; }
    last if $n == 0;
  }
  close $xr;
  if (length $buf == 4) {
    waitpid($pid, 0);
    close $or; close $er;
    put('F', $id, $buf);
    return;
  }
  my $r = { open => 2, status => undef };
  $req{$id} = $r;
  $bypid{$pid} = $id;
  for my $p ([$or, 'O'], [$er, 'E']) {
    my $fh = $p->[0];
    fcntl($fh, F_SETFL, fcntl($fh, F_GETFL, 0) | O_NONBLOCK);
    $byfd{fileno $fh} = [$id, $p->[1], $fh];
    $sel->add($fh);
  }
  $r->{fhs} = [$or, $er];
  put('P', $id, pack('N', $pid));
}

sub forget {
  my $id = shift;
  my $r = $req{$id} or return;
  $r->{forgotten} = 1;
  for my $fh (@{ $r->{fhs} }) { shut($r, $fh) if defined fileno($fh) && $byfd{fileno $fh} }
  done($id);
}

put('H', 0, '');
for (;;) {
  reap();
  # A child whose pipes are closed is reported when it is reaped: poll in
  # case its SIGCHLD came just before select (Perl runs handlers between ops).
  my @ready = $sel->can_read($waiting ? 0.005 : undef);
  $waiting = 0;
  for my $fh (@ready) {
    # A handle closed earlier in this round (a forget) has no fileno.
    my $fd = fileno $fh;
    next unless defined $fd;
    if ($fd == 0) {
      my $n = sysread(STDIN, $in, 65536, length $in);
      if (!defined $n) { next if $!{EINTR} || $!{EAGAIN}; exit 0; }
      exit 0 if $n == 0;
      while (length $in >= 4) {
        my $len = unpack('N', $in);
        last if length $in < 4 + $len;
        my $p = substr($in, 4, $len);
        substr($in, 0, 4 + $len, '');
        my $t = substr($p, 0, 1, '');
        if ($t eq 'R') { start($p) } elsif ($t eq 'C') { forget(unpack('N', $p)) }
      }
      next;
    }
    my $e = $byfd{$fd} or next;
    my ($id, $t, $h) = @$e;
    my $buf;
    my $n = sysread($h, $buf, 65536);
    if (!defined $n) { next if $!{EAGAIN} || $!{EINTR}; $n = 0; }
    if ($n > 0) { put($t, $id, $buf); next; }
    shut($req{$id}, $h);
    done($id);
  }
  for my $r (values %req) { $waiting = 1 if $r->{open} == 0 && !defined $r->{status} }
}
`;

/** What the child is run with: the same as `spawn(file, argv)` would use. */
export interface SpawnRequest {
  file: string;
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Callbacks for one command; after error or exit, nothing more is called. */
export interface SpawnHandlers {
  started(pid: number): void;
  /** The command could not start: the error spawn's 'error' event would carry. */
  error(err: NodeJS.ErrnoException): void;
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
  /** The child exited and both pipes reached EOF: a code, or the signal's number. */
  exit(code: number | null, signal: number | null): void;
  /** The helper died while this command ran. */
  lost(err: ActivityFailed): void;
}

/** One command on the helper. */
export interface SpawnJob {
  /** Stops reading the command's output and calling its handlers (after a kill). */
  forget(): void;
}

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, n]) => [n, name] as [number, string]),
);

/** The error Node's spawn gives for a failed exec, e.g. "spawn /bin/x EACCES". */
function spawnError(file: string, argv: readonly string[], errno: number): NodeJS.ErrnoException {
  const code = errnoNames.get(errno) ?? `Unknown system error ${errno}`;
  return Object.assign(new Error(`spawn ${file} ${code}`), {
    errno: -errno,
    code,
    syscall: `spawn ${file}`,
    path: file,
    spawnargs: [...argv],
  });
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

/** The request frame, or undefined when a string holds a NUL (spawn itself rejects those). */
function encodeRequest(id: number, req: SpawnRequest): Buffer | undefined {
  const env: Buffer[] = [];
  for (const [key, value] of Object.entries(req.env)) {
    if (value === undefined) continue;
    if (!str(env, key) || !str(env, value)) return undefined;
  }
  const parts: Buffer[] = [Buffer.from('R'), u32(id)];
  if (!str(parts, req.file) || !str(parts, req.cwd)) return undefined;
  const envBlob = Buffer.concat(env);
  parts.push(u32(envBlob.length), envBlob);
  for (const arg of req.argv) if (!str(parts, arg)) return undefined;
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(body.length), body]);
}

/** Appends a length-prefixed UTF-8 string (as spawn encodes it); false for a NUL. */
function str(parts: Buffer[], s: string): boolean {
  if (s.includes('\0')) return false;
  const b = Buffer.from(s, 'utf8');
  parts.push(u32(b.length), b);
  return true;
}

interface Job {
  handlers: SpawnHandlers;
  file: string;
  argv: readonly string[];
  pid?: number;
}

/** A running helper. Get one with {@link spawnHelper}. */
export class SpawnHelper {
  readonly #child: ChildProcess;
  readonly #jobs = new Map<number, Job>();
  #nextId = 1;
  #buf: Buffer = Buffer.alloc(0);
  #stderr = '';
  #dead = false;
  readonly ready: Promise<boolean>;

  constructor() {
    // An empty env: PERL5OPT or PERL5LIB must not load code into the helper.
    // Its own session, so that a Ctrl-C on the terminal reaches Faultline only
    // (the run aborts and kills its commands itself), as for spawned commands.
    this.#child = spawn(PERL, ['-e', HELPER_SCRIPT, HELPER_TAG], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {},
      detached: true,
    });
    let readyResolve: (ok: boolean) => void = () => {};
    this.ready = new Promise((resolve) => {
      readyResolve = resolve;
    });
    const child = this.#child;
    child.stdin?.on('error', () => {}); // EPIPE when it died: reported by 'close'
    child.stderr?.on('data', (b: Buffer) => {
      this.#stderr = (this.#stderr + b.toString('utf8')).slice(-2000);
    });
    child.stdout?.on('data', (b: Buffer) => this.#onData(b, readyResolve));
    child.on('error', () => this.#die('could not start', readyResolve));
    child.on('close', (code, signal) =>
      this.#die(signal ? `was killed by ${signal}` : `exited with code ${code}`, readyResolve),
    );
    // Referenced until it is ready: the first activity waits for that.
    void this.ready.then(() => {
      if (this.#jobs.size === 0) this.#setRef(false);
    });
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** The helper's pid (tests kill it to check that its commands fail clearly). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  // Referenced only while commands run, so an idle helper never keeps Faultline alive.
  #setRef(on: boolean): void {
    // The process handle too: its exit, when it dies mid-command, must still be seen.
    if (on) this.#child.ref();
    else this.#child.unref();
    for (const s of [this.#child.stdin, this.#child.stdout, this.#child.stderr]) {
      const socket = s as Socket | null;
      if (on) socket?.ref?.();
      else socket?.unref?.();
    }
  }

  #onData(chunk: Buffer, readyResolve: (ok: boolean) => void): void {
    let buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    while (buf.length >= 9) {
      const len = buf.readUInt32BE(5);
      if (buf.length < 9 + len) break;
      const type = String.fromCharCode(buf[0] ?? 0);
      const id = buf.readUInt32BE(1);
      const payload = buf.subarray(9, 9 + len);
      buf = buf.subarray(9 + len);
      if (type === 'H') readyResolve(true);
      else this.#frame(type, id, payload);
    }
    this.#buf = buf;
  }

  #frame(type: string, id: number, payload: Buffer): void {
    const job = this.#jobs.get(id);
    if (!job) return; // forgotten
    const h = job.handlers;
    switch (type) {
      case 'P':
        job.pid = payload.readUInt32BE(0);
        h.started(job.pid);
        break;
      case 'O':
        h.stdout(payload);
        break;
      case 'E':
        h.stderr(payload);
        break;
      case 'F':
        this.#end(id);
        h.error(spawnError(job.file, job.argv, payload.readUInt32BE(0)));
        break;
      case 'X': {
        this.#end(id);
        const n = payload.readUInt32BE(1);
        if (payload[0] === 1) h.exit(null, n);
        else h.exit(n, null);
        break;
      }
    }
  }

  #end(id: number): void {
    this.#jobs.delete(id);
    if (this.#jobs.size === 0) this.#setRef(false);
  }

  #die(why: string, readyResolve: (ok: boolean) => void): void {
    if (this.#dead) return;
    this.#dead = true;
    readyResolve(false);
    if (current === this) current = undefined;
    const detail = this.#stderr.trim() ? `: ${this.#stderr.trim()}` : '';
    const jobs = [...this.#jobs.values()];
    this.#jobs.clear();
    this.#setRef(false);
    for (const job of jobs) {
      job.handlers.lost(
        new ActivityFailed(
          `process activity failed: the spawn helper (${PERL}, pid ${this.#child.pid}) ${why} while '${job.file}' ran${detail}`,
        ),
      );
    }
  }

  /**
   * Runs one command; undefined when the helper cannot take it (it died, or a
   * string holds a NUL byte): the caller then uses child_process.spawn.
   */
  spawn(req: SpawnRequest, handlers: SpawnHandlers): SpawnJob | undefined {
    if (this.#dead) return undefined;
    const id = this.#nextId++;
    const frame = encodeRequest(id, req);
    if (!frame) return undefined;
    const job: Job = { handlers, file: req.file, argv: req.argv };
    this.#jobs.set(id, job);
    if (this.#jobs.size === 1) this.#setRef(true);
    this.#child.stdin?.write(frame);
    return {
      forget: () => {
        if (!this.#jobs.has(id)) return;
        this.#end(id);
        if (!this.#dead) this.#child.stdin?.write(Buffer.concat([u32(5), Buffer.from('C'), u32(id)]));
      },
    };
  }
}

let current: SpawnHelper | undefined;
let unavailable = false;

/**
 * The running helper, started on first use; undefined when commands should
 * go through child_process.spawn: FAULTLINE_SPAWN_HELPER=0, no /usr/bin/perl,
 * or a helper that could not start (then not tried again in this process).
 * A helper that died after it started is replaced at the next call.
 */
export async function spawnHelper(env: NodeJS.ProcessEnv = process.env): Promise<SpawnHelper | undefined> {
  if (env.FAULTLINE_SPAWN_HELPER === '0' || unavailable) return undefined;
  if (!current) {
    try {
      accessSync(PERL, constants.X_OK);
    } catch {
      unavailable = true;
      return undefined;
    }
    current = new SpawnHelper();
  }
  const helper = current;
  if (await helper.ready) return helper;
  // It died before it said it was ready: Perl or one of its modules is missing.
  unavailable = true;
  return undefined;
}
