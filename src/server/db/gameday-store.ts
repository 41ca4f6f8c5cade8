/** SCAFFOLD (issue #18, being written): the GameDayStore on Kysely. */
import type { GameDayStore } from '../gamedays/model.js';
import type { StoreContext } from './context.js';

export class KyselyGameDayStore implements GameDayStore {
  constructor(readonly ctx: StoreContext) {}
}
