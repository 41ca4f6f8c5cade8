/**
 * The consumer side of experiment control: polls a control endpoint
 * (`GET <url>/faultline/sdk/v1/services/<service>/faults`) or reads a file,
 * and applies the SdkControlDocument when its version is newer than the last
 * one applied, or when it comes from another epoch (a restarted server).
 * `halted: true` drops every rule of every source and refuses new ones until
 * a newer document lifts it, whatever its version.
 *
 * The control server is not trusted to behave (docs/security.md#sdk): each
 * poll is bounded in bytes and in total time and polling always goes on; a
 * version far beyond the clock is refused; a rule's expiry is clamped to
 * `maxLeaseMs` beyond the last poll that confirmed it, so rules lapse soon
 * after the endpoint goes away; injected delays are capped (core.ts delayFor).
 *
 * Requests use node:http/https as they were when the SDK loaded, so the
 * SDK's own faults never apply to its control traffic.
 */
import { open } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { FaultlineError } from '../core/errors.js';
import type { FaultRegistry } from './core.js';
import { originalRequest } from './http.js';
import {
  type SdkControlDocument,
  SdkControlDocumentSchema,
  type SdkFaultRule,
  SERVICE_NAME_RE,
} from './rules.js';

/** Default largest control document read (bytes): far above 100 rules, far below what hurts a service. */
export const DEFAULT_MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
/** Default longest life of a rule beyond the last poll that served it. */
export const DEFAULT_MAX_LEASE_MS = 120_000;
/** A version more than this ahead of the clock (ms) is refused: it would hide every later document. */
export const MAX_VERSION_AHEAD_MS = 86_400_000;

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
  /** Deadline of each poll, from connecting to the last byte (ms, default 2000). */
  requestTimeoutMs?: number;
  /** Largest document read (bytes, default 4 MiB); a longer one is aborted and counts as a failed poll. */
  maxDocumentBytes?: number;
  /** A rule lives at most this long (ms, default 120000) beyond the last poll that served it. */
  maxLeaseMs?: number;
}

export const CONTROL_SOURCE = 'control';

/** A running subscription. */
export class Subscription {
  /** Version of the last document applied (undefined before the first). */
  version: number | undefined;
  /** Epoch of the last document applied (undefined when the server sends none). */
  epoch: string | undefined;
  /** The last poll's error, cleared by a successful poll. */
  lastError: string | undefined;
  /** Resolves after the first poll (applied or failed). */
  readonly ready: Promise<void>;

  readonly #core: FaultRegistry;
  readonly #opts: Required<
    Pick<SubscribeOptions, 'service' | 'intervalMs' | 'requestTimeoutMs' | 'maxDocumentBytes' | 'maxLeaseMs'>
  > &
    SubscribeOptions;
  /** The rules of the document applied, as served (their expiries are clamped again at each poll). */
  #served: SdkFaultRule[] = [];
  /** Whether this subscription put the registry in a halt. */
  #halting = false;
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
    for (const key of ['intervalMs', 'requestTimeoutMs', 'maxDocumentBytes', 'maxLeaseMs'] as const) {
      const v = options[key];
      if (v !== undefined && !(Number.isInteger(v) && v > 0 && v <= 2_147_483_647))
        throw new FaultlineError(
          'FAULTLINE_ERR_CONFIG',
          `subscribe: ${key} must be a whole number from 1 to 2147483647, got ${String(v)}`,
        );
    }
    this.#core = core;
    this.#opts = {
      ...options,
      intervalMs: options.intervalMs ?? 2000,
      requestTimeoutMs: options.requestTimeoutMs ?? 2000,
      maxDocumentBytes: options.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES,
      maxLeaseMs: options.maxLeaseMs ?? DEFAULT_MAX_LEASE_MS,
    };
    // The control server and the runner read FAULTLINE_PROXY_TOKEN: one variable is enough.
    const envToken = process.env.FAULTLINE_SDK_TOKEN || process.env.FAULTLINE_PROXY_TOKEN;
    if (this.#opts.token === undefined && envToken) this.#opts.token = envToken;
    this.ready = this.poll().then(
      () => this.#schedule(),
      () => this.#schedule(),
    );
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
    // Whatever a poll does (fails, throws), the next one is scheduled.
    this.#timer = setTimeout(() => {
      void this.poll().then(
        () => this.#schedule(),
        () => this.#schedule(),
      );
    }, this.#opts.intervalMs);
    this.#timer.unref();
  }

  async #pollOnce(): Promise<void> {
    const { service } = this.#opts;
    let doc: SdkControlDocument;
    try {
      const text = this.#opts.file !== undefined ? await this.#read(this.#opts.file) : await this.#get();
      const parsed = SdkControlDocumentSchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`invalid control document: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
      }
      doc = parsed.data;
      if (doc.service !== service) throw new Error(`control document is for service "${doc.service}"`);
    } catch (error) {
      this.#fail(error);
      return;
    }
    const now = Date.now();
    // A version beyond the clock would make every later document look old (halts excepted, below).
    const absurd = doc.version > now + MAX_VERSION_AHEAD_MS;
    const newEpoch = this.version !== undefined && doc.epoch !== this.epoch;
    let applied = false;
    try {
      if (doc.halted) {
        // A halt is obeyed whatever its version: stopping faults is always safe.
        if (!this.#halting || this.#core.halted === undefined) {
          this.#core.halt(`control document v${doc.version} for ${service} is halted`);
          applied = true;
        }
        this.#halting = true;
        this.#served = [];
        if (!absurd) this.#record(doc);
      } else if (absurd) {
        throw new Error(
          `control document version ${doc.version} is more than ${MAX_VERSION_AHEAD_MS} ms ahead of the clock (expected a version such as the current time in ms)`,
        );
      } else if (this.version === undefined || newEpoch || doc.version > this.version) {
        if (this.#core.halted !== undefined) this.#core.halt(undefined);
        this.#halting = false;
        this.#core.setRules(CONTROL_SOURCE, this.#leased(doc.faults, now));
        this.#served = doc.faults;
        this.#record(doc);
        applied = true;
      } else if (doc.version === this.version && this.#served.length > 0) {
        // The server still serves what was applied: its rules live another lease.
        this.#core.setRules(CONTROL_SOURCE, this.#leased(this.#served, now));
      }
    } catch (error) {
      // The kill switch refuses rules, or the version is refused: keep the version unapplied and say why.
      this.#fail(error, doc.version);
      return;
    }
    this.lastError = undefined;
    this.#core.emit('control', {
      service,
      ok: true,
      version: doc.version,
      halted: doc.halted === true,
      faults: doc.faults.length,
      applied,
      ...(doc.epoch === undefined ? {} : { epoch: doc.epoch }),
    });
  }

  #record(doc: SdkControlDocument): void {
    this.version = doc.version;
    this.epoch = doc.epoch;
  }

  #fail(error: unknown, version?: number): void {
    this.lastError = error instanceof Error ? error.message : String(error);
    this.#core.emit('control', {
      service: this.#opts.service,
      ok: false,
      ...(version === undefined ? {} : { version }),
      error: this.lastError,
    });
  }

  /** The rules with their expiry clamped to `maxLeaseMs` from now: the server must keep confirming them. */
  #leased(rules: readonly SdkFaultRule[], now: number): SdkFaultRule[] {
    const bound = now + this.#opts.maxLeaseMs;
    return rules.map((rule) =>
      Date.parse(rule.expires_at) > bound ? { ...rule, expires_at: new Date(bound).toISOString() } : rule,
    );
  }

  /** Reads the control file, refusing one longer than maxDocumentBytes (a device such as /dev/zero too). */
  async #read(path: string): Promise<string> {
    const max = this.#opts.maxDocumentBytes;
    const handle = await open(path, 'r');
    try {
      const buf = Buffer.alloc(Math.min(max + 1, 64 * 1024));
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
        if (total > max)
          throw new Error(`control file ${path} is larger than ${max} bytes (maxDocumentBytes)`);
        chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
      }
      return Buffer.concat(chunks).toString('utf8');
    } finally {
      await handle.close();
    }
  }

  /** One GET, aborted beyond maxDocumentBytes or after requestTimeoutMs in total (a trickle included). */
  #get(): Promise<string> {
    const { maxDocumentBytes: max, requestTimeoutMs: deadline } = this.#opts;
    const url = new URL(
      `${this.#opts.url!.replace(/\/+$/, '')}/faultline/sdk/v1/services/${encodeURIComponent(this.#opts.service)}/faults`,
    );
    const request = url.protocol === 'https:' ? originalRequest.https : originalRequest.http;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#opts.token) headers.authorization = `Bearer ${this.#opts.token}`;
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | undefined, body?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) {
          req.destroy();
          reject(error);
        } else resolve(body ?? '');
      };
      const req = request(url, { method: 'GET', headers, timeout: deadline }, (res: IncomingMessage) => {
        const declared = Number(res.headers['content-length']);
        if (declared > max) {
          finish(new Error(`control endpoint sent ${declared} bytes, more than ${max} (maxDocumentBytes)`));
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (c: Buffer) => {
          total += c.length;
          if (total > max)
            finish(new Error(`control endpoint sent more than ${max} bytes (maxDocumentBytes)`));
          else chunks.push(c);
        });
        res.on('error', (e) => finish(e));
        res.on('aborted', () => finish(new Error('control endpoint closed the response early')));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300)
            finish(new Error(`control endpoint answered ${res.statusCode}: ${body.slice(0, 200)}`));
          else finish(undefined, body);
        });
      });
      // The socket's idle timeout does not bound a response that trickles; this deadline does.
      const timer = setTimeout(
        () => finish(new Error(`control endpoint did not answer in full within ${deadline} ms`)),
        deadline,
      );
      req.on('timeout', () => finish(new Error(`control endpoint timed out after ${deadline} ms`)));
      req.on('error', (e) => finish(e));
      req.end();
    });
  }
}
