#!/usr/bin/env node
// How many modules `faultline validate` and `faultline run` load for a one-action experiment
// (`process` `true`): what a command does not use should not be loaded (issue #14 item 3).
// Counts every URL resolved while the command runs (a resolve hook in the child), ours apart.
// usage: node bench/modules-loaded.mjs [checkoutDir ...]   (each built with `npm run build`)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const dirs = process.argv.slice(2).length ? process.argv.slice(2) : ['.'];
const work = mkdtempSync(join(tmpdir(), 'faultline-modules-'));
const experiment = join(work, 'one.json');
writeFileSync(
  experiment,
  JSON.stringify({
    title: 'one process action',
    description: 'true',
    method: [{ type: 'action', name: 'true', provider: { type: 'process', path: 'true' } }],
  }),
);
const out = join(work, 'loaded.txt');
const hook = join(work, 'hook.mjs');
// The hook runs on the loader thread and appends each resolved URL to a file (no channel to keep alive).
const resolveHook = [
  "import { appendFileSync } from 'node:fs';",
  'export async function resolve(specifier, context, next) {',
  '  const r = await next(specifier, context);',
  `  appendFileSync(${JSON.stringify(out)}, r.url + '\\n');`,
  '  return r;',
  '}',
].join('\n');
writeFileSync(
  hook,
  "import { register } from 'node:module';\n" +
    `register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(resolveHook)}`)});\n`,
);

for (const dir of dirs) {
  const root = resolve(dir);
  for (const args of [
    ['validate', experiment],
    ['run', experiment, '--journal-path', join(work, 'j.json')],
  ]) {
    writeFileSync(out, '');
    const r = spawnSync(process.execPath, ['--import', hook, join(root, 'bin/faultline.js'), ...args], {
      cwd: work,
      // The modules one by one (what the library loads): the CLI's bundle would count as one file.
      env: {
        ...process.env,
        FAULTLINE_HOME: join(work, 'home'),
        FAULTLINE_WATCHDOG: '0',
        FAULTLINE_BUNDLE: '0',
      },
      encoding: 'utf8',
    });
    const urls = [...new Set(readFileSync(out, 'utf8').split('\n').filter(Boolean))];
    const ours = urls.filter((u) => u.startsWith(`file://${root}/dist/`));
    console.log(
      `RESULT ${dir} faultline ${args[0]}: exit ${r.status}, ${ours.length} of Faultline's modules, ${urls.length} in all`,
    );
  }
}
rmSync(work, { recursive: true, force: true });
