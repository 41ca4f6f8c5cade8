/**
 * A minimal protobuf decoder for the tests: the wire format (varint, 64-bit,
 * length-delimited, 32-bit), and OTLP's ExportTraceServiceRequest read with
 * the field numbers of opentelemetry-proto, written independently of the
 * encoder under test.
 */

export interface WireField {
  field: number;
  wire: number;
  /** Varint fields (wire 0), and the raw 64/32-bit little-endian value (wire 1/5). */
  int?: bigint;
  /** Wire 1 and 5: the raw bytes (doubles and fixed64 read them). */
  raw?: Buffer;
  /** Wire 2: the payload. */
  bytes?: Buffer;
}

export function readVarint(buf: Buffer, pos: number): { value: bigint; next: number } {
  let value = 0n;
  let shift = 0n;
  for (let i = pos; i < buf.length; i++) {
    const b = buf[i] as number;
    value |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
    shift += 7n;
    if (shift > 63n) throw new Error(`varint longer than 10 bytes at ${pos}`);
  }
  throw new Error(`truncated varint at ${pos}`);
}

/** Every field of one message, in order; throws on truncation or an unknown wire type. */
export function decodeFields(input: Uint8Array): WireField[] {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const out: WireField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const tag = readVarint(buf, pos);
    pos = tag.next;
    const field = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    if (field === 0) throw new Error('field number 0');
    if (wire === 0) {
      const v = readVarint(buf, pos);
      out.push({ field, wire, int: v.value });
      pos = v.next;
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (pos + n > buf.length) throw new Error(`truncated fixed${n * 8} at ${pos}`);
      const raw = buf.subarray(pos, pos + n);
      out.push({ field, wire, raw, int: n === 8 ? raw.readBigUInt64LE() : BigInt(raw.readUInt32LE()) });
      pos += n;
    } else if (wire === 2) {
      const len = readVarint(buf, pos);
      const start = len.next;
      const end = start + Number(len.value);
      if (end > buf.length) throw new Error(`length ${len.value} at ${pos} runs past the end`);
      out.push({ field, wire, bytes: buf.subarray(start, end) });
      pos = end;
    } else {
      throw new Error(`unsupported wire type ${wire} at ${pos}`);
    }
  }
  return out;
}

// ------------------------------------------------------------------ OTLP

export type Value = string | boolean | number | undefined;

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  start: bigint;
  end: bigint;
  attributes: Record<string, Value>;
  events: { time: bigint; name: string; attributes: Record<string, Value> }[];
  status: { code: number; message?: string };
}

export interface DecodedRequest {
  resource: Record<string, Value>;
  scope: { name: string; version?: string };
  spans: DecodedSpan[];
}

const str = (f: WireField) => (f.bytes ?? Buffer.alloc(0)).toString('utf8');
const hex = (f: WireField) => (f.bytes ?? Buffer.alloc(0)).toString('hex');

/** AnyValue{string_value=1, bool_value=2, int_value=3, double_value=4}. */
function anyValue(bytes: Buffer | undefined): Value {
  const [f] = decodeFields(bytes ?? Buffer.alloc(0));
  if (!f) return undefined;
  if (f.field === 1 && f.wire === 2) return str(f);
  if (f.field === 2 && f.wire === 0) return f.int === 1n;
  if (f.field === 3 && f.wire === 0) return Number(BigInt.asIntN(64, f.int ?? 0n));
  if (f.field === 4 && f.wire === 1) return (f.raw as Buffer).readDoubleLE();
  throw new Error(`unexpected AnyValue field ${f.field} (wire ${f.wire})`);
}

/** KeyValue{key=1, value=2} fields into a record. */
function keyValues(fields: WireField[], field: number): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const f of fields) {
    if (f.field !== field) continue;
    const kv = decodeFields(f.bytes as Buffer);
    const key = kv.find((k) => k.field === 1);
    const value = kv.find((k) => k.field === 2);
    if (!key) throw new Error('KeyValue without a key');
    out[str(key)] = anyValue(value?.bytes);
  }
  return out;
}

function span(bytes: Buffer): DecodedSpan {
  const fs = decodeFields(bytes);
  const one = (n: number) => fs.find((f) => f.field === n);
  const parent = one(4);
  const status = one(15);
  const st = status ? decodeFields(status.bytes as Buffer) : [];
  const message = st.find((f) => f.field === 2);
  return {
    traceId: hex(one(1) as WireField),
    spanId: hex(one(2) as WireField),
    ...(parent ? { parentSpanId: hex(parent) } : {}),
    name: str(one(5) as WireField),
    kind: Number(one(6)?.int ?? 0n),
    start: (one(7) as WireField).int as bigint,
    end: (one(8) as WireField).int as bigint,
    attributes: keyValues(fs, 9),
    events: fs
      .filter((f) => f.field === 11)
      .map((f) => {
        const ev = decodeFields(f.bytes as Buffer);
        return {
          time: ev.find((e) => e.field === 1)?.int ?? 0n,
          name: str(ev.find((e) => e.field === 2) as WireField),
          attributes: keyValues(ev, 3),
        };
      }),
    status: {
      code: Number(st.find((f) => f.field === 3)?.int ?? 0n),
      ...(message ? { message: str(message) } : {}),
    },
  };
}

/**
 * ExportTraceServiceRequest{resource_spans=1: ResourceSpans{resource=1: Resource{attributes=1},
 * scope_spans=2: ScopeSpans{scope=1: {name=1, version=2}, spans=2}}}, one resource and scope expected.
 */
export function decodeExportTraceRequest(body: Uint8Array): DecodedRequest {
  const top = decodeFields(body);
  const rs = top.filter((f) => f.field === 1);
  if (rs.length !== 1) throw new Error(`expected one ResourceSpans, got ${rs.length}`);
  const rsf = decodeFields(rs[0]?.bytes as Buffer);
  const resource = rsf.find((f) => f.field === 1);
  const ss = rsf.filter((f) => f.field === 2);
  if (ss.length !== 1) throw new Error(`expected one ScopeSpans, got ${ss.length}`);
  const ssf = decodeFields(ss[0]?.bytes as Buffer);
  const scope = decodeFields(ssf.find((f) => f.field === 1)?.bytes as Buffer);
  const version = scope.find((f) => f.field === 2);
  return {
    resource: keyValues(decodeFields(resource?.bytes ?? Buffer.alloc(0)), 1),
    scope: {
      name: str(scope.find((f) => f.field === 1) as WireField),
      ...(version ? { version: str(version) } : {}),
    },
    spans: ssf.filter((f) => f.field === 2).map((f) => span(f.bytes as Buffer)),
  };
}
