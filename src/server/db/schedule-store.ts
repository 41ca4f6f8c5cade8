/** SCAFFOLD (issue #18, being written): the ScheduleStore on Kysely. */
import type { ScheduleStore } from '../schedules/model.js';
import type { StoreContext } from './context.js';

export class KyselyScheduleStore implements ScheduleStore {
  constructor(readonly ctx: StoreContext) {}
}
