/**
 * The yaml package, required on first use rather than imported: a JSON
 * experiment never needs it, and loading it costs `validate` and `run` of a
 * JSON file a noticeable part of their start (issue #14 item 3,
 * bench/ctk-compare.mjs). Synchronous because parseText is; one copy for
 * every caller (parse, positions, settings).
 */
import { createRequire } from 'node:module';

let yamlModule: typeof import('yaml') | undefined;

export function yaml(): typeof import('yaml') {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yamlModule;
}
