/**
 * The protobuf encoder behind OTLP/HTTP protobuf export: varints, fixed64,
 * doubles, nested lengths, and a whole ExportTraceServiceRequest read back
 * with the independent decoder in test/helpers/protobuf.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  encodeExportTraceRequest,
  ProtoWriter,
  SPAN_KIND_INTERNAL,
  STATUS_CODE_ERROR,
  STATUS_CODE_UNSET,
  type TraceBatch,
} from '../../src/observe/otlp-proto.js';
import { decodeExportTraceRequest, decodeFields, readVarint } from '../helpers/protobuf.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const varint = (v: number | bigint) => hex(new ProtoWriter().varint(v).finish());

test('varints: 7 bits a byte, little end first, continuation bit on all but the last', () => {
  assert.equal(varint(0), '00');
  assert.equal(varint(1), '01');
  assert.equal(varint(127), '7f');
  assert.equal(varint(128), '8001');
  assert.equal(varint(150), '9601');
  assert.equal(varint(300), 'ac02');
  assert.equal(varint(16_383), 'ff7f');
  assert.equal(varint(16_384), '808001');
  assert.equal(varint(2 ** 32), '8080808010');
  assert.equal(varint(Number.MAX_SAFE_INTEGER), 'ffffffffffffff0f');
  assert.equal(varint((1n << 64n) - 1n), 'ffffffffffffffffff01');
  // int64 -1 is ten bytes of two's complement.
  assert.equal(varint(-1n), 'ffffffffffffffffff01');
  assert.throws(() => new ProtoWriter().varint(1n << 64n), RangeError);
  for (const v of [0n, 1n, 300n, 1n << 35n, (1n << 64n) - 1n]) {
    const bytes = Buffer.from(new ProtoWriter().varint(v).finish());
    assert.deepEqual(readVarint(bytes, 0), { value: v, next: bytes.length });
  }
});

test('tags: field number << 3 | wire type', () => {
  assert.equal(hex(new ProtoWriter().uint(1, 150).finish()), '089601');
  assert.equal(hex(new ProtoWriter().uint(6, 1).finish()), '3001');
  // Field 16 needs a two-byte tag.
  assert.equal(hex(new ProtoWriter().uint(16, 1).finish()), '800101');
  assert.equal(hex(new ProtoWriter().string(2, 'testing').finish()), '120774657374696e67');
});

test('fixed64 and double: 8 bytes little-endian after a wire-type-1 tag', () => {
  assert.equal(hex(new ProtoWriter().fixed64(7, 0x0102030405060708n).finish()), '390807060504030201');
  // A nanosecond timestamp past 2^53 survives exactly.
  const ns = 1_700_000_000_123_456_789n;
  const [f] = decodeFields(new ProtoWriter().fixed64(8, ns).finish());
  assert.equal(f?.field, 8);
  assert.equal(f?.wire, 1);
  assert.equal(f?.int, ns);
  assert.equal(hex(new ProtoWriter().double(4, 1.5).finish()), '21000000000000f83f');
});

test('strings count UTF-8 bytes, not characters', () => {
  assert.equal(hex(new ProtoWriter().string(1, 'é').finish()), '0a02c3a9');
});

test('nested messages carry their byte length, also past one varint byte', () => {
  // KeyValue{key: "a", value: AnyValue{string_value: "b"}}
  const kv = new ProtoWriter()
    .string(1, 'a')
    .message(2, (v) => v.string(1, 'b'))
    .finish();
  assert.equal(hex(kv), '0a016112030a0162');
  const long = 'x'.repeat(200);
  const outer = new ProtoWriter()
    .message(1, (m) => m.message(2, (n) => n.string(3, long)))
    .uint(4, 7)
    .finish();
  const [f1, f4] = decodeFields(outer);
  assert.equal(f1?.field, 1);
  assert.equal(f1?.bytes?.length, 1 + 2 + 1 + 2 + 200);
  assert.equal(f4?.int, 7n);
  const [inner] = decodeFields(f1?.bytes as Buffer);
  const [leaf] = decodeFields(inner?.bytes as Buffer);
  assert.equal(leaf?.bytes?.toString(), long);
  // An empty sub-message is a zero length.
  assert.equal(hex(new ProtoWriter().message(3, () => {}).finish()), '1a00');
  // The buffer grows past its first allocation.
  const big = new ProtoWriter().string(1, 'y'.repeat(10_000)).finish();
  assert.equal(big.length, 1 + 2 + 10_000);
});

test('an ExportTraceServiceRequest decodes back to the batch', () => {
  const traceId = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
  const batch: TraceBatch = {
    resource: { 'service.name': 'faultline', 'host.name': 'h' },
    scope: { name: 'faultline', version: '1.2.3' },
    spans: [
      {
        traceId,
        spanId: Buffer.from('1111111111111111', 'hex'),
        name: 'faultline run t',
        kind: SPAN_KIND_INTERNAL,
        startTimeUnixNano: 1_700_000_000_000_000_000n,
        endTimeUnixNano: 1_700_000_001_500_000_000n,
        attributes: { s: 'v', b: true, f: false, i: 42, neg: -3, d: 0.25 },
        events: [
          { timeUnixNano: 1_700_000_000_500_000_000n, name: 'faultline.safeguard', attributes: { n: 'x' } },
        ],
        status: { code: STATUS_CODE_ERROR, message: 'boom' },
      },
      {
        traceId,
        spanId: Buffer.from('2222222222222222', 'hex'),
        parentSpanId: Buffer.from('1111111111111111', 'hex'),
        name: 'method',
        kind: SPAN_KIND_INTERNAL,
        startTimeUnixNano: 1n,
        endTimeUnixNano: 2n,
        attributes: {},
        events: [],
        status: { code: STATUS_CODE_UNSET },
      },
    ],
  };
  const decoded = decodeExportTraceRequest(encodeExportTraceRequest(batch));
  assert.deepEqual(decoded.resource, { 'service.name': 'faultline', 'host.name': 'h' });
  assert.deepEqual(decoded.scope, { name: 'faultline', version: '1.2.3' });
  assert.equal(decoded.spans.length, 2);
  const [root, child] = decoded.spans;
  assert.deepEqual(root, {
    traceId: '0102030405060708090a0b0c0d0e0f10',
    spanId: '1111111111111111',
    name: 'faultline run t',
    kind: 1,
    start: 1_700_000_000_000_000_000n,
    end: 1_700_000_001_500_000_000n,
    attributes: { s: 'v', b: true, f: false, i: 42, neg: -3, d: 0.25 },
    events: [{ time: 1_700_000_000_500_000_000n, name: 'faultline.safeguard', attributes: { n: 'x' } }],
    status: { code: 2, message: 'boom' },
  });
  assert.equal(child?.parentSpanId, '1111111111111111');
  // An unset status is omitted, as proto3 omits defaults.
  assert.deepEqual(child?.status, { code: 0 });
});
