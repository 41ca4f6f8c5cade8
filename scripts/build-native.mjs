#!/usr/bin/env node
// Builds native/spawn.c (a fork-free process start for the `process` provider) into
// dist/native/spawn.node with the machine's C compiler and Node's own headers. Optional: without Linux,
// a compiler or the headers it says why and exits 0, and the provider starts processes with
// child_process.spawn as before (src/providers/spawn-native.ts). N-API, so one build serves every
// Node version from 20 on. node-gyp is not used: it would fetch headers from the network.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'native', 'spawn.node');
const skip = (why) => {
  process.stdout.write(`build-native: not built (${why}); processes start through child_process.spawn\n`);
  process.exit(0);
};

rmSync(OUT, { force: true });
if (process.platform !== 'linux') skip(`posix_spawn fast path is for Linux, this is ${process.platform}`);
const headers = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'].find((d) =>
  existsSync(join(d, 'node_api.h')),
);
if (!headers) skip(`no node_api.h beside ${process.execPath}`);
const cc = [process.env.CC, 'cc', 'gcc', 'clang'].find(
  (c) => c && spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0,
);
if (!cc) skip('no C compiler: install gcc');
mkdirSync(dirname(OUT), { recursive: true });
const args = ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-I', headers];
const r = spawnSync(cc, [...args, '-o', OUT, join(ROOT, 'native', 'spawn.c'), '-pthread'], {
  stdio: 'inherit',
});
if (r.status !== 0) skip(`${cc} failed`);
process.stdout.write(`build-native: ${OUT}\n`);
