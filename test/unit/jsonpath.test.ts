import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  JsonPathSyntaxError,
  parseJsonPath,
  queryJsonPath,
} from '../../src/engine/tolerances/jsonpath-eval.js';

const store = {
  store: {
    book: [
      { category: 'reference', author: 'Nigel Rees', title: 'Sayings of the Century', price: 8.95 },
      { category: 'fiction', author: 'Evelyn Waugh', title: 'Sword of Honour', price: 12.99 },
      {
        category: 'fiction',
        author: 'Herman Melville',
        title: 'Moby Dick',
        isbn: '0-553-21311-3',
        price: 8.99,
      },
      {
        category: 'fiction',
        author: 'J. R. R. Tolkien',
        title: 'The Lord of the Rings',
        isbn: '0-395-19395-8',
        price: 22.99,
      },
    ],
    bicycle: { color: 'red', price: 19.95 },
  },
};
const authors = ['Nigel Rees', 'Evelyn Waugh', 'Herman Melville', 'J. R. R. Tolkien'];
const titles = (values: unknown[]) => values.map((b) => (b as { title: string }).title);

const q = queryJsonPath;

test('root, names, quoted names, indexes', () => {
  assert.deepEqual(q('$', 5), [5]);
  assert.deepEqual(q('$.store.bicycle.color', store), ['red']);
  assert.deepEqual(q("$['store']['bicycle']['color']", store), ['red']);
  assert.deepEqual(q('$["store"].bicycle["color"]', store), ['red']);
  assert.deepEqual(q('$.store.book[0].author', store), ['Nigel Rees']);
  assert.deepEqual(q('$.store.book[-1].author', store), ['J. R. R. Tolkien']);
  assert.deepEqual(q('$.store.book[4]', store), []);
  assert.deepEqual(q('$.store.book[-5]', store), []);
  assert.deepEqual(q('$.nope', store), []);
  assert.deepEqual(q("$['a b']", { 'a b': 1 }), [1]);
  assert.deepEqual(q('$.content-type', { 'content-type': 'x' }), ['x']);
  assert.deepEqual(q('$.a', { a: null }), [null], 'a null value is a match');
});

test('names only select in objects, indexes only in lists', () => {
  assert.deepEqual(q('$.length', [1, 2]), []);
  assert.deepEqual(q("$['0']", [1, 2]), []);
  assert.deepEqual(q('$[0]', { 0: 'x' }), []);
  assert.deepEqual(q('$[0]', 'abc'), []);
});

test('wildcards', () => {
  assert.deepEqual(q('$.store.book[*].author', store), authors);
  assert.deepEqual(q('$.store.book.*.author', store), authors);
  const all = q('$.store.*', store);
  assert.ok(Array.isArray(all[0]));
  assert.equal((all[1] as { color: string }).color, 'red');
  assert.deepEqual(q('$[*]', 'abc'), []);
});

test('recursive descent, in jsonpath2 pre-order', () => {
  assert.deepEqual(q('$..author', store), authors);
  assert.deepEqual(q('$.store..price', store), [8.95, 12.99, 8.99, 22.99, 19.95]);
  assert.deepEqual(titles(q('$..book[2]', store)), ['Moby Dick']);
  assert.deepEqual(q('$..a', { a: 1, b: { a: 2, c: [{ a: 3 }] } }), [1, 2, 3]);
  assert.deepEqual(q('$..*', { a: { b: 1 }, c: [2] }), [{ b: 1 }, [2], 1, 2]);
  assert.deepEqual(q("$..['x','y']", { x: 1, n: { y: 2 } }), [1, 2]);
});

test('slices, with jsonpath2 index resolution', () => {
  assert.deepEqual(titles(q('$..book[-1:]', store)), ['The Lord of the Rings']);
  assert.deepEqual(titles(q('$..book[3:4:1]', store)), ['The Lord of the Rings']);
  assert.deepEqual(titles(q('$..book[:2]', store)), ['Sayings of the Century', 'Sword of Honour']);
  assert.deepEqual(titles(q('$..book[:2:]', store)), ['Sayings of the Century', 'Sword of Honour']);
  assert.deepEqual(titles(q('$..book[::2]', store)), ['Sayings of the Century', 'Moby Dick']);
  assert.deepEqual(titles(q('$..book[2::]', store)), ['Moby Dick', 'The Lord of the Rings']);
  assert.deepEqual(q('$[1:3]', [0, 1, 2, 3]), [1, 2]);
  assert.deepEqual(q('$[3:1:-1]', [0, 1, 2, 3]), [3, 2]);
  assert.deepEqual(q('$[0:10]', [0, 1]), [0, 1]);
  // jsonpath2 resolves each index like [n], so a very negative start wraps around
  assert.deepEqual(q('$[-3:]', [0, 1]), [1, 0, 1]);
  assert.deepEqual(q('$[1:]', { a: 1 }), []);
});

test('unions keep the order written', () => {
  assert.deepEqual(titles(q('$..book[0,1]', store)), ['Sayings of the Century', 'Sword of Honour']);
  assert.deepEqual(q('$[2,0]', ['a', 'b', 'c']), ['c', 'a']);
  assert.deepEqual(q("$['b','a']", { a: 1, b: 2 }), [2, 1]);
  assert.deepEqual(q('$[0, 1:3, -1]', [0, 1, 2, 3]), [0, 1, 2, 3]);
});

test('filters: jsonpath2 style [*][?()] with = equality', () => {
  assert.deepEqual(titles(q('$..book[*][?(@.isbn)]', store)), ['Moby Dick', 'The Lord of the Rings']);
  assert.deepEqual(titles(q('$..book[*][?(@.price<10)]', store)), ['Sayings of the Century', 'Moby Dick']);
  assert.deepEqual(titles(q('$..book[*][?(@.price<=8.99)]', store)), ['Sayings of the Century', 'Moby Dick']);
  assert.deepEqual(titles(q('$..book[*][?(@.price>12.99)]', store)), ['The Lord of the Rings']);
  assert.deepEqual(titles(q('$..book[*][?(@.price>=12.99)]', store)), [
    'Sword of Honour',
    'The Lord of the Rings',
  ]);
  assert.deepEqual(titles(q('$..book[*][?(@.author = "Nigel Rees")]', store)), ['Sayings of the Century']);
  assert.deepEqual(titles(q('$..book[*][?(@.category != "fiction")]', store)), ['Sayings of the Century']);
});

test('filters: Goessner style on a list tests its items; on an object tests the object', () => {
  assert.deepEqual(titles(q('$.store.book[?(@.price < 10)]', store)), [
    'Sayings of the Century',
    'Moby Dick',
  ]);
  assert.deepEqual(titles(q("$.store.book[?(@.author == 'Herman Melville')]", store)), ['Moby Dick']);
  assert.deepEqual(q('$.store.bicycle[?(@.color = "red")].price', store), [19.95]);
  assert.deepEqual(q('$.store.bicycle[?(@.color = "blue")]', store), []);
  assert.deepEqual(q('$[?(@.a = 1)]', { a: 1 }), [{ a: 1 }]);
  // under .. every node is visited once, so the filter tests each node itself (no duplicates)
  assert.equal(q('$..[?(@.isbn)]', store).length, 2);
});

test('filters: and/or/not, parentheses, jsonpath2 precedence (or binds tighter)', () => {
  const data = {
    items: [
      { a: 1, b: 1 },
      { a: 1, b: 2 },
      { a: 2, b: 2 },
    ],
  };
  assert.equal(q('$.items[*][?(@.a = 1 and @.b = 2)]', data).length, 1);
  assert.equal(q('$.items[*][?(@.a = 2 or @.b = 1)]', data).length, 2);
  assert.equal(q('$.items[?(@.a == 1 && @.b == 1)]', data).length, 1);
  assert.equal(q('$.items[?(@.a == 2 || @.b == 1)]', data).length, 2);
  assert.equal(q('$.items[*][?(not @.a = 1)]', data).length, 1);
  assert.equal(q('$.items[?(!(@.a == 1))]', data).length, 1);
  // jsonpath2: "a and b or c" is "a and (b or c)"
  assert.equal(q('$.items[*][?(@.a = 2 and @.b = 1 or @.b = 2)]', data).length, 1);
  assert.equal(q('$.items[*][?((@.a = 2 and @.b = 1) or @.b = 2)]', data).length, 2);
  // existence, not truthiness: a false @.bar exists
  assert.deepEqual(q('$[?(not (@.bar or (@.fiz > 2 and @.biz > 2)))]', { hello: 'x' }), [{ hello: 'x' }]);
  assert.deepEqual(q('$[?(not (@.bar or (@.fiz > 2 and @.biz > 2)))]', { bar: false }), []);
});

test('filters: literals, Python equality, numbers-only ordering', () => {
  const data = [{ v: true }, { v: 1 }, { v: 1.0 }, { v: '1' }, { v: null }, { v: [1, 2] }, { v: { k: 'x' } }];
  assert.equal(q('$[?(@.v = 1)]', data).length, 3, 'true == 1 == 1.0 in Python');
  assert.equal(q('$[?(@.v = "1")]', data).length, 1);
  assert.equal(q('$[?(@.v = null)]', data).length, 1);
  assert.equal(q('$[?(@.v = [1, 2])]', data).length, 1);
  assert.equal(q('$[?(@.v = {"k": "x"})]', data).length, 1);
  assert.equal(q('$[?(@.v < 2)]', data).length, 3, 'booleans order as 0/1; strings never');
  assert.equal(q('$[?(@.v > "a")]', data).length, 0);
  assert.equal(q('$[?(@.v != 1)]', data).length, 4);
  assert.equal(q('$[?(@.v = -1.5e0)]', [{ v: -1.5 }]).length, 1);
  assert.equal(q('$[?(@.v = "a\\"b")]', [{ v: 'a"b' }]).length, 1);
  assert.equal(q("$[?(@.v = 'it\\'s')]", [{ v: "it's" }]).length, 1);
});

test('filters: existence, $ root references, nested paths, literal truthiness', () => {
  const data = { min: 2, items: [{ n: 1, tags: [] }, { n: 3 }, { n: 5, meta: { ok: false } }] };
  assert.equal(q('$.items[?(@.tags)]', data).length, 1, 'an empty list still exists');
  assert.equal(q('$.items[?(@.meta.ok)]', data).length, 1, 'false still exists');
  assert.equal(q('$.items[?(@.meta.ok = false)]', data).length, 1);
  assert.deepEqual(q('$.items[?(@.n > $.min)].n', data), [3, 5]);
  assert.equal(q('$.items[?(@.tags[0])]', data).length, 0);
  assert.equal(q('$.items[?(true)]', data).length, 3);
  assert.equal(q('$.items[?(0)]', data).length, 0);
  assert.equal(q('$.items[?(0 = 0)]', data).length, 3);
  assert.equal(q('$.items[?(@..ok)]', data).length, 1);
  assert.equal(q('$.items[*][?(@.n = 1)][?(@.tags)]', data).length, 1);
});

test('whitespace between tokens is ignored, as in jsonpath2', () => {
  assert.deepEqual(q(' $ . store . bicycle [ "color" ] ', store), ['red']);
  assert.equal(q('$.store.book[ ? ( @.price < 10 ) ]', store).length, 2);
});

test('parse errors name the problem and its position', () => {
  const bad: [string, RegExp, number][] = [
    ['', /must start with '\$', found the end of the path/, 0],
    ['store.book', /must start with '\$', found 's'/, 0],
    ['$.', /expected a property name or '\*' after '\.', found the end/, 2],
    ['$..', /after '\.\.'/, 3],
    ['$[', /expected a name, an index, a slice/, 2],
    ['$[]', /expected a name, an index, a slice/, 2],
    ['$[0', /expected ',' or ']'/, 3],
    ['$[1.5]', /an index must be an integer/, 2],
    ['$[::0]', /slice step cannot be zero/, 4],
    ['$["abc]', /unterminated string/, 2],
    ['$.a b', /unexpected 'b'/, 4],
    ['$[?(@.a = )]', /expected a path or a value, found '\)'/, 10],
    ['$[?(@.a = 1]', /expected '\)' to close the filter, found '\]'/, 11],
    ['$[?@.a]', /expected '\(' after '\?'/, 3],
    ['$.length()', /functions such as length\(\) are not supported/, 8],
    ['$[@.a]', /paths used as subscripts are not supported/, 2],
    ['$["\\q"]', /invalid escape \\q/, 3],
  ];
  for (const [path, message, position] of bad) {
    assert.throws(
      () => parseJsonPath(path),
      (err: unknown) => {
        assert.ok(err instanceof JsonPathSyntaxError, `${path}: ${String(err)}`);
        assert.match(err.message, message, path);
        assert.equal(err.position, position, `${path}: ${err.message}`);
        assert.match(err.message, new RegExp(`at position ${position}: `));
        return true;
      },
    );
  }
});

test('a parsed path can be reused', () => {
  const px = parseJsonPath('$.a');
  assert.equal(px.source, '$.a');
  assert.deepEqual(px.match({ a: 1 }), [1]);
  assert.deepEqual(px.match({ a: 2 }), [2]);
});
