/**
 * The provider types, one loader line each; the composition root
 * (src/compose.ts) loads only the types an experiment uses.
 */
import type { ProviderRunner } from '../engine/context.js';

export const PROVIDER_LOADERS: Readonly<Record<string, () => Promise<ProviderRunner<any>>>> = {
  http: async () => (await import('./http.js')).httpProvider,
  process: async () => (await import('./process.js')).processProvider,
  node: async () => (await import('./node.js')).nodeProvider,
  python: async () => (await import('./python.js')).pythonProvider,
  faultline: async () => (await import('./builtin.js')).builtinProvider,
};
