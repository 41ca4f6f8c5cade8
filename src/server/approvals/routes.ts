/**
 * The approvals API (issue #18): an operator asks for an approval of an experiment version tagged for
 * production, an approver who neither wrote that version nor asked approves or rejects it, and the list
 * shows what waits and what was decided. Each request, decision and expiry is in the audit log and told
 * to the webhooks. Expiry is swept when approvals are read and by a timer, so an approval past its expiry
 * is `expired` (audited once, whichever server sweeps first) even when nobody looks.
 */
import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { ApiError } from '../api-error.js';
import { ErrorSchema, ExperimentParamsSchema } from '../api-schemas.js';
import { need, type Principal, principalOf } from '../auth/access.js';
import type { RouteGroup } from '../route-deps.js';
import type { Store } from '../store.js';
import { approvalFacts, expireApprovals, policySettings, productionTag } from './gate.js';
import {
  type Approval,
  ApprovalDetailSchema,
  ApprovalParamsSchema,
  ApprovalQuerySchema,
  ApprovalSchema,
  DEFAULT_APPROVAL_SECONDS,
  DecideApprovalSchema,
  expiresInSeconds,
  RequestApprovalSchema,
  selfApproval,
} from './model.js';

/** How often this server sweeps expired approvals (the gate and the list also sweep when they run). */
export const EXPIRY_SWEEP_MS = 15_000;

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

const jsonBody = <T extends z.ZodType>(schema: T) => ({
  body: { content: { 'application/json': { schema } }, required: true },
});

const errors = {
  400: json(ErrorSchema, 'The request is malformed: its issues say where'),
  404: json(ErrorSchema, 'No such experiment, version or approval'),
  503: json(ErrorSchema, 'The database (or the settings file) cannot be read'),
};

const TOKEN_PREFIX = 'token:';

/**
 * The people an actor stands for: for a token (`token:<name>`) the user who owns it (first: messages
 * name the person) and the token, so nobody approves their own work through a token; else the actor.
 */
async function peopleOf(store: Store, actor: string): Promise<string[]> {
  if (!actor.startsWith(TOKEN_PREFIX)) return [actor];
  const name = actor.slice(TOKEN_PREFIX.length);
  const owner = (await store.listTokens()).find((t) => t.name === name)?.owner;
  return owner === undefined || owner === 'local' ? [actor] : [owner, actor];
}

function principalPeople(p: Principal): string[] {
  const owner = p.token?.owner;
  return owner === undefined || owner === 'local' ? [p.actor] : [owner, p.actor];
}

const describe = (a: Approval) =>
  `${a.experiment} version ${a.version} (${a.standing ? 'standing' : 'one run'})`;

export const registerApprovalRoutes: RouteGroup = (app, deps) => {
  const { store } = deps;
  const sweep = () => expireApprovals(store, deps.notify);

  let closed = false;
  const timer = setInterval(() => {
    sweep().catch((err: Error) => {
      if (!closed) deps.onProblem?.(`approvals: the expiry sweep failed: ${err.message}`);
    });
  }, EXPIRY_SWEEP_MS);
  timer.unref();
  deps.onClose(async () => {
    closed = true;
    clearInterval(timer);
  });

  app.openapi(
    createRoute({
      method: 'post',
      middleware: [need('approval.request')] as const,
      path: '/api/experiments/{name}/approvals',
      summary:
        'Ask for an approval of a version (default the latest) of an experiment tagged for production: standing (every run until it expires) or for one run',
      request: { params: ExperimentParamsSchema, ...jsonBody(RequestApprovalSchema) },
      responses: {
        201: json(ApprovalSchema, 'Asked: pending until an approver decides'),
        409: json(
          ErrorSchema,
          'The experiment is not tagged for production (`approval_not_needed`), or the same request is already waiting (`already_requested`)',
        ),
        ...errors,
      },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const body = c.req.valid('json');
      const experiment = await store.getExperiment(name, body.version);
      if (!experiment)
        throw new ApiError(
          404,
          'not_found',
          `no experiment ${name}${body.version === undefined ? '' : ` version ${body.version}`}`,
        );
      const settings = await policySettings(deps.home);
      if (productionTag(experiment, settings) === undefined)
        throw new ApiError(
          409,
          'approval_not_needed',
          `experiment ${name} version ${experiment.version} is not tagged for production (production_tags: ${settings.production_tags.join(', ')}): it runs without an approval`,
        );
      const standing = body.standing ?? false;
      const waiting = (await store.approvals.list({ experiment: name, state: 'pending' })).find(
        (a) => a.version === experiment.version && a.standing === standing,
      );
      if (waiting)
        throw new ApiError(
          409,
          'already_requested',
          `${waiting.requestedBy} already asked for this approval of ${describe(waiting)}: request ${waiting.id} waits for an approver`,
        );
      const requestedBy = principalOf(c).actor;
      const approval = await store.approvals.request({
        experiment: name,
        version: experiment.version,
        author: experiment.createdBy,
        standing,
        expiresIn:
          body.expiresIn === undefined
            ? DEFAULT_APPROVAL_SECONDS
            : (expiresInSeconds(body.expiresIn) ?? DEFAULT_APPROVAL_SECONDS),
        ...(body.comment !== undefined ? { comment: body.comment } : {}),
        requestedBy,
      });
      await deps.audit(c, 'approval.request', approval.id, {
        experiment: name,
        version: approval.version,
        standing,
        expiresIn: approval.expiresIn,
        ...(approval.comment !== undefined ? { comment: approval.comment } : {}),
      });
      deps.notify(
        'approval.requested',
        `${requestedBy} asks for an approval of ${describe(approval)}${approval.comment ? `: ${approval.comment}` : ''}`,
        approvalFacts(approval),
      );
      return c.json(approval, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/approvals',
      summary:
        'Approvals: the pending ones first (longest waiting first), then the others newest first; `state`, `experiment` filter',
      request: { query: ApprovalQuerySchema },
      responses: { 200: json(z.array(ApprovalSchema), 'The approvals'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const limit = q.limit === undefined ? undefined : Number(q.limit);
      await sweep();
      return c.json(
        await store.approvals.list({
          ...(q.state !== undefined ? { state: q.state } : {}),
          ...(q.experiment !== undefined ? { experiment: q.experiment } : {}),
          ...(limit !== undefined ? { limit } : {}),
        }),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      middleware: [need('read')] as const,
      path: '/api/approvals/{id}',
      summary: 'An approval, with the runs it allowed',
      request: { params: ApprovalParamsSchema },
      responses: { 200: json(ApprovalDetailSchema, 'The approval'), ...errors },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await sweep();
      const found = await store.approvals.detail(id);
      if (!found) throw new ApiError(404, 'not_found', `no approval ${id}`);
      return c.json(found, 200);
    },
  );

  for (const approve of [true, false]) {
    const verb = approve ? 'approve' : 'reject';
    app.openapi(
      createRoute({
        method: 'post',
        middleware: [need('run.approve')] as const,
        path: `/api/approvals/{id}/${verb}`,
        summary: approve
          ? 'Approve a pending request: by an approver who neither wrote the version nor asked; it expires `expiresIn` after now'
          : 'Reject a pending request (its requester may withdraw it this way)',
        request: { params: ApprovalParamsSchema, ...jsonBody(DecideApprovalSchema) },
        responses: {
          200: json(ApprovalSchema, approve ? 'Approved' : 'Rejected'),
          ...(approve
            ? {
                403: json(
                  ErrorSchema,
                  'The approver wrote this version or asked for the approval (`self_approval`), or lacks the role',
                ),
              }
            : {}),
          409: json(ErrorSchema, 'It is not pending (`not_pending`): already decided, expired or used'),
          ...errors,
        },
      }),
      async (c) => {
        const { id } = c.req.valid('param');
        const { comment } = c.req.valid('json');
        const found = await store.approvals.get(id);
        if (!found) throw new ApiError(404, 'not_found', `no approval ${id}`);
        const p = principalOf(c);
        // Refusing a run never lets anything happen: only approving needs four eyes.
        if (approve) {
          const why = selfApproval(found, {
            approver: principalPeople(p),
            author: await peopleOf(store, found.author),
            requester: await peopleOf(store, found.requestedBy),
          });
          if (why !== undefined) throw new ApiError(403, 'self_approval', why);
        }
        const decided =
          found.state === 'pending'
            ? await store.approvals.decide(id, {
                approve,
                by: p.actor,
                ...(comment !== undefined ? { comment } : {}),
                now: new Date(),
              })
            : undefined;
        if (!decided) {
          const now = (await store.approvals.get(id)) ?? found;
          throw new ApiError(
            409,
            'not_pending',
            `approval ${id} of ${describe(now)} is ${now.state}${now.decidedBy ? ` (decided by ${now.decidedBy} at ${now.decidedAt})` : ''}: only a pending request can be ${approve ? 'approved' : 'rejected'}`,
          );
        }
        await deps.audit(c, `approval.${verb}`, id, {
          experiment: decided.experiment,
          version: decided.version,
          standing: decided.standing,
          ...(decided.expiresAt !== undefined ? { expiresAt: decided.expiresAt } : {}),
          ...(comment !== undefined ? { comment } : {}),
        });
        deps.notify(
          approve ? 'approval.granted' : 'approval.rejected',
          `${p.actor} ${approve ? 'approved' : 'rejected'} ${describe(decided)}${approve ? ` until ${decided.expiresAt}` : ''}${comment ? `: ${comment}` : ''}`,
          approvalFacts(decided),
        );
        return c.json(decided, 200);
      },
    );
  }
};
