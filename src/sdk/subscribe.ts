/**
 * The consumer side of experiment control: polls a control endpoint
 * (`GET <url>/faultline/sdk/v1/services/<service>/faults`) or reads a file,
 * and applies the SdkControlDocument when its version is newer than the last
 * one applied. Rules keep their `expires_at`: when the endpoint goes away the
 * last rules lapse by themselves. `halted: true` drops every rule of every
 * source and refuses new ones until a newer document lifts it.
 *
 * Requests use node:http/https as they were when the SDK loaded, so the
 * SDK's own faults never apply to its control traffic.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { FaultlineError } from '../core/errors.js';
import type { FaultRegistry } from './core.js';
import { originalRequest } from './http.js';
import { type SdkControlDocument, SdkControlDocumentSchema, SERVICE_NAME_RE } from './rules.js';

export interface SubscribeOptions {
  /** The service name the control plane knows this process by. */
  service: string;
  /** Base URL of the control endpoint (the Faultline server), e.g. http://faultline:8474. */
  url?: string;
  /** Or a file holding the SdkControlDocument. */
  file?: string;
  /** Sent as `Authorization: Bearer <token>`. Default: FAULTLINE_SDK_TOKEN, else FAULTLINE_PROXY_TOKEN (the server's). */
  token?: string;
  /** Poll interval (ms, default 2000). */
  intervalMs?: number;
  /** Per-request timeout (ms, default 2000). */
  requestTimeoutMs?: number;
}

export const CONTROL_SOURCE = 'control';

/** A running subscription. */
export class Subscription {
  /** Version of the last document applied (undefined before the first). */
  version: number | undefined;
  /** The last poll's error, cleared by a successful poll. */
  lastError: string | undefined;
  /** Resolves after the first poll (applied or failed). */
  readonly ready: Promise<void>;

  readonly #core: FaultRegistry;
  readonly #opts: Required<Pick<SubscribeOptions, 'service' | 'intervalMs' | 'requestTimeoutMs'>> &
    SubscribeOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #polling: Promise<void> | undefined;

  constructor(core: FaultRegistry, options: SubscribeOptions) {
    if (!SERVICE_NAME_RE.test(options.service))
      throw new FaultlineError(
        'FAULTLINE_ERR_CONFIG',
        `subscribe: invalid service name "${options.service}"`,
      );
    if ((options.url === undefined) === (options.file === undefined))
      throw new FaultlineError('FAULTLINE_ERR_CONFIG', 'subscribe: give exactly one of `url` and `file`');
    if (options.url !== undefined && !/^https?:\/\//.test(options.url))
      throw new FaultlineError(
        'FAULTLINE_ERR_CONFIG',
        `subscribe: url must be http(s), got "${options.url}"`,
      );
    this.#core = core;
    this.#opts = {
      ...options,
      intervalMs: options.intervalMs ?? 2000,
      requestTimeoutMs: options.requestTimeoutMs ?? 2000,
    };
    // The control server and the runner read FAULTLINE_PROXY_TOKEN: one variable is enough.
    const envToken = process.env.FAULTLINE_SDK_TOKEN || process.env.FAULTLINE_PROXY_TOKEN;
    if (this.#opts.token === undefined && envToken) this.#opts.token = envToken;
    this.ready = this.poll().then(() => this.#schedule());
  }

  /** Polls once now (also what the timer does). */
  poll(): Promise<void> {
    this.#polling ??= this.#pollOnce().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  /** Stops polling. The rules applied stay until they expire; `clear: true` drops them now. */
  stop(options: { clear?: boolean } = {}): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (options.clear) this.#core.clearSource(CONTROL_SOURCE);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.poll().then(() => this.#schedule());
    }, this.#opts.intervalMs);
    this.#timer.unref();
  }

  async #pollOnce(): Promise<void> {
    const { service } = this.#opts;
    let doc: SdkControlDocument;
    try {
      const text =
        this.#opts.file !== undefined ? await readFile(this.#opts.file, 'utf8') : await this.#get();
      const parsed = SdkControlDocumentSchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`invalid control document: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
      }
      doc = parsed.data;
      if (doc.service !== service) throw new Error(`control document is for service "${doc.service}"`);
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      this.#core.emit('control', { service, ok: false, error: this.lastError });
      return;
    }
    this.lastError = undefined;
    const applied = this.version === undefined || doc.version > this.version;
    if (applied) {
      try {
        if (doc.halted) {
          this.#core.halt(`control document v${doc.version} for ${service} is halted`);
        } else {
          if (this.#core.halted !== undefined) this.#core.halt(undefined);
          this.#core.setRules(CONTROL_SOURCE, doc.faults);
        }
        this.version = doc.version;
      } catch (error) {
        // The kill switch refuses rules: keep the version unapplied and say why.
        this.lastError = error instanceof Error ? error.message : String(error);
        this.#core.emit('control', { service, ok: false, version: doc.version, error: this.lastError });
        return;
      }
    }
    this.#core.emit('control', {
      service,
      ok: true,
      version: doc.version,
      halted: doc.halted === true,
      faults: doc.faults.length,
      applied,
    });
  }

  #get(): Promise<string> {
    const url = new URL(
      `${this.#opts.url!.replace(/\/+$/, '')}/faultline/sdk/v1/services/${encodeURIComponent(this.#opts.service)}/faults`,
    );
    const request = url.protocol === 'https:' ? originalRequest.https : originalRequest.http;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#opts.token) headers.authorization = `Bearer ${this.#opts.token}`;
    return new Promise<string>((resolve, reject) => {
      const req = request(
        url,
        { method: 'GET', headers, timeout: this.#opts.requestTimeoutMs },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 0) >= 300)
              reject(new Error(`control endpoint answered ${res.statusCode}: ${body.slice(0, 200)}`));
            else resolve(body);
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(new Error(`control endpoint timed out after ${this.#opts.requestTimeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end();
    });
  }
}
