/** Go's encoding/json behaviour as the control API needs it: messages word for word, struct decoding, escaping. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodePopulate,
  decodeProxyCreate,
  decodeToxicCreate,
  decodeToxicUpdate,
} from '../../src/proxy/api/decode.js';
import { errorJson, proxyMapJson } from '../../src/proxy/api/encode.js';
import {
  decodeStruct,
  foldName,
  fromPlain,
  GoJsonError,
  goStringify,
  parseFirstValue,
  quoteChar,
  toPlain,
} from '../../src/proxy/api/gojson.js';
import { ProxyApiError } from '../../src/proxy/model.js';
import { prng } from '../helpers/http-raw.js';

const parse = (s: string | Buffer) => toPlain(parseFirstValue(Buffer.from(s)));
const message = (s: string | Buffer) => {
  try {
    parseFirstValue(Buffer.from(s));
  } catch (err) {
    assert.ok(err instanceof GoJsonError, String(err));
    return err.message;
  }
  return 'ok';
};

test('syntax errors read like Go scanner errors', () => {
  const cases: [string, string][] = [
    ['', 'EOF'],
    [' \t\r\n', 'EOF'],
    ['{', 'unexpected EOF'],
    ['{"a":1', 'unexpected EOF'],
    ['"abc', 'unexpected EOF'],
    ['-', 'unexpected EOF'],
    ['1.', 'unexpected EOF'],
    ['tr', 'unexpected EOF'],
    ['x', "invalid character 'x' looking for beginning of value"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 "b"}', `invalid character '"' after object key:value pair`],
    ['{"a":01}', "invalid character '1' after object key:value pair"],
    ['[1 2]', "invalid character '2' after array element"],
    ['[1,]', "invalid character ']' looking for beginning of value"],
    ['{,}', "invalid character ',' looking for beginning of object key string"],
    ['{"a":1,}', "invalid character '}' looking for beginning of object key string"],
    ['"a\tb"', "invalid character '\\t' in string literal"],
    ['"\\x"', "invalid character 'x' in string escape code"],
    ['"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"],
    ['-a', "invalid character 'a' in numeric literal"],
    ['1.e', "invalid character 'e' after decimal point in numeric literal"],
    ['1e+x', "invalid character 'x' in exponent of numeric literal"],
    ['nul!', "invalid character '!' in literal null (expecting 'l')"],
    ['fals3', "invalid character '3' in literal false (expecting 'e')"],
    ["'a'", "invalid character '\\'' looking for beginning of value"],
    ['\x01', "invalid character '\\x01' looking for beginning of value"],
    ['\u00e9', "invalid character 'Ã' looking for beginning of value"],
    ['['.repeat(10_001), "invalid character '[' exceeded max depth"],
  ];
  for (const [input, expected] of cases) assert.equal(message(input), expected, JSON.stringify(input));
  assert.equal(message('['.repeat(10_000)), 'unexpected EOF', 'exactly the maximum depth is fine');
  assert.equal(quoteChar(0x22), `'"'`);
});

test('only the first value is read: trailing bytes are ignored, as with json.Decoder', () => {
  assert.deepEqual(parse('{"a":1} garbage'), { a: 1 });
  assert.deepEqual(parse('[1]]]]'), [1]);
  assert.equal(parse('12abc'), 12);
  assert.equal(parse('01'), 0);
  assert.equal(parse('truex'), true);
});

test('strings: escapes, surrogate pairs, lone surrogates become U+FFFD, invalid UTF-8 too', () => {
  assert.equal(parse('"a\\n\\t\\"\\\\\\/\\b\\f\\r"'), 'a\n\t"\\/\b\f\r');
  assert.equal(parse('"\\ud83d\\ude00"'), '😀');
  assert.equal(parse('"\\ud83dx"'), '\ufffdx');
  assert.equal(parse('"\\ude00\\ud83d"'), '\ufffd\ufffd');
  assert.equal(parse(Buffer.from([0x22, 0xff, 0x41, 0x22])), '\ufffdA');
  assert.equal(parse('"é😀"'), 'é😀');
});

test('property: for any input JSON.parse accepts whole, the value is the same', () => {
  const rand = prng(20240611);
  const atoms = [
    '0',
    '-0',
    '1',
    '-12.5e3',
    '1E-2',
    'true',
    'false',
    'null',
    '""',
    '"x"',
    '"\\u00e9"',
    '{}',
    '[]',
  ];
  const gen = (depth: number): string => {
    const r = rand();
    if (depth > 4 || r < 0.4) return atoms[Math.floor(rand() * atoms.length)]!;
    const n = Math.floor(rand() * 4);
    const ws = () => [' ', '', '\n', '\t'][Math.floor(rand() * 4)]!;
    if (r < 0.7) return `[${ws()}${Array.from({ length: n }, () => gen(depth + 1)).join(`,${ws()}`)}]`;
    return `{${Array.from({ length: n }, (_, i) => `${ws()}"k${i % 3}"${ws()}:${gen(depth + 1)}`).join(',')}}`;
  };
  for (let i = 0; i < 2000; i++) {
    const text = gen(0);
    assert.deepEqual(parse(text), JSON.parse(text), text);
  }
  // Random bytes: either a value or a GoJsonError, never anything else.
  for (let i = 0; i < 3000; i++) {
    const bytes = Buffer.from(
      Array.from({ length: Math.floor(rand() * 24) }, () => Math.floor(rand() * 256)),
    );
    message(bytes);
    const mutated = Buffer.from(gen(0));
    if (mutated.length) mutated[Math.floor(rand() * mutated.length)] = Math.floor(rand() * 256);
    message(mutated);
  }
});

test('struct decoding: exact then case-insensitive keys, unknown keys ignored, null leaves a field, first error wins', () => {
  const spec = {
    goType: 'toxiproxy.Proxy',
    name: 'Proxy',
    fields: { name: { kind: 'string' as const }, enabled: { kind: 'bool' as const } },
  };
  const d = (s: string) => decodeStruct(parseFirstValue(Buffer.from(s)), spec);
  assert.deepEqual(d('{"NaMe":"a","other":[1,2],"enabled":null}'), { name: 'a' });
  assert.deepEqual(d('{"name":"a","NAME":"b"}'), { name: 'b' }, 'the later key wins');
  assert.deepEqual(d('{"ſtuff":1,"nameſ":1}'), {});
  assert.deepEqual(d('null'), {});
  assert.throws(() => d('{"name":1,"enabled":"x"}'), {
    message: 'json: cannot unmarshal number into Go struct field Proxy.name of type string',
  });
  assert.throws(() => d('"x"'), {
    message: 'json: cannot unmarshal string into Go value of type toxiproxy.Proxy',
  });
  assert.equal(foldName('ſtream'), foldName('STREAM'), "Go folds 'ſ' to 'S'");
  assert.equal(foldName('\u212aey'), 'KEY', 'and the Kelvin sign to K');
});

test('request decoders: numbers by Go type, missing fields, populate items', () => {
  const body = (v: unknown) => Buffer.from(JSON.stringify(v));
  assert.deepEqual(
    decodeToxicCreate(body({ type: 'latency', toxicity: 0.2, ttl: 1000, attributes: { a: 1 } })),
    {
      type: 'latency',
      toxicity: 0.2,
      ttl: 1000,
      attributes: { a: 1 },
    },
  );
  const err = (fn: () => unknown, status: number, msg: string) =>
    assert.throws(fn, (e: unknown) => e instanceof ProxyApiError && e.status === status && e.message === msg);
  err(
    () => decodeToxicCreate(Buffer.from('{"toxicity":1e39}')),
    400,
    'bad request body: json: cannot unmarshal number 1e39 into Go struct field ToxicWrapper.toxicity of type float32',
  );
  err(
    () => decodeToxicCreate(Buffer.from('{"ttl":1.5}')),
    400,
    'bad request body: json: cannot unmarshal number 1.5 into Go struct field ToxicWrapper.ttl of type int64',
  );
  err(
    () => decodeToxicCreate(Buffer.from('{"ttl":9223372036854775808}')),
    400,
    'bad request body: json: cannot unmarshal number 9223372036854775808 into Go struct field ToxicWrapper.ttl of type int64',
  );
  err(
    () => decodeToxicUpdate(Buffer.from('{"attributes":[]}'), 'slow_close'),
    400,
    'bad request body: json: cannot unmarshal array into Go struct field .attributes of type toxics.SlowCloseToxic',
  );
  err(() => decodeProxyCreate(Buffer.from('{"upstream":"x"}')), 400, 'missing required field: name');
  assert.deepEqual(decodePopulate(fromPlain(null)), []);
  err(
    () => decodePopulate(fromPlain([{ name: 'a', upstream: 'b' }, null])),
    400,
    'missing required field: name at proxy 2',
  );
  err(
    () => decodePopulate(fromPlain([{ name: 'a', upstream: 'b' }, 'x'])),
    400,
    'bad request body: json: cannot unmarshal string into Go value of type struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }',
  );
  assert.deepEqual(decodePopulate(fromPlain([{ Name: 'a', UPSTREAM: 'b', enabled: null, toxics: [1] }])), [
    { name: 'a', upstream: 'b' },
  ]);
});

test('encoding: Go escaping, bytewise-sorted maps whatever the names, error bodies', () => {
  assert.equal(goStringify({ a: '<&>\u2028' }), '{"a":"\\u003c\\u0026\\u003e\\u2028"}');
  const p = (name: string) => ({ name, listen: 'l', upstream: 'u', enabled: true, toxics: [] });
  const map = proxyMapJson([p('b'), p('10'), p('9'), p('__proto__'), p('B')]);
  assert.deepEqual(
    [...map.matchAll(/"([^"]+)":\{/g)].map((m) => m[1]),
    ['10', '9', 'B', '__proto__', 'b'],
  );
  assert.equal(errorJson('x', 400), '{"error":"x","status":400}');
  assert.equal(errorJson('x', 400, null), '{"error":"x","status":400,"proxies":null}');
});
