/**
 * Safeguards: probes with tolerances that watch the system while an
 * experiment runs and stop it the moment one is breached. Their semantics are
 * those of Chaos Toolkit's `chaosaddons.controls.safeguards`, whose control
 * declaration Faultline also accepts unchanged:
 *  - a plain safeguard runs once, before the experiment starts (a pre-check);
 *  - `background: true` runs once, as soon as possible, without blocking;
 *  - `frequency: N` runs every N seconds (checked after each wait) until the
 *    experiment ends; N may be as small as 0.1.
 * On the first breach the engine interrupts the run, reverts every fault at
 * once, plays the rollbacks, and records the breach in the journal.
 */
import { z } from 'zod';
import { FaultlineError } from '../core/errors.js';
import { type Activity, type Control, SafeguardSchema } from '../core/schema.js';
import { secondsToMs, sleepUntilAborted } from '../core/timers.js';
import type { ControlProviderLookup } from './controls.js';

export interface Safeguard extends Activity {
  frequency?: number;
}

export interface SafeguardCheck {
  met: boolean;
  output: unknown;
  reason?: string;
}

export interface SafeguardBreach {
  name: string;
  value: unknown;
  tolerance: unknown;
  reason?: string;
  breached_at: string;
  /** When every fault of the run was reverted after the breach. */
  reverted_at?: string;
}

/**
 * A control Faultline runs as safeguards rather than as a control (Chaos Toolkit's
 * safeguards control): as its provider type's `isSafeguardControl` says.
 */
export function isSafeguardControl(c: Control, providers: ControlProviderLookup): boolean {
  const provider = c.provider;
  if (provider === undefined) return false;
  return providers.get(provider.type)?.isSafeguardControl?.(provider) === true;
}

/**
 * Safeguards: a `safeguards:` list (the experiment's or the settings file's), plus the probes of any
 * `chaosaddons.controls.safeguards` control (which is then not loaded as a
 * control). Returns the remaining controls.
 */
export function collectSafeguards(
  declared: readonly unknown[] | undefined,
  controls: readonly Control[] | undefined,
  /** The run's providers (with every type `controls` names), which say which control is a safeguards control. */
  providers: ControlProviderLookup,
): { safeguards: Safeguard[]; controls: Control[] } {
  const safeguards = [...(declared ?? [])] as Safeguard[];
  const rest: Control[] = [];
  for (const c of controls ?? []) {
    if (isSafeguardControl(c, providers)) {
      const probes = z.array(SafeguardSchema).min(1).safeParse(c.provider?.arguments?.probes);
      if (!probes.success) {
        const issue = probes.error.issues[0]!;
        throw new FaultlineError(
          'FAULTLINE_ERR_VALIDATION',
          `control '${c.name}': arguments.probes${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${issue.message} (a safeguard control needs at least one probe with a tolerance)`,
        );
      }
      safeguards.push(...(probes.data as Safeguard[]));
    } else rest.push(c);
  }
  return { safeguards, controls: rest };
}

export interface SafeguardOptions {
  check(probe: Safeguard, signal: AbortSignal): Promise<SafeguardCheck>;
  onBreach(probe: Safeguard, result: SafeguardCheck): void;
  /** Every check's result, met or not (live views show a safeguard's value as it is checked). */
  onCheck?(probe: Safeguard, result: SafeguardCheck): void;
}

/**
 * Starts the safeguards. `ready` resolves once the plain (pre-check) ones have
 * run; `stop()` ends the periodic ones.
 */
export function startSafeguards(
  list: readonly Safeguard[],
  opts: SafeguardOptions,
): { ready: Promise<void>; stop(): void } {
  const stopper = new AbortController();
  const { signal } = stopper;
  const run = async (probe: Safeguard) => {
    if (signal.aborted) return;
    let result: SafeguardCheck;
    try {
      result = await opts.check(probe, signal);
    } catch (err) {
      result = { met: false, output: null, reason: (err as Error).message };
    }
    // A check cut short by the run's end says nothing about the system.
    if (signal.aborted) return;
    opts.onCheck?.(probe, result);
    if (!result.met) opts.onBreach(probe, result);
  };
  const loop = async (probe: Safeguard, seconds: number) => {
    while (!signal.aborted) {
      await sleepUntilAborted(secondsToMs(seconds), signal);
      await run(probe);
    }
  };
  const plain = list.filter((p) => !p.background && !p.frequency);
  for (const p of list) {
    if (p.frequency) void loop(p, p.frequency);
    else if (p.background) void run(p);
  }
  return {
    ready: (async () => {
      for (const p of plain) await run(p);
    })(),
    stop: () => stopper.abort(),
  };
}
