/**
 * The proxy's management model: what the Toxiproxy-compatible control API,
 * the in-process experiment proxies and the CLI all talk to. Shapes and error
 * messages follow Toxiproxy 2.x exactly (see shared reference notes), because
 * existing clients compare them.
 */

/** A toxic as the API shows it (Toxiproxy's key order: attributes, name, type, stream, toxicity). */
export interface ToxicView {
  attributes: Record<string, unknown>;
  name: string;
  type: string;
  stream: string;
  toxicity: number;
  /** Faultline: milliseconds until the toxic removes itself (absent when it has no TTL). */
  ttl?: number;
}

/** A proxy as the API shows it. */
export interface ProxyView {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: ToxicView[];
}

export interface ProxyInput {
  name?: unknown;
  listen?: unknown;
  upstream?: unknown;
  enabled?: unknown;
}

export interface ToxicInput {
  name?: unknown;
  type?: unknown;
  stream?: unknown;
  toxicity?: unknown;
  attributes?: unknown;
  /** Faultline extension: remove the toxic automatically after this many ms. */
  ttl?: unknown;
}

/** An error the control API turns into `{"error": message, "status": status}`. */
export class ProxyApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Populate only: the proxies already processed when it failed. */
    readonly proxies?: ProxyView[],
  ) {
    super(message);
    this.name = 'ProxyApiError';
  }
}

/** Everything the control API needs; implemented by ProxyManager in manager.ts. */
export interface ProxyControl {
  list(): ProxyView[];
  get(name: string): ProxyView;
  create(input: ProxyInput): Promise<ProxyView>;
  update(name: string, patch: ProxyInput): Promise<ProxyView>;
  remove(name: string): Promise<void>;
  populate(items: unknown): Promise<ProxyView[]>;
  reset(): Promise<void>;
  listToxics(proxy: string): ToxicView[];
  getToxic(proxy: string, toxic: string): ToxicView;
  addToxic(proxy: string, input: ToxicInput): ToxicView;
  updateToxic(proxy: string, toxic: string, input: ToxicInput): ToxicView;
  removeToxic(proxy: string, toxic: string): void;
  /** Prometheus text exposition of the proxy metrics. */
  metrics(): string;
  /** Stops every listener and closes every connection. */
  close(): Promise<void>;
}
