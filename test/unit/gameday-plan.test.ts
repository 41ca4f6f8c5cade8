/** Game-day plan files: the schema, the cross-checks, positions of issues, the JSON Schema, and fuzzed input. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { stringify } from 'yaml';
import {
  GAMEDAY_SCHEMA_ID,
  type GameDayPlan,
  parsePlan,
  participantsFor,
  planJsonSchema,
  validatePlan,
} from '../../src/gameday/plan.js';

const EXAMPLE = new URL('../../examples/gameday/plan.yaml', import.meta.url);

const BASE = `name: checkout-failover
title: Checkout survives losing its primary database
objective: Learn whether checkout fails over
hypothesis: Failover within 2 minutes
participants:
  - { name: alice, role: incident-commander }
  - { name: bob, role: technical-lead }
  - { name: carol, role: scribe }
steps:
  - { id: baseline, kind: manual, title: Dashboards green, owner: technical-lead }
  - { id: kill-primary, kind: experiment, experiment: pg-kill.yaml, owner: bob }
  - { id: soak, kind: wait, duration: 30s }
  - id: go-on
    kind: decision
    question: Continue to phase 2?
    owner: incident-commander
    options: [{ label: continue }, { label: stop, then: rollback }, { label: again, then: kill-primary }]
success_criteria:
  - { id: failover, description: Failover within 2 minutes, measure: { kind: recovery_time, step: kill-primary, max: 2m } }
  - { id: errors, description: Error rate below 1%, measure: { kind: error_rate, step: kill-primary, max: 0.01 } }
  - { id: comms, description: Status page updated, measure: { kind: manual } }
rollback:
  description: Promote the old primary back
  steps:
    - { id: promote, kind: manual, owner: alice }
follow_ups: [ "Write the runbook", { text: Alert on failover, owner: bob } ]
`;

function ok(text: string): GameDayPlan {
  const r = parsePlan(text, 'plan.yaml');
  if (!r.ok) assert.fail(JSON.stringify(r.issues, null, 2));
  return r.plan;
}

function issues(text: string) {
  const r = parsePlan(text, 'plan.yaml');
  assert.equal(r.ok, false, 'expected issues');
  return r.ok ? [] : r.issues;
}

test('a full plan parses with defaults applied; the example plan is valid', () => {
  const plan = ok(BASE);
  assert.equal(plan.steps.length, 4);
  assert.equal(plan.steps[0]?.on_failure, 'rollback');
  const verdict = ok(
    BASE.replace(
      'success_criteria:\n',
      'success_criteria:\n  - { id: held, description: Held, measure: { kind: verdict, step: kill-primary } }\n',
    ),
  );
  assert.deepEqual(verdict.success_criteria[0]?.measure, {
    kind: 'verdict',
    step: 'kill-primary',
    equals: 'passed',
  });
  assert.deepEqual(participantsFor(plan, 'technical-lead'), ['bob']);
  assert.deepEqual(participantsFor(plan, 'carol'), ['carol']);
  assert.deepEqual(participantsFor(plan, 'observer'), []);
  const example = ok(readFileSync(EXAMPLE, 'utf8'));
  assert.equal(example.name, 'replica-loss');
  // JSON too, and a parsed object (a server body) through validatePlan.
  assert.equal(ok(JSON.stringify(example)).name, 'replica-loss');
  assert.equal(validatePlan(JSON.parse(JSON.stringify(example))).ok, true);
});

test('schema issues name the field, say what was expected and carry the line and column', () => {
  const found = issues(
    BASE.replace('role: scribe', 'role: boss')
      .replace('duration: 30s', 'duration: soon')
      .replace('name: checkout-failover', 'name: "bad name!"'),
  );
  const by = new Map(found.map((i) => [i.path, i]));
  assert.deepEqual(
    [...by.keys()].sort(),
    ['name', 'participants[2].role', 'steps[2].duration'].sort(),
    JSON.stringify(found),
  );
  assert.match(by.get('participants[2].role')!.message, /incident-commander/);
  assert.deepEqual([by.get('participants[2].role')!.line, by.get('participants[2].role')!.column], [8, 26]);
  assert.match(by.get('steps[2].duration')!.message, /duration such as '30s'/);
  assert.equal(by.get('steps[2].duration')!.line, 12);
  assert.match(by.get('name')!.message, /letters, digits/);
  assert.equal(by.get('name')!.line, 1);
});

test('cross-checks: unique ids, owners, decision targets, criteria naming experiment steps', () => {
  const found = issues(
    BASE.replace('id: soak', 'id: baseline')
      .replace('owner: bob }', 'owner: zed }')
      .replace('then: kill-primary', 'then: nowhere')
      .replace('step: kill-primary, max: 0.01', 'step: soak, max: 0.01')
      .replace('max: 2m', 'max: 2m, step2: x'),
  );
  const text = found.map((i) => `${i.path}: ${i.message} @${i.line}`).join('\n');
  // A schema issue (the unknown key) is reported alone first: cross-checks need a well-formed plan.
  assert.match(text, /success_criteria\[0\]\.measure/);
  const cross = issues(
    BASE.replace('id: soak', 'id: baseline')
      .replace('owner: bob }', 'owner: zed }')
      .replace('then: kill-primary', 'then: nowhere')
      .replace('step: kill-primary, max: 0.01', 'step: baseline, max: 0.01')
      .replace(
        '{ id: promote, kind: manual, owner: alice }',
        '{ id: promote, kind: manual, owner: observer }',
      ),
  );
  const messages = cross.map((i) => `${i.path}: ${i.message}`);
  assert.deepEqual(messages, [
    'steps[1].owner: "zed" is neither a participant (alice, bob, carol) nor a role (incident-commander, technical-lead, observer, scribe)',
    'steps[2].id: step id "baseline" is used twice (ids are unique across steps and rollback steps)',
    'steps[3].options[2].then: "nowhere" is not one of the steps (expected one of their ids, "rollback" or "end")',
    `success_criteria[1].measure.step: step "baseline" is a manual step; a error_rate criterion measures an experiment step's run`,
    'rollback.steps[0].owner: no participant has the role "observer"',
  ]);
  for (const i of cross) assert.ok(i.line && i.column, `${i.path} has a position`);
  // A rollback decision may not lead to "rollback", nor to a step of the main timeline.
  const rb = issues(
    BASE.replace(
      '    - { id: promote, kind: manual, owner: alice }',
      '    - { id: promote, kind: decision, question: q, options: [{ label: a, then: rollback }, { label: b, then: soak }] }',
    ),
  );
  assert.deepEqual(
    rb.map((i) => i.path),
    ['rollback.steps[0].options[0].then', 'rollback.steps[0].options[1].then'],
  );
});

test('an unquoted yes or no (a YAML boolean) where text is expected says to quote it', () => {
  const found = issues(BASE.replace('{ label: continue }', '{ label: yes }'));
  assert.deepEqual(
    found.map((i) => `${i.path}: ${i.message}`),
    [
      'steps[3].options[0].label: expected text (quote it: YAML reads yes, no, on, off, y and n as true or false), got a boolean (true)',
    ],
  );
});

test('parse errors are issues with positions, never thrown; top-level shapes', () => {
  const bad = issues('name: [unclosed\n');
  assert.ok(bad[0]?.line, JSON.stringify(bad));
  const json = issues('{"name": "x",}');
  assert.ok(json[0]?.line);
  assert.match(issues('- a list\n')[0]!.message, /expected an object/);
  assert.match(issues('')[0]!.message, /expected an object/);
  const empty = issues('name: x\n');
  assert.ok(empty.some((i) => i.path === 'steps' && i.message.length > 0));
});

test('the JSON Schema is generated from the zod schema and describes every step kind and measure', () => {
  const schema = planJsonSchema() as Record<string, any>;
  assert.equal(schema.$id, GAMEDAY_SCHEMA_ID);
  assert.match(String(schema.$schema), /2020-12/);
  assert.deepEqual([...schema.required].sort(), [
    'hypothesis',
    'name',
    'objective',
    'participants',
    'steps',
    'title',
  ]);
  const text = JSON.stringify(schema);
  for (const kind of [
    'experiment',
    'manual',
    'wait',
    'decision',
    'recovery_time',
    'error_rate',
    'verdict',
    'probe',
  ])
    assert.ok(text.includes(`"const":"${kind}"`), kind);
  assert.ok(text.includes('incident-commander'));
  JSON.parse(text);
});

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE: unknown[] = [
  null,
  0,
  -1,
  1e308,
  '',
  ' ',
  'x'.repeat(5000),
  '<script>',
  [],
  {},
  [null],
  { label: 'x', extra: 1 },
  { __proto__: { polluted: true } },
  true,
  '30',
  '-5s',
];

test('fuzz: mutated plans (values swapped, keys dropped, text cut) give issues or a plan, never a throw', () => {
  const base = ok(BASE);
  const rand = rng(18);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  let invalid = 0;
  for (let n = 0; n < 400; n++) {
    const doc: any = JSON.parse(JSON.stringify(base));
    // Walk to a random node and replace, delete or duplicate something there.
    for (let m = 0; m < 1 + Math.floor(rand() * 3); m++) {
      let node: any = doc;
      for (let depth = 0; depth < 4 && node && typeof node === 'object'; depth++) {
        const keys = Object.keys(node);
        if (keys.length === 0 || rand() < 0.3) break;
        const k = pick(keys);
        if (node[k] === null || typeof node[k] !== 'object' || rand() < 0.3) {
          const r = rand();
          if (r < 0.4) node[k] = pick(HOSTILE);
          else if (r < 0.6) delete node[k];
          else if (Array.isArray(node)) node.push(node[Number(k)]);
          else node[`${k}x`] = node[k];
          break;
        }
        node = node[k];
      }
    }
    const text = rand() < 0.5 ? stringify(doc) : JSON.stringify(doc);
    const cut = rand() < 0.2 ? text.slice(0, Math.floor(rand() * text.length)) : text;
    const r = parsePlan(cut, 'fuzz.yaml');
    if (!r.ok) {
      invalid++;
      assert.ok(r.issues.length > 0);
      for (const i of r.issues) {
        assert.equal(typeof i.path, 'string');
        assert.ok(i.message.length > 0, JSON.stringify(i));
        assert.ok(!/\[object Object\]|undefined/.test(i.message), i.message);
      }
    }
  }
  assert.ok(invalid > 100, `most mutations are invalid (${invalid})`);
});

test('fuzz: random bytes and deep nesting are refused with an issue', () => {
  const rand = rng(7);
  for (let n = 0; n < 200; n++) {
    const len = Math.floor(rand() * 200);
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(Math.floor(rand() * 128));
    const r = parsePlan(s, 'noise.yaml');
    if (!r.ok) assert.ok(r.issues.length > 0);
  }
  const deep = `${'['.repeat(1000)}${']'.repeat(1000)}`;
  const r = parsePlan(`name: ${deep}`, 'deep.yaml');
  assert.equal(r.ok, false);
});
