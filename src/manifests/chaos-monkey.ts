import { pendingFormat } from './stub.js';

export const chaosMonkey = pendingFormat('chaos-monkey', 'Chaos Monkey', (d) => 'chaosmonkey' in d);
