/**
 * The API's one error shape, `{ error: { code, message, issues? } }`, and the
 * error routes throw to answer with it (app.ts maps it in its onError, the
 * one error mapping of the server).
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Issue } from '../core/errors.js';

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly issues?: Issue[],
    /** Extra response headers (Retry-After, WWW-Authenticate). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string, issues?: readonly Issue[]) {
  return { error: { code, message, ...(issues && issues.length > 0 ? { issues: [...issues] } : {}) } };
}
