// Loads the CLI from its one-file bundle (dist/cli.cjs, scripts/build-cli-bundle.mjs) with V8's
// compiled-code cache, which Node 20 offers for scripts only (vm.Script's cachedData). Resolving,
// reading and compiling the CLI's modules one by one was about half of what `faultline validate`
// cost (docs/benchmarks.md). Without the bundle, with one older than the module it was built from,
// or with FAULTLINE_BUNDLE=0, this returns undefined and bin/faultline.js imports dist/cli/main.js
// as before; the two run the same code.
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import vm from 'node:vm';

export type Main = (argv: string[]) => Promise<number>;

/**
 * `main` from the bundle, or undefined when it should not be used. `entry` is the module it was built
 * from: a bundle older than it is stale (`tsc` ran since, `npm run build` did not) and would run old
 * code. (npm gives every file of an installed package the same time: equal is not older.)
 */
export function loadBundledMain(bundle: string, entry: string): Main | undefined {
  if (process.env.FAULTLINE_BUNDLE === '0') return undefined;
  let source: string;
  try {
    if (statSync(bundle).mtimeMs < statSync(entry).mtimeMs) return undefined;
    // esbuild writes ASCII only (non-ASCII escaped), and latin1 skips UTF-8 decoding of megabytes.
    source = readFileSync(bundle, 'latin1');
  } catch {
    return undefined;
  }
  const cacheFile = `${bundle}.cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // none yet: this run writes it
  }
  // CommonJS's wrapper plus `__faultlineImport`: the bundle's `import(specifier)` of a user's module
  // (a node provider, a control, a JavaScript experiment). A script's own dynamic-import callback
  // (vm's importModuleDynamically) is lost when V8 takes its code from the cache on Node 20 ("A dynamic
  // import callback was not specified"), so imports go through this module's. Specifiers are file
  // URLs or packages, which resolve the same from here as from any file under dist/.
  // import.meta.resolve likewise comes from here (`__faultlineMetaResolve`): a script has no import.meta.
  const wrapped = `(function (exports, require, module, __filename, __dirname, __faultlineImport, __faultlineMetaResolve) {${source}\n})`;
  const script = new vm.Script(wrapped, { filename: bundle, cachedData });
  // Written at exit, so that it holds what this run compiled too. A cache V8 rejects (another Node
  // version, other V8 flags) is replaced; a directory that cannot be written is left alone.
  if (!cachedData || script.cachedDataRejected) process.once('exit', () => writeCache(script, cacheFile));
  const mod = { exports: {} as { main?: Main } };
  (script.runInThisContext() as (...args: unknown[]) => void)(
    mod.exports,
    createRequire(bundle),
    mod,
    bundle,
    dirname(bundle),
    (specifier: string) => import(specifier),
    (specifier: string) => import.meta.resolve(specifier),
  );
  return mod.exports.main;
}

function writeCache(script: vm.Script, cacheFile: string): void {
  const tmp = `${cacheFile}.${process.pid}`;
  try {
    writeFileSync(tmp, script.createCachedData());
    // Atomic, so that runs started meanwhile read the old cache or the new one, never half of one.
    renameSync(tmp, cacheFile);
  } catch {
    rmSync(tmp, { force: true });
  }
}
