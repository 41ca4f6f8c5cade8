/**
 * The cursor of listRuns' keyset pagination: the last row's (requestedAt, id), newest first. Opaque to
 * callers (base64url of a small JSON array) so the order's columns can change without breaking the
 * API's shape; a cursor that does not decode is the caller's mistake (FAULTLINE_ERR_USAGE naming `cursor`).
 */
import { FaultlineError } from '../../core/errors.js';

export interface CursorKey {
  requestedAt: string;
  id: string;
}

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify([1, key.requestedAt, key.id]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): CursorKey {
  const bad = () =>
    new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      'cursor: expected the `next` value of a previous page, unchanged',
    );
  // 500 characters is far more than any cursor this module makes: refuse before parsing anything large.
  if (cursor.length > 500 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (
    !Array.isArray(value) ||
    value.length !== 3 ||
    value[0] !== 1 ||
    typeof value[1] !== 'string' ||
    typeof value[2] !== 'string' ||
    Number.isNaN(Date.parse(value[1]))
  ) {
    throw bad();
  }
  return { requestedAt: value[1], id: value[2] };
}
