/**
 * The single place built-in activities are registered: a new module adds one
 * import and one entry in `modules`.
 */
import { registerBuiltin } from '../engine/builtins.js';
import { markerActivities } from './marker.js';

const modules = [markerActivities];

for (const activities of modules) for (const activity of activities) registerBuiltin(activity);
