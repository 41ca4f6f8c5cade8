/**
 * The contract every manifest format implements (issue #19): Chaos Mesh, Litmus,
 * AWS FIS, Istio and Chaos Monkey files become a Faultline experiment whose fault
 * actions run on the fleet's workloads (`targets: {on: workloads, ...}`), and
 * every field of the source gets a note saying what became of it.
 *
 * A translator never throws for what the file says: a field it cannot honour
 * is a `refused` note (run and validate then exit 2 naming it), a field that
 * only concerns Kubernetes plumbing is `warned`, one without effect here is
 * `ignored`, and one honoured is `mapped` with where it went (`to`, a path in
 * the generated experiment). Wrong types, unknown fields, percentages over
 * 100 and durations that do not parse are `refused` notes too.
 */
import type { Activity } from '../core/schema.js';
import type { CronTiming, MonkeyTiming } from '../schedule/index.js';

export const FORMAT_NAMES = ['chaos-mesh', 'litmus', 'aws-fis', 'istio', 'chaos-monkey'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

export type Fate = 'mapped' | 'ignored' | 'warned' | 'refused';

export interface FieldNote {
  /** The field in the source document: `spec.delay.latency`, `spec.experiments[0].spec.probe[1].mode`. */
  path: string;
  fate: Fate;
  /** mapped: where it went in the experiment (`method[0].provider.arguments.delay`), or what it became. */
  to?: string;
  /** Why (ignored, warned, refused: always; mapped: when the mapping is not obvious). */
  why?: string;
}

/** What a `Schedule` or `scheduler.cron` (or the Chaos Monkey config) asks for: a server schedule's spec minus its name and experiment. */
export interface ScheduleSuggestion {
  timing: CronTiming | MonkeyTiming;
  concurrencyPolicy?: 'forbid' | 'allow' | 'replace';
  startingDeadline?: string;
  historyLimit?: number;
  paused?: boolean;
  /** The source field it came from. */
  from: string;
}

export interface Safeguard extends Activity {
  tolerance: NonNullable<Activity['tolerance']>;
  frequency?: number;
}

/** One source document's translation. */
export interface Translation {
  format: FormatName;
  /** The source's kind: `NetworkChaos`, `ChaosEngine`, `ExperimentTemplate`, `VirtualService`, `ChaosMonkey`. */
  kind: string;
  /** metadata.name (or the FIS description), for titles and the journal. */
  name: string;
  namespace?: string;
  title: string;
  description: string;
  /**
   * Fault actions (with `targets:`) and other steps in order. A fault action
   * resolves once the fault is in place and the fault lasts its `duration`
   * argument, so actions one after another run at once: what a sequence needs
   * between steps is the translator's `pauses`.
   */
  method: Activity[];
  /** Seconds the method should wait after its last step for the faults to run their course (the longest duration). */
  hold: number;
  /** Probes for the steady-state hypothesis (checked before and after; Litmus SOT/EOT/Edge). */
  hypothesis?: Activity[];
  /** Probes checked throughout (Litmus Continuous/OnChaos, FIS stop conditions). */
  safeguards?: Safeguard[];
  /** `runtime.hypothesis` settings a translator needs (e.g. strategy continuously). */
  runtime?: Record<string, unknown>;
  /** Configuration the experiment reads as `${name}` (values the user maps with --var: an alarm's query, a service URL). */
  configuration?: Record<string, unknown>;
  schedule?: ScheduleSuggestion;
  /** Limits the source states (Litmus' BLAST_RADIUS): the experiment's `blast_radius`, the tightest across documents. */
  blastRadius?: { max_targets?: number; max_percentage?: number };
  tags?: string[];
  notes: FieldNote[];
}

/** Options a user gives the conversion (through the CLI's --var they reach the experiment's configuration instead). */
export interface TranslateOptions {
  /** The document's index in its YAML stream (0 for a single document). */
  index: number;
}

export interface ManifestFormat {
  name: FormatName;
  /** For messages and docs: `Chaos Mesh`. */
  title: string;
  /** docs page: `docs/manifests/chaos-mesh.md`. */
  doc: string;
  /** Whether this document is this format's (by apiVersion/kind, or the FIS/Chaos Monkey shapes). */
  detect(doc: Record<string, unknown>): boolean;
  translate(doc: Record<string, unknown>, options: TranslateOptions): Translation;
}
