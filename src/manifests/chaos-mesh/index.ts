import { pendingFormat } from '../stub.js';

export const chaosMesh = pendingFormat(
  'chaos-mesh',
  'Chaos Mesh',
  (d) => typeof d.apiVersion === 'string' && d.apiVersion.startsWith('chaos-mesh.org/'),
);
