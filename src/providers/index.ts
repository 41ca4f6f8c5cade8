/** The provider registry: one registration line per provider type. */
// Built-in activities register themselves in the one place they are listed.
import '../activities/index.js';
import { Registry } from '../core/registry.js';
import type { ProviderRunner } from '../engine/context.js';
import { builtinProvider } from './builtin.js';
import { httpProvider } from './http.js';
import { nodeProvider } from './node.js';
import { processProvider } from './process.js';
import { pythonProvider } from './python.js';

export const providers = new Registry<ProviderRunner<any>>('provider');

providers.register('http', httpProvider);
providers.register('process', processProvider);
providers.register('node', nodeProvider);
providers.register('python', pythonProvider);
providers.register('faultline', builtinProvider);
