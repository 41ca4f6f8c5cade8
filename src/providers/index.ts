/**
 * The provider types, one loader line each; the composition root
 * (src/compose.ts) loads only the types an experiment uses. The keys are held
 * to core/schema.ts's PROVIDER_SCHEMAS by the type: a type listed there and not
 * here (or here and not there) does not compile.
 */
import type { ProviderType } from '../core/schema.js';
import type { ProviderRunner } from '../engine/context.js';

type Loader = () => Promise<ProviderRunner<any>>;

export const PROVIDER_LOADERS: Readonly<Record<string, Loader>> = {
  http: async () => (await import('./http.js')).httpProvider,
  process: async () => (await import('./process.js')).processProvider,
  node: async () => (await import('./node.js')).nodeProvider,
  python: async () => (await import('./python.js')).pythonProvider,
  faultline: async () => (await import('./builtin.js')).builtinProvider,
} satisfies Record<ProviderType, Loader>;
