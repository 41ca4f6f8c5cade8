/**
 * `{type: probe, name, provider}`: the probe runs with `provider.arguments.value`
 * set to the output, and the tolerance is met when its return value is truthy
 * in Python terms. Missing `arguments` are added (Chaos Toolkit crashes); a
 * thrown error means not met, with the error as the reason.
 */
import { InterruptExecution } from '../../core/errors.js';
import { isDict, pyTruthy } from '../../core/python.js';
import type { Activity, ProbeTolerance } from '../../core/schema.js';
import { describe, MET, notMet, type ToleranceKind } from './kind.js';

export const probeTolerance: ToleranceKind<ProbeTolerance> = {
  async check(tolerance, output, ctx) {
    const provider = tolerance.provider as unknown;
    if (!isDict(provider)) return notMet('a probe tolerance needs a provider');
    const args = provider.arguments ?? {};
    if (!isDict(args)) {
      return notMet(
        `a probe tolerance's provider.arguments must be an object to receive \`value\`, got ${describe(args)}`,
      );
    }
    const probe = {
      ...tolerance,
      type: 'probe',
      provider: { ...provider, arguments: { ...args, value: output } },
    } as unknown as Activity;
    let result: unknown;
    try {
      result = await ctx.runProbe(probe);
    } catch (err) {
      if (err instanceof InterruptExecution) throw err;
      return notMet(`probe '${tolerance.name}' failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    return pyTruthy(result) ? MET : notMet(`probe '${tolerance.name}' returned ${describe(result)}`);
  },
  validate(tolerance) {
    const provider = tolerance.provider as unknown;
    const args = isDict(provider) ? provider.arguments : undefined;
    if (args === undefined || args === null || isDict(args)) return [];
    // Chaos Toolkit crashes here at run time (`arguments["value"] = ...`).
    return [
      {
        path: 'provider.arguments',
        message: 'a probe tolerance needs its arguments as an object, to receive `value`',
      },
    ];
  },
};
