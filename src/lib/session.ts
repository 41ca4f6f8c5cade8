/**
 * FaultSession for library callers: the composition root's catalog of
 * built-in (and registered) kinds unless the caller gives its own. Apart from
 * lib/faults.ts, whose recovery and halt must stay light (no schemas).
 */
import { faultKinds } from '../compose.js';
import * as session from '../faults/session.js';
import type { KindsOptional } from './faults.js';

export type FaultSessionOptions = KindsOptional<session.FaultSessionOptions>;

/** A FaultSession over the built-in (and registered) kinds unless given others. */
export class FaultSession extends session.FaultSession {
  constructor(options: FaultSessionOptions) {
    super({ kinds: faultKinds, ...options });
  }
}
