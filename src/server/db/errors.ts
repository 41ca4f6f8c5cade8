/**
 * What the database refused or why it cannot be reached, as one FAULTLINE_ERR_STORE line: what failed,
 * on which database (never with its password: the password is also scrubbed from the driver's own
 * message, in case a driver ever echoes it), why, and what to do.
 */
import { FaultlineError, isFaultlineError } from '../../core/errors.js';

interface DriverError {
  code?: string;
  errno?: string | number;
  message?: string;
}

export function storeError(what: string, describe: string, err: unknown, password?: string): FaultlineError {
  if (isFaultlineError(err)) return err;
  const e = (err ?? {}) as DriverError;
  let reason = (typeof e.message === 'string' && e.message) || String(err);
  if (e instanceof AggregateError && e.errors.length > 0) {
    // node's connect() to a host with several addresses throws an AggregateError with an empty message.
    reason = e.errors.map((x: DriverError) => x.message ?? String(x)).join('; ');
  }
  reason = reason.replace(/\s+/g, ' ').trim();
  const message = `${what} failed on ${describe}: ${reason}; ${hint(e, reason)}`;
  return new FaultlineError('FAULTLINE_ERR_STORE', scrub(message, password), { cause: err });
}

function hint(e: DriverError, reason: string): string {
  const code = String(e.code ?? '');
  if (
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|timeout|terminat|Connection terminated/i.test(
      code + reason,
    )
  ) {
    return 'check that the database server is running and reachable at that address (--database)';
  }
  if (code === '3D000') return 'create the database (createdb NAME) or name another one in --database';
  if (code === '28P01' || code === '28000') return 'check the user and password in --database';
  if (code === '42501')
    return "grant the user the rights it needs on the database's schema, or use another user";
  if (code.startsWith('57P')) return 'the server is shutting down or restarting: try again when it is back';
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return 'another process holds the database locked: try again, or stop the other process';
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return 'the file is not a Faultline database (or is damaged): restore it from a backup or pass another --database';
  }
  if (/SQLITE_(READONLY|CANTOPEN|IOERR|PERM|FULL)/.test(code)) {
    return 'check that the file and its directory exist, are writable by this user and the disk is not full';
  }
  return 'check the database named by --database';
}

export function scrub(text: string, password?: string): string {
  if (!password) return text;
  return text.split(password).join('***').split(encodeURIComponent(password)).join('***');
}
