/**
 * OTLP traces without an OpenTelemetry dependency: the data model Faultline
 * exports, and a minimal protobuf encoder for `ExportTraceServiceRequest`
 * (opentelemetry-proto: collector/trace/v1, trace/v1, common/v1, resource/v1).
 * Field numbers are those of the .proto files; proto3 defaults are omitted.
 */

/** An attribute value: strings, booleans, integers (int64) and doubles. */
export type AttrValue = string | number | boolean;
export type Attributes = Record<string, AttrValue>;

export const SPAN_KIND_INTERNAL = 1;
export const STATUS_CODE_UNSET = 0;
export const STATUS_CODE_OK = 1;
export const STATUS_CODE_ERROR = 2;

export interface OtlpEvent {
  timeUnixNano: bigint;
  name: string;
  attributes: Attributes;
}

export interface OtlpSpan {
  /** 16 bytes. */
  traceId: Uint8Array;
  /** 8 bytes. */
  spanId: Uint8Array;
  /** 8 bytes; absent on the root span. */
  parentSpanId?: Uint8Array;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  events: OtlpEvent[];
  status: { code: number; message?: string };
}

/** One resource, one instrumentation scope, its spans: what one run exports. */
export interface TraceBatch {
  resource: Attributes;
  scope: { name: string; version: string };
  spans: OtlpSpan[];
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;

const U64_MAX = (1n << 64n) - 1n;

/** An append-only protobuf writer (wire format only; messages nest through `message()`). */
export class ProtoWriter {
  #buf = Buffer.allocUnsafe(256);
  #len = 0;

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  /** An unsigned varint (numbers up to 2^53, bigints up to 2^64 - 1; negative bigints as two's complement). */
  varint(value: number | bigint): this {
    let v = typeof value === 'bigint' ? value : BigInt(value);
    if (v < 0n) v = BigInt.asUintN(64, v);
    if (v > U64_MAX) throw new RangeError(`varint out of range: ${value}`);
    this.#ensure(10);
    while (v > 0x7fn) {
      this.#buf[this.#len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buf[this.#len++] = Number(v);
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  /** `fixed64`: 8 bytes little-endian. */
  fixed64(field: number, value: bigint): this {
    this.tag(field, WIRE_I64);
    this.#ensure(8);
    this.#buf.writeBigUInt64LE(BigInt.asUintN(64, value), this.#len);
    this.#len += 8;
    return this;
  }

  /** `double`: 8 bytes little-endian IEEE 754. */
  double(field: number, value: number): this {
    this.tag(field, WIRE_I64);
    this.#ensure(8);
    this.#buf.writeDoubleLE(value, this.#len);
    this.#len += 8;
    return this;
  }

  /** `int64`, `uint32`, `bool` or an enum: a varint field. */
  uint(field: number, value: number | bigint): this {
    return this.tag(field, WIRE_VARINT).varint(value);
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN).varint(value.length);
    this.#ensure(value.length);
    this.#buf.set(value, this.#len);
    this.#len += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  /** A length-delimited sub-message written by `write`. */
  message(field: number, write: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}

/** AnyValue: string_value=1, bool_value=2, int_value=3, double_value=4. */
function anyValue(w: ProtoWriter, value: AttrValue): void {
  if (typeof value === 'string') w.string(1, value);
  else if (typeof value === 'boolean') w.uint(2, value ? 1 : 0);
  else if (Number.isSafeInteger(value)) w.uint(3, BigInt(value));
  else w.double(4, value);
}

/** repeated KeyValue{key=1, value=2} at `field`. */
function keyValues(w: ProtoWriter, field: number, attrs: Attributes): void {
  for (const [key, value] of Object.entries(attrs)) {
    w.message(field, (kv) => {
      kv.string(1, key);
      kv.message(2, (v) => anyValue(v, value));
    });
  }
}

function span(w: ProtoWriter, s: OtlpSpan): void {
  w.bytes(1, s.traceId);
  w.bytes(2, s.spanId);
  if (s.parentSpanId) w.bytes(4, s.parentSpanId);
  w.string(5, s.name);
  if (s.kind !== 0) w.uint(6, s.kind);
  w.fixed64(7, s.startTimeUnixNano);
  w.fixed64(8, s.endTimeUnixNano);
  keyValues(w, 9, s.attributes);
  for (const e of s.events) {
    w.message(11, (ev) => {
      ev.fixed64(1, e.timeUnixNano);
      ev.string(2, e.name);
      keyValues(ev, 3, e.attributes);
    });
  }
  if (s.status.code !== STATUS_CODE_UNSET || s.status.message) {
    w.message(15, (st) => {
      if (s.status.message) st.string(2, s.status.message);
      if (s.status.code !== STATUS_CODE_UNSET) st.uint(3, s.status.code);
    });
  }
}

/**
 * ExportTraceServiceRequest{resource_spans=1: ResourceSpans{resource=1: Resource{attributes=1},
 * scope_spans=2: ScopeSpans{scope=1: InstrumentationScope{name=1, version=2}, spans=2}}}.
 */
export function encodeExportTraceRequest(batch: TraceBatch): Uint8Array {
  const w = new ProtoWriter();
  w.message(1, (rs) => {
    rs.message(1, (r) => keyValues(r, 1, batch.resource));
    rs.message(2, (ss) => {
      ss.message(1, (sc) => {
        sc.string(1, batch.scope.name);
        if (batch.scope.version) sc.string(2, batch.scope.version);
      });
      for (const s of batch.spans) ss.message(2, (m) => span(m, s));
    });
  });
  return w.finish();
}
