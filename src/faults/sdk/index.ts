/** The sdk fault kinds (faults the in-process SDK applies, driven through its control endpoint); faults/groups.ts loads them as the catalog asks. */
import type { FaultKind } from '../../core/fault.js';
import { sdkEnableFaultKind } from './enable-fault.js';

export { SDK_LEASE_MS, sdkEnableFaultKind } from './enable-fault.js';

export const sdkKinds: FaultKind<any>[] = [sdkEnableFaultKind];
