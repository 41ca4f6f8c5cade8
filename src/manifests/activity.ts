/**
 * The one shape every translator's fault action takes: a built-in `faultline.<group>` action with
 * the fault's own arguments and a `targets:` block. The arguments never name a network namespace,
 * an interface or a process: the agent hosting each picked workload fills those in
 * (src/fleet/workloads.ts), and validation knows to expect them absent (core/workload.ts).
 */
import type { Activity } from '../core/schema.js';

/** `group` is the module's last part (`network` for `faultline.network`); a full module name is taken as is. */
export function faultAction(
  name: string,
  group: string,
  func: string,
  args: Record<string, unknown>,
  targets: Record<string, unknown>,
): Activity {
  const module = group.startsWith('faultline.') ? group : `faultline.${group}`;
  return {
    type: 'action',
    name,
    provider: { type: 'faultline', module, func, arguments: args },
    targets,
  } as unknown as Activity;
}
