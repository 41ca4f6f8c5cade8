/** The provider registry: one registration line per provider type. */
import { Registry } from '../core/registry.js';
import type { ProviderRunner } from '../engine/context.js';

export const providers = new Registry<ProviderRunner<any>>('provider');
