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

/**
 * Each action and the least role allowed it. `run.approve` has no route yet (approvals come with
 * issue #18); it is here so the table is whole.
 */
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
  /** Runs an approval policy holds (an experiment tagged for production). */
  'run.approve': 'approver',
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
