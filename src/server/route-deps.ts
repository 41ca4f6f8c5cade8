/**
 * What a group of routes beyond app.ts's own is given (live-routes.ts, halt-routes.ts,
 * trend-routes.ts): each group is one file with one `register…(app, deps)`, so app.ts stays the
 * list of groups and its shared middleware (Host/Origin checks, access, body limit, errors).
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { FleetConnectOptions } from '../fleet/connect.js';
import type { Access, AuthEnv } from './auth/access.js';
import type { Runner } from './runner.js';
import type { BlackoutGate, Notify } from './services.js';
import type { Store } from './store.js';

export interface RouteDeps {
  store: Store;
  runner: Runner;
  access: Access;
  serverId: string;
  /** $FAULTLINE_HOME: the ledger and the halt flag of this host. */
  home: string;
  /** The fleet's NATS, when the server drives one (`serve --nats`): the emergency stop halts it too. */
  fleet?: FleetConnectOptions;
  /** Records an action in the audit log as the request's actor. */
  audit(c: Context, action: string, subject?: string, detail?: Record<string, unknown>): Promise<Context>;
  onProblem?: (message: string) => void;
  /** Tells the settings file's webhooks what happened (notify.ts). */
  notify: Notify;
  /** Whether a blackout is in force (blackouts/watcher.ts): nothing starts during one. */
  blackout: BlackoutGate;
  /** The scheduler looks again now (a schedule was created, changed, paused or resumed). */
  wakeScheduler(): void;
  /** Work a group must finish when the server closes (a game day in progress is stopped, its faults reverted). */
  onClose(fn: () => Promise<void>): void;
}

export type RouteGroup = (app: OpenAPIHono<AuthEnv>, deps: RouteDeps) => void;
