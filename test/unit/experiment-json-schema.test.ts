// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} strings are the Chaos Toolkit syntax under test
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadBuiltinActivities } from '../../src/compose.js';
import { builtinActivities } from '../../src/engine/builtins.js';
import { EXPERIMENT_SCHEMA_ID, experimentJsonSchema } from '../../src/experiment/index.js';

await loadBuiltinActivities();

type Schema = Record<string, any>;

const KNOWN_KEYWORDS = new Set([
  '$schema',
  '$id',
  '$ref',
  '$defs',
  'title',
  'description',
  'type',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'anyOf',
  'oneOf',
  'enum',
  'const',
  'minLength',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'allOf',
  'if',
  'then',
  'default',
  'format',
]);

/**
 * A small draft 2020-12 validator covering exactly the keywords the generated
 * schema uses (the test fails if a new keyword appears), enough to check that
 * the schema accepts real experiments and rejects broken ones.
 */
function validate(schema: Schema | boolean, value: unknown, root: Schema): boolean {
  if (schema === true) return true;
  if (schema === false) return false;
  for (const key of Object.keys(schema)) assert.ok(KNOWN_KEYWORDS.has(key), `unexpected keyword ${key}`);
  if (schema.$ref) {
    const name = String(schema.$ref).replace('#/$defs/', '');
    return validate(root.$defs[name], value, root);
  }
  const isObj = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (schema.type) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    const ok = types.some((t) =>
      t === 'object'
        ? isObj
        : t === 'array'
          ? Array.isArray(value)
          : t === 'integer'
            ? Number.isInteger(value)
            : t === 'null'
              ? value === null
              : typeof value === t,
    );
    if (!ok) return false;
  }
  if ('const' in schema && value !== schema.const) return false;
  if (schema.enum && !schema.enum.includes(value)) return false;
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) return false;
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) return false;
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return false;
    if (schema.maximum !== undefined && value > schema.maximum) return false;
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return false;
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) return false;
    if (schema.maxItems !== undefined && value.length > schema.maxItems) return false;
    const prefix: Schema[] = schema.prefixItems ?? [];
    for (let i = 0; i < value.length; i++) {
      const s = i < prefix.length ? prefix[i] : schema.items;
      if (s !== undefined && !validate(s, value[i], root)) return false;
    }
  }
  if (isObj) {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) return false;
    for (const [k, v] of Object.entries(obj)) {
      const s = schema.properties?.[k] ?? schema.additionalProperties;
      if (s !== undefined && !validate(s, v, root)) return false;
    }
  }
  if (schema.allOf && !schema.allOf.every((s: Schema) => validate(s, value, root))) return false;
  if (schema.if !== undefined && validate(schema.if, value, root) && schema.then !== undefined)
    if (!validate(schema.then, value, root)) return false;
  if (schema.anyOf && !schema.anyOf.some((s: Schema) => validate(s, value, root))) return false;
  if (schema.oneOf && schema.oneOf.filter((s: Schema) => validate(s, value, root)).length !== 1) return false;
  return true;
}

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', 'experiment', name);

describe('experiment JSON Schema', () => {
  const schema = experimentJsonSchema();

  test('is a draft 2020-12 schema with an $id and a title', () => {
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(schema.$id, EXPERIMENT_SCHEMA_ID);
    assert.equal(typeof schema.title, 'string');
    assert.equal(schema.type, 'object');
    assert.deepEqual([...(schema.required as string[])].sort(), ['description', 'method', 'title']);
    // Plain JSON: survives a round trip unchanged.
    assert.deepEqual(JSON.parse(JSON.stringify(schema)), schema);
  });

  test('shared shapes are named definitions and every $ref resolves', () => {
    const defs = schema.$defs as Record<string, unknown>;
    for (const name of ['Activity', 'ActivityRef', 'ActivityOrRef', 'Provider', 'Tolerance', 'Control']) {
      assert.ok(defs[name], `missing $defs.${name}`);
    }
    const refs = JSON.stringify(schema).match(/"\$ref":"[^"]*"/g) ?? [];
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      const name = /#\/\$defs\/([^"]+)/.exec(ref)?.[1];
      assert.ok(name && defs[name], `dangling ${ref}`);
    }
  });

  test('the lazy probe tolerance is represented, not dropped', () => {
    const tolerance = JSON.stringify((schema.$defs as Schema).Tolerance);
    for (const kind of ['range', 'regex', 'jsonpath', 'probe'])
      assert.match(tolerance, new RegExp(`"const":"${kind}"`));
  });

  test('accepts the example experiments', () => {
    assert.ok(validate(schema, JSON.parse(readFileSync(fixture('valid.json'), 'utf8')), schema));
    assert.ok(validate(schema, parseYaml(readFileSync(fixture('valid.yaml'), 'utf8')), schema));
  });

  test('rejects broken experiments', () => {
    const valid = JSON.parse(readFileSync(fixture('valid.json'), 'utf8'));
    const broken = (mutate: (d: any) => void) => {
      const d = structuredClone(valid);
      mutate(d);
      return d;
    };
    const cases = {
      'no title': broken((d) => delete d.title),
      'no method': broken((d) => delete d.method),
      'unknown provider type': broken((d) => {
        d.method[0].provider.type = 'ftp';
      }),
      'http without url': broken((d) => {
        delete d['steady-state-hypothesis'].probes[0].provider.url;
      }),
      'float tolerance': broken((d) => {
        d['steady-state-hypothesis'].probes[0].tolerance = 1.5;
      }),
      'bad pause': broken((d) => {
        d.method[0].pauses.after = 'soon';
      }),
    };
    for (const [name, doc] of Object.entries(cases)) assert.equal(validate(schema, doc, schema), false, name);
    assert.ok(
      validate(
        schema,
        broken((d) => (d.method[0].pauses.after = '${wait}')),
        schema,
      ),
    );
  });
});

describe('experiment JSON Schema: arguments of the built-in activities', () => {
  const activities = builtinActivities.entries().map(([, a]) => a);
  const schema = experimentJsonSchema({ activities });
  const doc = (provider: Record<string, unknown>) => ({
    title: 't',
    description: 'd',
    method: [{ type: 'action', name: 'a', provider }],
  });
  const loss = (args: unknown, type = 'faultline') =>
    doc({ type, module: 'faultline.network', func: 'loss', arguments: args });

  test("an editor finds a known activity's arguments, with their descriptions, keyed by module and func", () => {
    const rules = (schema.$defs as Schema).BuiltinArguments.allOf as Schema[];
    assert.equal(rules.length, activities.length, 'one rule per built-in activity');
    const rule = rules.find(
      (r) => r.if.properties.module.const === 'faultline.stress' && r.if.properties.func.const === 'cpu',
    );
    assert.ok(rule, 'faultline.stress cpu is described');
    const args = rule.then.properties.arguments;
    assert.equal(args.type, 'object');
    assert.equal(args.additionalProperties, false);
    assert.deepEqual(Object.keys(args.properties).sort(), ['duration', 'load', 'workers']);
    assert.match(args.properties.load.description, /how busy each thread is/);
    assert.match(args.description, /Loads the CPUs/);
    // The faultline and python providers (Chaos Toolkit's native modules) both point at the rules.
    const branches = (schema.$defs as Schema).Provider.oneOf as Schema[];
    const pointing = branches.filter((b) => JSON.stringify(b.allOf ?? []).includes('BuiltinArguments'));
    assert.deepEqual(pointing.map((b) => b.properties.type.const).sort(), ['faultline', 'python']);
  });

  test('a validator applies them: wrong, unknown and missing arguments are refused; ${name} references pass', () => {
    assert.ok(validate(schema, loss({ percent: 50, direction: 'egress' }), schema));
    assert.equal(validate(schema, loss({ percent: 500 }), schema), false, 'percent above 100');
    assert.equal(validate(schema, loss({ percent: 'half' }), schema), false, 'percent not a number');
    assert.equal(validate(schema, loss({ percent: 50, precent: 5 }), schema), false, 'unknown argument');
    assert.equal(validate(schema, loss({}), schema), false, 'percent is required');
    assert.ok(
      validate(schema, loss({ percent: '${loss_percent}' }), schema),
      'a reference, checked at run time',
    );
    const toxic = (attributes: unknown) =>
      doc({
        type: 'faultline',
        module: 'faultline.proxy',
        func: 'add_toxic',
        arguments: { proxy: 'db', type: 'latency', attributes },
      });
    assert.ok(validate(schema, toxic({ latency: '${latency_ms}' }), schema), 'nested reference');
    // An unknown module is validate's to explain (it lists what is available), not the schema's.
    assert.ok(validate(schema, doc({ type: 'faultline', module: 'faultline.nope', func: 'x' }), schema));
    // The same rules without the activities: no arguments described, nothing refused.
    const bare = experimentJsonSchema();
    assert.equal((bare.$defs as Schema).BuiltinArguments, undefined);
    assert.ok(validate(bare, loss({ percent: 500 }), bare));
  });
});
