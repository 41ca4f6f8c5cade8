/**
 * Choosing agents: Kubernetes label selectors (structured and the command
 * line's text form) and Chaos Mesh's modes with its rounding, and a seeded
 * fuzz of the selector parser (it only ever throws a FaultlineError naming the selector).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FaultlineError } from '../../src/core/errors.js';
import {
  formatSelector,
  type LabelSelector,
  matchSelector,
  parseSelector,
  parseTargets,
  pickTargets,
  targetCount,
} from '../../src/fleet/select.js';
import { prng } from '../helpers/http-raw.js';

const web = { app: 'payment', tier: 'web', zone: 'a' };
const db = { app: 'payment', tier: 'db', zone: 'b' };
const canary = { app: 'payment', tier: 'web', zone: 'c', canary: 'true' };
const bare = {};

describe('matchSelector', () => {
  const cases: [string, LabelSelector, Record<string, string>, boolean][] = [
    ['empty selector selects all', {}, bare, true],
    ['matchLabels equal', { matchLabels: { app: 'payment' } }, web, true],
    ['matchLabels differ', { matchLabels: { tier: 'db' } }, web, false],
    ['matchLabels missing key', { matchLabels: { app: 'payment' } }, bare, false],
    ['In', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, db, true],
    ['In misses', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, canary, false],
    [
      'In without the label',
      { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
      bare,
      false,
    ],
    ['NotIn', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }, web, true],
    ['NotIn excludes', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }, db, false],
    [
      'NotIn selects the unlabelled',
      { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] },
      bare,
      true,
    ],
    ['Exists', { matchExpressions: [{ key: 'canary', operator: 'Exists' }] }, canary, true],
    ['Exists misses', { matchExpressions: [{ key: 'canary', operator: 'Exists' }] }, web, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, web, true],
    [
      'DoesNotExist misses',
      { matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] },
      canary,
      false,
    ],
    [
      'all parts must hold',
      {
        matchLabels: { app: 'payment' },
        matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }],
      },
      web,
      false,
    ],
    [
      'a prototype key is not a label',
      { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] },
      bare,
      false,
    ],
  ];
  for (const [name, selector, labels, expected] of cases) {
    test(name, () => assert.equal(matchSelector(labels, selector), expected));
  }
});

describe('parseSelector', () => {
  const cases: [string, LabelSelector][] = [
    ['app=payment', { matchLabels: { app: 'payment' } }],
    ['app==payment', { matchLabels: { app: 'payment' } }],
    [
      'app=payment,tier!=db,zone in (a,b),!canary',
      {
        matchLabels: { app: 'payment' },
        matchExpressions: [
          { key: 'tier', operator: 'NotIn', values: ['db'] },
          { key: 'zone', operator: 'In', values: ['a', 'b'] },
          { key: 'canary', operator: 'DoesNotExist' },
        ],
      },
    ],
    [
      ' zone notin ( a , b ) , canary ',
      {
        matchExpressions: [
          { key: 'zone', operator: 'NotIn', values: ['a', 'b'] },
          { key: 'canary', operator: 'Exists' },
        ],
      },
    ],
    ['example.com/team=pay-ments_1.2', { matchLabels: { 'example.com/team': 'pay-ments_1.2' } }],
    ['env=', { matchLabels: { env: '' } }],
    ['', {}],
  ];
  for (const [text, expected] of cases) {
    test(`'${text}'`, () => assert.deepEqual(parseSelector(text), expected));
  }

  const bad: [string, RegExp][] = [
    ['app=a,,tier=b', /empty requirement/],
    ['app=a,', /empty requirement/],
    ['zone in (a,b', /'\(' without its '\)'/],
    ['zone in a,b)', /'\)' without its '\('/],
    ['zone in ((a))', /nested/],
    ['zone in ()', /expected values/],
    ['app=pay ment', /not a label value/],
    ['-app=x', /not a label key/],
    ['app=a=b', /not a label value/],
    ['app=a,app=b', /cannot equal two values/],
    ['!', /not a label key/],
    ['a b c', /expected key=value/],
  ];
  for (const [text, re] of bad) {
    test(`refuses '${text}'`, () => {
      assert.throws(
        () => parseSelector(text, '--on'),
        (err: unknown) => {
          assert.ok(err instanceof FaultlineError);
          assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
          assert.match(err.message, /^--on: selector /);
          assert.match(err.message, re);
          return true;
        },
      );
    });
  }

  test('formatSelector round-trips through parseSelector', () => {
    const s = parseSelector('app=payment,tier!=db,zone in (a,b),!canary,ready');
    assert.deepEqual(parseSelector(formatSelector(s)), s);
  });

  test('fuzz: random text only ever throws a FaultlineError naming the selector', () => {
    const random = prng(16);
    const alphabet = 'ab=!,() in notin.-_/\t\n\u0000é*zone';
    let parsed = 0;
    for (let i = 0; i < 5_000; i++) {
      const len = Math.floor(random() * 40);
      let text = '';
      for (let j = 0; j < len; j++) text += alphabet[Math.floor(random() * alphabet.length)];
      try {
        const s = parseSelector(text, '--on');
        parsed++;
        // What parses must also be usable and survive a round trip.
        matchSelector(web, s);
        assert.deepEqual(parseSelector(formatSelector(s)), s, `round trip of ${JSON.stringify(text)}`);
      } catch (err) {
        assert.ok(err instanceof FaultlineError, `${JSON.stringify(text)} threw ${String(err)}`);
        assert.equal(err.code, 'FAULTLINE_ERR_USAGE');
        assert.ok(err.message.startsWith('--on: selector '), err.message);
        assert.ok(err.message.includes(JSON.stringify(text.slice(0, 80)).slice(1, -1)), err.message);
      }
    }
    assert.ok(parsed > 50, `some random selectors parse (${parsed})`);
  });

  test('a very long selector is refused, not parsed', () => {
    assert.throws(() => parseSelector(`a=${'b,a='.repeat(2000)}b`), /longer than 4096/);
  });
});

describe('modes (Chaos Mesh rounding: down)', () => {
  const agents = Array.from({ length: 10 }, (_, i) => `agent-${i}`);
  const cases: [string, number, Parameters<typeof pickTargets>[1], number][] = [
    ['one', 10, { mode: 'one' }, 1],
    ['all', 10, { mode: 'all' }, 10],
    ['fixed 3', 10, { mode: 'fixed', value: 3 }, 3],
    ['fixed above the count selects all', 4, { mode: 'fixed', value: 9 }, 4],
    ['fixed-percent 30 of 10', 10, { mode: 'fixed-percent', value: 30 }, 3],
    ['fixed-percent 30 of 3 rounds down to 0', 3, { mode: 'fixed-percent', value: 30 }, 0],
    ['fixed-percent 50 of 5 rounds down to 2', 5, { mode: 'fixed-percent', value: 50 }, 2],
    ['fixed-percent 100', 7, { mode: 'fixed-percent', value: 100 }, 7],
    ['none match', 0, { mode: 'all' }, 0],
  ];
  for (const [name, n, targets, expected] of cases) {
    test(name, () => {
      const picked = pickTargets(agents.slice(0, n), targets, prng(1));
      assert.equal(picked.length, expected);
      assert.equal(new Set(picked).size, picked.length, 'no agent twice');
      for (const a of picked) assert.ok(agents.includes(a));
    });
  }

  test('random-max-percent: a whole percentage drawn in [0, P], then rounded down', () => {
    assert.equal(
      targetCount(10, 'random-max-percent', 50, () => 0),
      0,
    );
    assert.equal(
      targetCount(10, 'random-max-percent', 50, () => 0.999999),
      5,
    );
    assert.equal(
      targetCount(10, 'random-max-percent', 50, () => 0.5),
      2,
    ); // floor(0.5*51)=25% -> 2.5 -> 2
    const random = prng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2_000; i++) {
      const k = pickTargets(agents, { mode: 'random-max-percent', value: 40 }, random).length;
      assert.ok(k >= 0 && k <= 4, String(k));
      seen.add(k);
    }
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
  });

  test('one: every agent can be drawn, and the draw is seeded', () => {
    const random = prng(3);
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) seen.add(pickTargets(agents, { mode: 'one' }, random)[0]!);
    assert.equal(seen.size, agents.length);
    assert.deepEqual(
      pickTargets(agents, { mode: 'fixed', value: 4 }, prng(5)),
      pickTargets(agents, { mode: 'fixed', value: 4 }, prng(5)),
    );
  });
});

describe('TargetsSchema', () => {
  test('accepts Chaos Mesh forms, a string value included', () => {
    assert.deepEqual(
      parseTargets({ selector: { matchLabels: { app: 'x' } }, mode: 'fixed-percent', value: '30' }),
      {
        selector: { matchLabels: { app: 'x' } },
        mode: 'fixed-percent',
        value: 30,
      },
    );
    assert.deepEqual(parseTargets({ selector: {}, mode: 'all' }), { selector: {}, mode: 'all' });
  });
  const bad: [string, unknown, RegExp][] = [
    ['unknown mode', { selector: {}, mode: 'some' }, /^targets\.mode: expected one of one, all, fixed/],
    ['value missing', { selector: {}, mode: 'fixed' }, /^targets\.value: mode fixed needs a value/],
    ['value on all', { selector: {}, mode: 'all', value: 2 }, /^targets\.value: mode all takes no value/],
    [
      'percent above 100',
      { selector: {}, mode: 'fixed-percent', value: 130 },
      /^targets\.value: expected a whole percentage from 1 to 100/,
    ],
    ['fractional', { selector: {}, mode: 'fixed', value: 1.5 }, /^targets\.value: expected a whole number/],
    [
      'not a number',
      { selector: {}, mode: 'fixed', value: 'many' },
      /^targets\.value: expected a whole number/,
    ],
    ['zero fixed', { selector: {}, mode: 'fixed', value: 0 }, /^targets\.value: expected at least 1 agent/],
    [
      'In without values',
      { selector: { matchExpressions: [{ key: 'a', operator: 'In' }] }, mode: 'all' },
      /^targets\.selector\.matchExpressions\.0\.values: In needs at least one value/,
    ],
    [
      'bad operator',
      { selector: { matchExpressions: [{ key: 'a', operator: 'Has' }] }, mode: 'all' },
      /^targets\.selector\.matchExpressions\.0\.operator: expected one of In, NotIn/,
    ],
    ['unknown field', { selector: { labels: {} }, mode: 'all' }, /^targets\.selector/],
    [
      'bad label value',
      { selector: { matchLabels: { a: 'b c' } }, mode: 'all' },
      /^targets\.selector\.matchLabels\.a: expected a label value/,
    ],
  ];
  for (const [name, input, re] of bad) {
    test(`refuses: ${name}`, () => {
      assert.throws(
        () => parseTargets(input),
        (err: unknown) => {
          assert.ok(err instanceof FaultlineError);
          assert.equal(err.code, 'FAULTLINE_ERR_VALIDATION');
          assert.match(err.message, re);
          return true;
        },
      );
    });
  }
});
