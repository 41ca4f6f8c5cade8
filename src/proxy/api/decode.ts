/**
 * Request bodies of the control API, decoded with Toxiproxy's Go structs so
 * type errors read the same (`bad request body: json: cannot unmarshal ...`).
 * Only the shape is checked here; what the values mean (streams, toxic types,
 * attributes, addresses) is the ProxyControl's business.
 */
import { ProxyApiError, type ProxyInput, type ToxicInput } from '../model.js';
import { toxicKinds } from '../toxics/index.js';
import {
  decodeStruct,
  type GoJson,
  GoJsonError,
  type GoStruct,
  kindName,
  parseFirstValue,
  typeErrorMessage,
} from './gojson.js';

const PROXY: GoStruct = {
  goType: 'toxiproxy.Proxy',
  name: 'Proxy',
  fields: {
    name: { kind: 'string' },
    listen: { kind: 'string' },
    upstream: { kind: 'string' },
    enabled: { kind: 'bool' },
  },
};

/** PopulateJson's element: `struct { Proxy; Enabled *bool }` (anonymous, hence the empty struct name). */
const POPULATE_ITEM: GoStruct = {
  goType: 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }',
  name: '',
  fields: PROXY.fields,
};

/** First pass of AddToxicJson: attributes decode into a NoopToxic until the type is known. */
const TOXIC_CREATE: GoStruct = {
  goType: 'toxics.ToxicWrapper',
  name: 'ToxicWrapper',
  fields: {
    attributes: { kind: 'struct', goType: 'toxics.NoopToxic' },
    name: { kind: 'string' },
    type: { kind: 'string' },
    stream: { kind: 'string' },
    toxicity: { kind: 'float32' },
    ttl: { kind: 'int64' },
  },
};

/**
 * The Go struct a toxic's attributes decode into, for update error messages:
 * the kind's own `goName` (toxics/index.ts is the one list). A type no kind
 * has (a ProxyControl of another's) gets Toxiproxy's naming convention.
 */
function toxicGoType(type: string): string {
  const known = toxicKinds.get(type)?.goName;
  if (known) return `toxics.${known}`;
  const pascal = type
    .split(/[_-]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
  return `toxics.${pascal}Toxic`;
}

function badBody(err: unknown): never {
  if (err instanceof GoJsonError) throw new ProxyApiError(400, `bad request body: ${err.message}`);
  throw err;
}

/** Parses the first JSON value of a body; an unreadable body is a 400 `bad request body: ...`. */
export function parseBody(body: Uint8Array): GoJson {
  try {
    return parseFirstValue(body);
  } catch (err) {
    return badBody(err);
  }
}

function decode(value: GoJson, spec: GoStruct): Record<string, unknown> {
  try {
    return decodeStruct(value, spec);
  } catch (err) {
    return badBody(err);
  }
}

const missing = (field: string) => new ProxyApiError(400, `missing required field: ${field}`);

/** `POST /proxies`: name and upstream required (name checked first); `enabled` defaults to true. */
export function decodeProxyCreate(body: Uint8Array): ProxyInput & { name: string; upstream: string } {
  const fields = decode(parseBody(body), PROXY);
  if (typeof fields.name !== 'string' || fields.name.length === 0) throw missing('name');
  if (typeof fields.upstream !== 'string' || fields.upstream.length === 0) throw missing('upstream');
  return { ...fields, name: fields.name, upstream: fields.upstream };
}

/** `POST|PATCH /proxies/{name}`: any subset of listen, upstream, enabled; `name` is ignored, as in Toxiproxy. */
export function decodeProxyUpdate(body: Uint8Array): ProxyInput {
  const { name: _ignored, ...patch } = decode(parseBody(body), PROXY);
  return patch;
}

/** `POST /proxies/{name}/toxics`: the first pass of Toxiproxy's decoding (shape only). */
export function decodeToxicCreate(body: Uint8Array): ToxicInput {
  return decode(parseBody(body), TOXIC_CREATE);
}

/** `POST|PATCH /proxies/{p}/toxics/{t}`: attributes (into the toxic's own struct) and toxicity; the rest is ignored. */
export function decodeToxicUpdate(body: Uint8Array, toxicType: string): ToxicInput {
  const spec: GoStruct = {
    goType:
      'struct { Attributes interface {} "json:\\"attributes\\""; Toxicity float32 "json:\\"toxicity\\"" }',
    name: '',
    fields: {
      attributes: { kind: 'struct', goType: toxicGoType(toxicType) },
      toxicity: { kind: 'float32' },
      ttl: { kind: 'int64' },
    },
  };
  return decode(parseBody(body), spec);
}

/**
 * `POST /populate` and the server's config file: an array of proxies. Every item
 * is checked before anything is created (`missing required field: name at proxy 2`).
 * `null` decodes to an empty list, as in Go.
 */
export function decodePopulate(value: GoJson): ProxyInput[] {
  if (value.t === 'null') return [];
  if (value.t !== 'array') {
    throw new ProxyApiError(
      400,
      `bad request body: ${typeErrorMessage(kindName(value), `[]${POPULATE_ITEM.goType}`)}`,
    );
  }
  const items: ProxyInput[] = [];
  let firstError: unknown;
  for (const item of value.items) {
    try {
      items.push(decodeStruct(item, POPULATE_ITEM));
    } catch (err) {
      firstError ??= err;
      items.push({});
    }
  }
  if (firstError !== undefined) badBody(firstError);
  items.forEach((item, i) => {
    if (typeof item.name !== 'string' || item.name.length === 0) throw missing(`name at proxy ${i + 1}`);
    if (typeof item.upstream !== 'string' || item.upstream.length === 0) {
      throw missing(`upstream at proxy ${i + 1}`);
    }
  });
  return items;
}
