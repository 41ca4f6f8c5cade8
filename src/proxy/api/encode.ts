/**
 * Response bodies in Toxiproxy's exact shapes: keys in Go's struct order
 * whatever order the ProxyControl built them in, maps sorted by key bytes,
 * Go's HTML-safe string escaping.
 */
import type { ProxyView, ToxicView } from '../model.js';
import { goEscape, goStringify } from './gojson.js';

/** `{"attributes","name","type","stream","toxicity"}`, plus Faultline's `ttl` when the toxic has one. */
export function toxicObject(t: ToxicView): Record<string, unknown> {
  return {
    attributes: t.attributes ?? {},
    name: t.name,
    type: t.type,
    stream: t.stream,
    toxicity: t.toxicity,
    ...(t.ttl === undefined ? {} : { ttl: t.ttl }),
  };
}

/** `{"name","listen","upstream","enabled","toxics"}`; `toxics` is always an array. */
export function proxyObject(p: ProxyView): Record<string, unknown> {
  return {
    name: p.name,
    listen: p.listen,
    upstream: p.upstream,
    enabled: p.enabled,
    toxics: (p.toxics ?? []).map(toxicObject),
  };
}

export const toxicJson = (t: ToxicView): string => goStringify(toxicObject(t));
export const proxyJson = (p: ProxyView): string => goStringify(proxyObject(p));
export const toxicsJson = (list: ToxicView[]): string => goStringify(list.map(toxicObject));

/**
 * `GET /proxies`: an object keyed by name, keys sorted bytewise as Go sorts map
 * keys. Built by hand because a JavaScript object would move integer-like names first.
 */
export function proxyMapJson(list: ProxyView[]): string {
  const sorted = [...list].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  return `{${sorted.map((p) => `${goStringify(p.name)}:${proxyJson(p)}`).join(',')}}`;
}

/** `{"error": message, "status": status}` (with `proxies` for /populate; `null` when none, as Go's nil slice). */
export function errorJson(message: string, status: number, proxies?: ProxyView[] | null): string {
  const base = `{"error":${goStringify(message)},"status":${status}`;
  if (proxies === undefined) return `${base}}`;
  return `${base},"proxies":${proxies === null || proxies.length === 0 ? 'null' : populateList(proxies)}}`;
}

function populateList(proxies: ProxyView[]): string {
  return goEscape(JSON.stringify(proxies.map(proxyObject)));
}

/** `/populate` success: `{"proxies":[...]}`, or `{"proxies":null}` for an empty input. */
export function populateJson(proxies: ProxyView[]): string {
  return `{"proxies":${proxies.length === 0 ? 'null' : populateList(proxies)}}`;
}
