/** The http fault kinds (faults on the requests a Faultline proxy forwards to a service); faults/groups.ts loads them as the catalog asks. */
import type { FaultKind } from '../../core/fault.js';
import { httpFaultKind } from './fault.js';

export { HttpFaultArgs, httpFaultKind, toxicFor } from './fault.js';

export const httpKinds: FaultKind<any>[] = [httpFaultKind];
