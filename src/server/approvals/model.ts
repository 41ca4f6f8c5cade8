/**
 * SCAFFOLD (issue #18, being written): the approvals contract: zod schemas and the ApprovalStore interface.
 * Imports zod, ../names.js and ../../core/ only (store.ts imports this file).
 */
import type { GrantedApproval } from '../../core/policy.js';

export interface ApprovalStore {
  /**
   * Approval `id` as the run it allowed records it in its journal (runner.ts passes it to the run);
   * undefined when there is no such approval or it was not approved.
   */
  grant(id: string): Promise<GrantedApproval | undefined>;
}
