/**
 * `faultline.sdk`: `disable_fault` removes SDK faults before their duration
 * elapses. (`enable_fault` is the exposed fault kind in faults/sdk/, made an
 * action by activities/faults.ts.)
 *
 *   - type: action
 *     name: stop-failing-checkout
 *     provider: {type: faultline, module: faultline.sdk, func: disable_fault,
 *                arguments: {service: checkout}}
 *
 * With `fault_id` (the id `enable_fault` returned, or a rule id on the server)
 * one fault goes; without it, every fault of the service: this run's faults
 * are reverted through the session (ledger included), then any other rule the
 * server still holds for the service is deleted there.
 */
import { z } from 'zod';
import { ActivityFailed } from '../core/errors.js';
import type { BuiltinActivity } from '../engine/context.js';
import { ApiUrl, client, ServiceName, sdkEnableFaultKind, sdkRuleGone } from '../faults/sdk/enable-fault.js';

const DisableArgs = z.strictObject({
  service: ServiceName,
  fault_id: z
    .string()
    .min(1)
    .optional()
    .describe('the fault_id `enable_fault` returned (or a rule id on the server); default: every fault'),
  api_url: ApiUrl,
});

const disableFault: BuiltinActivity<typeof DisableArgs> = {
  module: 'faultline.sdk',
  func: 'disable_fault',
  kind: 'action',
  doc: "Removes a service's SDK faults early: one by fault_id, or all of them (this run's are reverted and verified).",
  arguments: DisableArgs,
  async run(args, ctx) {
    const mine = new Set(
      ctx.faults
        .records()
        .filter(
          (r) =>
            r.kind === sdkEnableFaultKind.kind &&
            r.targets?.some((t) => t.type === 'sdk' && t.name === args.service),
        )
        .map((r) => r.id),
    );
    const handles = ctx.faults
      .activeHandles()
      .filter((h) => mine.has(h.id) && (args.fault_id === undefined || h.id === args.fault_id));
    const reverted: string[] = [];
    for (const h of handles) {
      const r = await h.revert();
      if (!r.verified) throw new ActivityFailed(`could not remove SDK fault ${h.target}: ${r.error}`);
      reverted.push(r.id);
    }
    const api = client({ api_url: args.api_url });
    let removed: string[] = [];
    if (args.fault_id === undefined) {
      removed = await api.removeAll(args.service);
    } else if (handles.length === 0) {
      try {
        await api.remove(args.service, args.fault_id);
        removed = [args.fault_id];
      } catch (err) {
        if (!sdkRuleGone(err)) throw err;
        throw new ActivityFailed(`service ${args.service} has no SDK fault ${args.fault_id}`);
      }
    }
    return { service: args.service, reverted, removed };
  },
};

export const sdkActivities: BuiltinActivity[] = [disableFault];
