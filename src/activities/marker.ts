/**
 * `faultline.marker`: create, remove and check a marker file, as a fault.
 * The file is ledgered like any fault, so it is removed when the run ends,
 * when its duration elapses, on `faultline halt`, or by recovery after a crash.
 */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ActivityFailed } from '../core/errors.js';
import type { BuiltinActivity } from '../engine/context.js';
import { markerKind } from '../faults/marker.js';

const MODULE = 'faultline.marker';

const path = z.string({ error: 'expected a file path' }).min(1, 'expected a non-empty file path');

const PathArgs = z.strictObject({ path });

const remove: BuiltinActivity<typeof PathArgs> = {
  module: MODULE,
  func: 'remove',
  kind: 'action',
  doc: 'Removes a marker file this run created, before its duration elapses.',
  arguments: PathArgs,
  async run(args, ctx) {
    const target = resolve(args.path);
    const handle = ctx.faults.findActive(markerKind.kind, target);
    if (!handle) throw new ActivityFailed(`no marker fault of this run at ${target}`);
    const record = await handle.revert();
    if (!record.verified)
      throw new ActivityFailed(`could not remove the marker at ${target}: ${record.error}`);
    return { fault_id: record.id, path: target, removed: true };
  },
};

const exists: BuiltinActivity<typeof PathArgs> = {
  module: MODULE,
  func: 'exists',
  kind: 'probe',
  doc: 'True when a file exists at `path`.',
  arguments: PathArgs,
  async run(args) {
    return access(resolve(args.path)).then(
      () => true,
      () => false,
    );
  },
};

// `create` is the exposed marker-file fault kind (faults/marker.ts), made an action by activities/faults.ts.
export const markerActivities: BuiltinActivity[] = [remove, exists];
