// A typed experiment: `faultline run examples/typescript/experiment.ts`.
// The object is validated exactly like a JSON or YAML file.
import { defineExperiment } from '../../src/index.js';

export default defineExperiment({
  title: 'A typed experiment runs like a file',
  description: 'Uses the built-in marker fault and a process probe, with a typed configuration.',
  configuration: {
    marker: { type: 'env', key: 'MARKER_PATH', default: '/tmp/faultline-typescript-example.marker' },
  },
  'steady-state-hypothesis': {
    title: 'The shell works',
    probes: [
      { type: 'probe', name: 'shell-answers', tolerance: 0, provider: { type: 'process', path: 'true' } },
    ],
  },
  method: [
    {
      type: 'action',
      name: 'create-marker',
      provider: {
        type: 'faultline',
        module: 'faultline.marker',
        func: 'create',
        arguments: { path: '${marker}', duration: 60 },
      },
    },
    {
      type: 'probe',
      name: 'marker-is-there',
      provider: {
        type: 'faultline',
        module: 'faultline.marker',
        func: 'exists',
        arguments: { path: '${marker}' },
      },
    },
  ],
});
