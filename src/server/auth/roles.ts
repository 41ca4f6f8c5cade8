/**
 * Who may do what on the control plane, in one place: the roles in order
 * (each has the rights of the ones before it) and, per action, the least role
 * that may take it. Every route names one of these actions (app.ts,
 * auth/routes.ts); docs/server.md shows this table and a test holds the two
 * together. Free of zod (the role's schema is store.ts's RoleSchema), so the dashboard's bundle
 * imports this very table rather than a copy.
 */

/** Least to most: a role has every right of the roles before it. */
export const ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Each action and the least role allowed it. */
export const PERMISSIONS = {
  /** Experiments, runs, journals, reports, the audit log, the OpenAPI document, `GET /api/session`. */
  read: 'viewer',
  'experiment.upload': 'operator',
  'run.start': 'operator',
  'run.abort': 'operator',
  'run.push': 'operator',
  /** The emergency stop: stopping is always safe, so whoever may start runs may stop everything. */
  halt: 'operator',
  /** Lifting a halt lets runs inject again: a decision, not an operation. */
  'halt.release': 'approver',
  /** Asking for an approval of an experiment's version (one tagged for production needs one to run). */
  'approval.request': 'operator',
  /**
   * Approving or rejecting a request: an experiment tagged for production runs only with one; an
   * approver still may not approve what they wrote or asked for.
   */
  'run.approve': 'approver',
  /** Schedules: creating, changing, pausing, resuming, deleting (scheduled runs start unattended). */
  'schedule.manage': 'operator',
  /** Blackout windows: opening one stops running experiments, removing one lets runs start again. */
  'blackout.manage': 'approver',
  /** Running a game day: starting, confirming steps, notes, stopping it. */
  'gameday.run': 'operator',
  /** Game-day plans and their follow-up actions (uploading, editing, closing). */
  'gameday.manage': 'operator',
  'users.manage': 'admin',
  'tokens.manage': 'admin',
} as const satisfies Record<string, Role>;
export type Permission = keyof typeof PERMISSIONS;

export function roleRank(role: Role): number {
  return ROLES.indexOf(role);
}

/** Whether `role` may take `action`. */
export function allows(role: Role, action: Permission): boolean {
  return roleRank(role) >= roleRank(PERMISSIONS[action]);
}

/** The lesser of two roles (a token never acts above the user who owns it). */
export function lesserRole(a: Role, b: Role): Role {
  return roleRank(a) <= roleRank(b) ? a : b;
}
