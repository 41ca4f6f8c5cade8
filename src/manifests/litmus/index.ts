import { pendingFormat } from '../stub.js';

export const litmus = pendingFormat(
  'litmus',
  'Litmus',
  (d) => typeof d.apiVersion === 'string' && /^(?:litmuschaos\.io|chaos\.litmus\.io)\//.test(d.apiVersion),
);
