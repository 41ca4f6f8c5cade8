/** The run-resource registry; the resources' contract is core/resource.ts. */
import { Registry } from '../core/registry.js';
import type { RunResource } from '../core/resource.js';

export type { RunResource, StartedResource } from '../core/resource.js';

export const runResources = new Registry<RunResource>('run resource');
