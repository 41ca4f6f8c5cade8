/** SCAFFOLD (issue #18, being written): the BlackoutStore on Kysely. */
import type { BlackoutStore } from '../blackouts/model.js';
import type { StoreContext } from './context.js';

export class KyselyBlackoutStore implements BlackoutStore {
  constructor(readonly ctx: StoreContext) {}
}
