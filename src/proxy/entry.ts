/** A toxic as configured on a proxy (the API's view of it), shared by every link it acts on. */
import type { LongTimeout } from '../core/timers.js';
import type { ToxicView } from './model.js';
import type { Direction, ToxicKind } from './toxic.js';

export class ToxicEntry {
  /** Links (connection directions) on which the toxicity roll succeeded. */
  applied = 0;
  /** `performance.now()` deadline of the TTL, or null. */
  ttlDeadline: number | null = null;
  ttlTimer: LongTimeout | null = null;

  constructor(
    readonly kind: ToxicKind<any>,
    readonly name: string,
    /** As the client sent it (`"UPSTREAM"` stays `"UPSTREAM"`). */
    readonly stream: string,
    readonly direction: Direction,
    public toxicity: number,
    public attributes: Record<string, unknown>,
  ) {}

  /**
   * The toxicity roll, as Toxiproxy does it (`rand < toxicity`), once per link
   * when the toxic is attached to it, and again only when `toxicity` changes.
   */
  roll(): boolean {
    return Math.random() < this.toxicity;
  }

  view(): ToxicView {
    const view: ToxicView = {
      attributes: { ...this.attributes },
      name: this.name,
      type: this.kind.type,
      stream: this.stream,
      toxicity: this.toxicity,
    };
    if (this.ttlDeadline !== null) view.ttl = Math.max(0, Math.round(this.ttlDeadline - performance.now()));
    return view;
  }

  clearTtl(): void {
    this.ttlTimer?.clear();
    this.ttlTimer = null;
    this.ttlDeadline = null;
  }
}
