/** SCAFFOLD (issue #18, being written): the ApprovalStore on Kysely. */
import type { GrantedApproval } from '../../core/policy.js';
import type { ApprovalStore } from '../approvals/model.js';
import type { StoreContext } from './context.js';

export class KyselyApprovalStore implements ApprovalStore {
  constructor(readonly ctx: StoreContext) {}

  async grant(_id: string): Promise<GrantedApproval | undefined> {
    return undefined;
  }
}
