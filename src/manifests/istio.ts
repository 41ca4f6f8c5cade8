import { pendingFormat } from './stub.js';

export const istio = pendingFormat(
  'istio',
  'Istio',
  (d) =>
    typeof d.apiVersion === 'string' &&
    d.apiVersion.startsWith('networking.istio.io/') &&
    d.kind === 'VirtualService',
);
