/**
 * The ApprovalStore on Kysely (approvals/model.ts), one set of statements for both databases. The three
 * changes that race between requests or servers are single conditional UPDATEs, so exactly one caller
 * wins each: a decision (`WHERE state = 'pending'`), the use of a one-run approval (`WHERE state =
 * 'approved'`, the candidate row locked FOR UPDATE SKIP LOCKED on PostgreSQL so a racing server takes
 * another one rather than none, as claimQueuedRun does; SQLite runs one writer at a time), and the expiry
 * sweep (`RETURNING` the rows this caller changed, so only one server audits and announces each).
 */
import type { Kysely } from 'kysely';
import type { GrantedApproval } from '../../core/policy.js';
import {
  type Approval,
  type ApprovalDetail,
  type ApprovalFilter,
  type ApprovalState,
  type ApprovalStore,
  type NewApprovalRequest,
  toGranted,
} from '../approvals/model.js';
import type { StoreContext } from './context.js';
import { newRunKey } from './ids.js';
import type { Database } from './tables.js';

/** The table of migrations/0008-approvals.ts. */
interface ApprovalsTable {
  id: string;
  experiment: string;
  version: number;
  author: string;
  state: string;
  /** 0/1 on both databases. */
  standing: number;
  expires_in: number;
  comment: string | null;
  requested_by: string;
  requested_at: string;
  decided_by: string | null;
  decided_at: string | null;
  decision_comment: string | null;
  expires_at: string | null;
  used_at: string | null;
  used_by: string | null;
}

type Tables = Database & { approvals: ApprovalsTable };

const DEFAULT_LIST = 100;
const MAX_LIST = 500;

function toApproval(r: ApprovalsTable): Approval {
  const opt = <K extends string>(key: K, v: string | null) => (v === null ? {} : { [key]: v });
  return {
    id: r.id,
    experiment: r.experiment,
    version: Number(r.version),
    state: r.state as ApprovalState,
    standing: Number(r.standing) !== 0,
    expiresIn: Number(r.expires_in),
    ...opt('comment', r.comment),
    requestedBy: r.requested_by,
    requestedAt: r.requested_at,
    author: r.author,
    ...opt('decidedBy', r.decided_by),
    ...opt('decidedAt', r.decided_at),
    ...opt('decisionComment', r.decision_comment),
    ...opt('expiresAt', r.expires_at),
    ...opt('usedAt', r.used_at),
    ...opt('usedBy', r.used_by),
  } as Approval;
}

export class KyselyApprovalStore implements ApprovalStore {
  readonly #db: Kysely<Tables>;

  constructor(readonly ctx: StoreContext) {
    this.#db = ctx.db.withTables<{ approvals: ApprovalsTable }>();
  }

  async request(r: NewApprovalRequest): Promise<Approval> {
    const { id, requestedAt } = newRunKey();
    const row: ApprovalsTable = {
      id,
      experiment: r.experiment,
      version: r.version,
      author: r.author,
      state: 'pending',
      standing: r.standing ? 1 : 0,
      expires_in: r.expiresIn,
      comment: r.comment ?? null,
      requested_by: r.requestedBy,
      requested_at: requestedAt,
      decided_by: null,
      decided_at: null,
      decision_comment: null,
      expires_at: null,
      used_at: null,
      used_by: null,
    };
    return this.ctx.run(`requesting an approval of ${r.experiment} version ${r.version}`, async () => {
      await this.#db.insertInto('approvals').values(row).execute();
      return toApproval(row);
    });
  }

  async get(id: string): Promise<Approval | undefined> {
    return this.ctx.run(`reading approval ${id}`, async () => {
      const row = await this.#db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toApproval(row) : undefined;
    });
  }

  async detail(id: string): Promise<ApprovalDetail | undefined> {
    return this.ctx.run(`reading approval ${id}`, async () => {
      const row = await this.#db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) return undefined;
      const runs = await this.#db
        .selectFrom('runs')
        .select('id')
        .where('approval_id', '=', id)
        .orderBy('requested_at', 'asc')
        .orderBy('id', 'asc')
        .execute();
      return { ...toApproval(row), runs: runs.map((r) => r.id) };
    });
  }

  async list(filter: ApprovalFilter): Promise<Approval[]> {
    const limit = Math.min(Math.max(filter.limit ?? DEFAULT_LIST, 1), MAX_LIST);
    return this.ctx.run('listing approvals', async () => {
      const base = this.#db
        .selectFrom('approvals')
        .selectAll()
        .$if(filter.experiment !== undefined, (q) => q.where('experiment', '=', filter.experiment as string));
      // Pending ones wait for someone: the longest waiting first. The others are history: newest first.
      const pending =
        filter.state === undefined || filter.state === 'pending'
          ? await base
              .where('state', '=', 'pending')
              .orderBy('requested_at', 'asc')
              .orderBy('id', 'asc')
              .limit(limit)
              .execute()
          : [];
      const rest =
        filter.state === 'pending' || pending.length >= limit
          ? []
          : await base
              .$if(filter.state !== undefined, (q) => q.where('state', '=', filter.state as string))
              .$if(filter.state === undefined, (q) => q.where('state', '<>', 'pending'))
              .orderBy('requested_at', 'desc')
              .orderBy('id', 'desc')
              .limit(limit - pending.length)
              .execute();
      return [...pending, ...rest].map(toApproval);
    });
  }

  async ofExperiments(names: readonly string[]): Promise<Approval[]> {
    if (names.length === 0) return [];
    return this.ctx.run('reading the approvals of experiments', async () => {
      const rows = await this.#db
        .selectFrom('approvals')
        .selectAll()
        .where('experiment', 'in', [...names])
        .execute();
      return rows.map(toApproval);
    });
  }

  async decide(
    id: string,
    d: { approve: boolean; by: string; comment?: string; now: Date },
  ): Promise<Approval | undefined> {
    const at = d.now.toISOString();
    return this.ctx.run(`${d.approve ? 'approving' : 'rejecting'} approval ${id}`, async () => {
      // expires_in never changes after the request, so reading it first races with nothing; the
      // decision itself is the one conditional UPDATE.
      const found = await this.#db
        .selectFrom('approvals')
        .select('expires_in')
        .where('id', '=', id)
        .executeTakeFirst();
      if (!found) return undefined;
      const expiresAt = new Date(d.now.getTime() + Number(found.expires_in) * 1000).toISOString();
      const row = await this.#db
        .updateTable('approvals')
        .set({
          state: d.approve ? 'approved' : 'rejected',
          decided_by: d.by,
          decided_at: at,
          decision_comment: d.comment ?? null,
          expires_at: d.approve ? expiresAt : null,
        })
        .where('id', '=', id)
        .where('state', '=', 'pending')
        .returningAll()
        .executeTakeFirst();
      return row ? toApproval(row) : undefined;
    });
  }

  async take(
    experiment: string,
    version: number,
    opts: { standingOnly: boolean; by: string; now: Date },
  ): Promise<Approval | undefined> {
    const at = opts.now.toISOString();
    const postgres = this.ctx.kind === 'postgres';
    return this.ctx.run(`finding an approval of ${experiment} version ${version}`, async () => {
      const valid = this.#db
        .selectFrom('approvals')
        .where('experiment', '=', experiment)
        .where('version', '=', version)
        .where('state', '=', 'approved')
        .where('expires_at', '>', at);
      if (!opts.standingOnly) {
        // One-run approvals first: one asked for a run is meant for the run being started now; a
        // standing one stays for the schedules it was asked for. The soonest to expire goes first.
        const used = await this.#db
          .updateTable('approvals')
          .set({ state: 'used', used_at: at, used_by: opts.by })
          .where('id', '=', (eb) =>
            eb
              .selectFrom('approvals')
              .select('id')
              .where('experiment', '=', experiment)
              .where('version', '=', version)
              .where('state', '=', 'approved')
              .where('standing', '=', 0)
              .where('expires_at', '>', at)
              .orderBy('expires_at', 'asc')
              .orderBy('id', 'asc')
              .limit(1)
              .$if(postgres, (q) => q.forUpdate().skipLocked()),
          )
          // Under READ COMMITTED a row used between the subquery and the update is re-checked here.
          .where('state', '=', 'approved')
          .returningAll()
          .executeTakeFirst();
        if (used) return toApproval(used);
      }
      const standing = await valid
        .selectAll()
        .where('standing', '=', 1)
        .orderBy('expires_at', 'desc')
        .orderBy('id', 'asc')
        .limit(1)
        .executeTakeFirst();
      return standing ? toApproval(standing) : undefined;
    });
  }

  async expire(now: Date): Promise<Approval[]> {
    return this.ctx.run('expiring approvals', async () => {
      const rows = await this.#db
        .updateTable('approvals')
        .set({ state: 'expired' })
        .where('state', '=', 'approved')
        .where('expires_at', '<=', now.toISOString())
        .returningAll()
        .execute();
      return rows.map(toApproval);
    });
  }

  async grant(id: string): Promise<GrantedApproval | undefined> {
    const a = await this.get(id);
    return a ? toGranted(a) : undefined;
  }
}
