import { pendingFormat } from './stub.js';

export const awsFis = pendingFormat(
  'aws-fis',
  'AWS FIS',
  (d) =>
    ('Actions' in d || 'actions' in d) &&
    ('Targets' in d || 'targets' in d || 'StopConditions' in d || 'stopConditions' in d) &&
    !('apiVersion' in d),
);
