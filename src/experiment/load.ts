/**
 * Loading an experiment from a local path or an http(s) URL, as Chaos Toolkit
 * does: the extension (or the reply's Content-Type) picks the parser. Faultline
 * also loads TypeScript/JavaScript modules whose default export is the experiment.
 */
import { stat } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Dispatcher } from 'undici';
import { FaultlineError } from '../core/errors.js';
import { decodeText, MAX_SOURCE_BYTES, shapeProblem, type TextFormat } from '../core/parse.js';
import { readSourceFile, tooLarge } from '../core/read-source.js';
import {
  type LoadedManifest,
  ManifestRefusedError,
  parseDocuments,
  resolveDocuments,
} from './manifest-source.js';

export { readSourceFile };

import type { DocPath, Position } from '../core/positions.js';

export interface LoadedSource {
  /** The document as parsed (a manifest's: the experiment it was translated into); not yet validated. */
  raw: unknown;
  /** The path or URL as given. */
  source: string;
  /** Directory relative paths in the experiment resolve against (cwd for URLs). */
  baseDir: string;
  format: 'json' | 'yaml' | 'module';
  /**
   * Where the value at `path` is written (or its nearest existing ancestor); undefined for modules.
   * For a manifest: where the source field it was translated from is written.
   */
  positionOf(path: DocPath): Position | undefined;
  /** Set when the source is other tools' manifests (issue #19): what each field became, and schedules. */
  manifest?: LoadedManifest;
}

export interface LoadOptions {
  /** false disables certificate checks for fetching the experiment only (`--no-verify-tls`). */
  verifyTls?: boolean;
  /** Where the loader bearer token is read from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Network timeout for URLs, default 30 s. */
  timeoutMs?: number;
  /**
   * A manifest with refused fields loads anyway (for `validate` and `convert`, which show them);
   * by default it throws ManifestRefusedError, so nothing runs a manifest with a field dropped.
   */
  keepRefused?: boolean;
}

export const SUPPORTED_EXTENSIONS = ['.json', '.yaml', '.yml', '.ts', '.mts', '.js', '.mjs'] as const;

const TEXT_EXTENSIONS: Record<string, TextFormat> = { '.json': 'json', '.yaml': 'yaml', '.yml': 'yaml' };
const MODULE_EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

/** A local .ts/.js experiment: loading it runs its code (validate refuses it unless told to import). */
export function isCodeSource(source: string): boolean {
  return !/^https?:\/\//i.test(source) && MODULE_EXTENSIONS.has(extname(source).toLowerCase());
}

/**
 * Loads (reads and parses, without validating) an experiment.
 *
 * @example
 * const loaded = await loadExperimentSource('experiments/latency.yaml');
 * const { experiment, issues } = await validateExperiment(loaded);
 */
export async function loadExperimentSource(source: string, opts: LoadOptions = {}): Promise<LoadedSource> {
  const loaded = /^https?:\/\//i.test(source) ? await loadUrl(source, opts) : await loadPath(source);
  if (loaded.manifest && loaded.manifest.refused.length > 0 && !opts.keepRefused)
    throw new ManifestRefusedError(source, loaded.manifest);
  guardTopLevel(loaded);
  return loaded;
}

/** Text to a LoadedSource: one experiment as before, or the experiment a manifest stream becomes. */
async function fromText(
  text: string,
  format: TextFormat,
  source: string,
  baseDir: string,
): Promise<LoadedSource> {
  const resolved = await resolveDocuments(parseDocuments(text, format, source), source);
  return {
    raw: resolved.raw,
    source,
    baseDir,
    format,
    positionOf: resolved.positionOf,
    ...(resolved.kind === 'manifest' ? { manifest: resolved.manifest } : {}),
  };
}

async function loadPath(path: string): Promise<LoadedSource> {
  const ext = extname(path).toLowerCase();
  const abs = resolve(path);
  const baseDir = dirname(abs);
  const textFormat = TEXT_EXTENSIONS[ext];
  if (!textFormat && !MODULE_EXTENSIONS.has(ext)) {
    throw new FaultlineError(
      'FAULTLINE_ERR_LOAD',
      `Cannot load "${path}": only files with ${SUPPORTED_EXTENSIONS.join(', ')} extensions are supported`,
    );
  }
  if (textFormat) {
    return fromText(await readSourceFile(path), textFormat, path, baseDir);
  }
  try {
    await stat(abs);
  } catch (err) {
    throw new FaultlineError('FAULTLINE_ERR_LOAD', `Path "${path}" does not exist`, { cause: err });
  }
  const raw = await importModule(abs, ext, path);
  return { raw, source: path, baseDir, format: 'module', positionOf: () => undefined };
}

async function importModule(abs: string, ext: string, source: string): Promise<unknown> {
  const url = pathToFileURL(abs).href;
  let mod: Record<string, unknown>;
  try {
    if (ext === '.ts' || ext === '.mts') {
      let tsImport: (specifier: string, parent: string) => Promise<any>;
      try {
        ({ tsImport } = await import('tsx/esm/api'));
      } catch (err) {
        throw new FaultlineError(
          'FAULTLINE_ERR_LOAD',
          `Cannot load "${source}": TypeScript experiments need the tsx package installed`,
          { cause: err },
        );
      }
      mod = await tsImport(url, import.meta.url);
    } else {
      mod = await import(url);
    }
  } catch (err) {
    if (err instanceof FaultlineError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    // esbuild (through tsx) reports TypeScript syntax errors as "Transform failed".
    const syntax = err instanceof SyntaxError || /Transform failed/.test(msg);
    throw new FaultlineError(
      syntax ? 'FAULTLINE_ERR_PARSE' : 'FAULTLINE_ERR_LOAD',
      `Cannot load "${source}": ${msg.split('\n')[0]}`,
      { cause: err },
    );
  }
  let value = mod.default;
  if (value === undefined) {
    throw new FaultlineError(
      'FAULTLINE_ERR_LOAD',
      `Cannot load "${source}": the module has no default export (export default defineExperiment({...}))`,
    );
  }
  // A default-exported (async) factory is called once.
  if (typeof value === 'function') {
    try {
      value = await (value as () => unknown)();
    } catch (err) {
      throw new FaultlineError(
        'FAULTLINE_ERR_LOAD',
        `Cannot load "${source}": its default export threw: ${(err as Error)?.message ?? String(err)}`,
        { cause: err },
      );
    }
  }
  const problem = shapeProblem(value);
  if (problem) throw new FaultlineError('FAULTLINE_ERR_LOAD', `Cannot load "${source}": ${problem}`);
  return value;
}

// ---------------------------------------------------------------- URLs

async function loadUrl(url: string, opts: LoadOptions): Promise<LoadedSource> {
  const env = opts.env ?? process.env;
  const token = env.CHAOSTOOLKIT_LOADER_AUTH_BEARER_TOKEN || env.FAULTLINE_LOADER_AUTH_BEARER_TOKEN;
  const headers: Record<string, string> = { accept: 'application/json, application/x-yaml' };
  if (token) headers.authorization = `Bearer ${token}`;
  const timeout = opts.timeoutMs ?? 30_000;
  // undici only when a URL is loaded: a local file need not pay for loading it at startup
  // (issue #14 item 3).
  const { Agent, request } = await import('undici');
  const agent = opts.verifyTls === false ? new Agent({ connect: { rejectUnauthorized: false } }) : undefined;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: 'GET',
      headers,
      maxRedirections: 5,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      ...(agent ? { dispatcher: agent } : {}),
    });
  } catch (err) {
    await agent?.close().catch(() => {});
    throw new FaultlineError('FAULTLINE_ERR_LOAD', `Cannot fetch ${url}: ${describeNetError(err)}`, {
      cause: err,
    });
  }
  try {
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => {});
      throw new FaultlineError(
        'FAULTLINE_ERR_LOAD',
        `Cannot fetch ${url}: the server answered HTTP ${res.statusCode}`,
      );
    }
    const length = Number(res.headers['content-length']);
    if (Number.isFinite(length) && length > MAX_SOURCE_BYTES) {
      await res.body.dump().catch(() => {});
      throw tooLarge(url, length);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).byteLength;
        if (size > MAX_SOURCE_BYTES) {
          res.body.destroy();
          throw tooLarge(url, size);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof FaultlineError) throw err;
      throw new FaultlineError('FAULTLINE_ERR_LOAD', `Cannot fetch ${url}: ${describeNetError(err)}`, {
        cause: err,
      });
    }
    const text = decodeText(Buffer.concat(chunks), url);
    const contentType = String(res.headers['content-type'] ?? '').toLowerCase();
    return parseFetched(text, contentType, url);
  } finally {
    await agent?.close().catch(() => {});
  }
}

function describeNetError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const code = (err as { code?: string }).code;
  const base = code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  return cause instanceof Error && !base.includes(cause.message) ? `${base}: ${cause.message}` : base;
}

async function parseFetched(text: string, contentType: string, url: string): Promise<LoadedSource> {
  const baseDir = process.cwd();
  const make = (format: TextFormat) => fromText(text, format, url, baseDir);
  if (contentType.includes('application/json') || contentType.includes('+json')) return make('json');
  if (/(application|text)\/(x-)?yaml/.test(contentType)) return make('yaml');
  if (contentType.includes('text/plain')) {
    try {
      return await make('json');
    } catch {
      return make('yaml');
    }
  }
  // Unknown or missing Content-Type: fall back on the URL's extension.
  let ext = '';
  try {
    ext = extname(new URL(url).pathname).toLowerCase();
  } catch {}
  const byExt = TEXT_EXTENSIONS[ext];
  if (byExt) return make(byExt);
  throw new FaultlineError(
    'FAULTLINE_ERR_LOAD',
    `Cannot load ${url}: unsupported Content-Type "${contentType || 'none'}" (expected application/json, application/x-yaml, text/yaml or text/plain)`,
  );
}

// ---------------------------------------------------------------- top level

function guardTopLevel(loaded: LoadedSource): void {
  const raw = loaded.raw;
  const pos = () => {
    const p = loaded.positionOf([]);
    return p ? { line: p.line, column: p.column } : {};
  };
  if (raw === null || raw === undefined || (isPlainObject(raw) && Object.keys(raw).length === 0)) {
    const message = 'an empty experiment is not an experiment';
    throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `${loaded.source}: ${message}`, {
      issues: [{ path: '', message, ...pos() }],
    });
  }
  if (!isPlainObject(raw)) {
    const message = `expected an object (the experiment) at the top level, got ${describeType(raw)}`;
    throw new FaultlineError('FAULTLINE_ERR_VALIDATION', `${loaded.source}: ${message}`, {
      issues: [{ path: '', message, ...pos() }],
    });
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}
