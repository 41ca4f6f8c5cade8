/**
 * faults/groups.ts is the one list of fault groups: the composition root's lazy
 * catalog and exposedFaults() both load from it. These check that every kind of
 * every group is found and exposed, and that every kind's name leads the
 * catalog to the group that has it (a halt loads that group and no other).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_GROUPS } from '../../src/faults/groups.js';
import { exposedFaults } from '../../src/faults/index.js';
import { FaultKindCatalog } from '../../src/faults/registry.js';

// Every kind of every group, straight from the list's loaders.
const everyKind = (await Promise.all(FAULT_GROUPS.map((g) => g.load()))).flat();
const eager = everyKind.map((k) => k.kind).sort();

test('the lazy catalog loads every kind of every group, and exposedFaults() has every exposed one', async () => {
  const lazy = await new FaultKindCatalog(FAULT_GROUPS).loadAll();
  assert.deepEqual(
    lazy
      .entries()
      .map(([name]) => name)
      .sort(),
    eager,
  );
  assert.ok(eager.includes('network-loss') && eager.includes('marker-file'), eager.join(', '));
  const exposed = await exposedFaults();
  const wanted = everyKind.flatMap((k) => (k.expose ? [`${k.expose.group}.${k.expose.name}`] : []));
  assert.ok(wanted.includes('network.loss') && wanted.includes('process.pause'), wanted.join(', '));
  for (const kind of everyKind) {
    if (kind.expose) assert.equal(exposed.get(`${kind.expose.group}.${kind.expose.name}`), kind, kind.kind);
  }
});

test("all() answers in the list's order whatever was asked for first", async () => {
  const listed = everyKind.map((k) => k.kind);
  const catalog = new FaultKindCatalog(FAULT_GROUPS);
  await catalog.loadFor(['sdk-enable-fault', 'redis-client-pause']);
  assert.deepEqual(
    (await catalog.all()).map((k) => k.kind),
    listed,
  );
});

test("every kind's name loads the group that has it, and only that group when it names one", async () => {
  for (const name of eager) {
    const catalog = new FaultKindCatalog(FAULT_GROUPS);
    const loaded = await catalog.loadFor([name]);
    assert.ok(loaded.has(name), `${name} not found by its name`);
    const group = FAULT_GROUPS.find((g) => g.group !== undefined && name.startsWith(`${g.group}-`));
    if (group) {
      const own = (await group.load()).map((k) => k.kind).sort();
      assert.deepEqual(
        loaded
          .entries()
          .map(([n]) => n)
          .sort(),
        own,
        `${name} loaded more than its group`,
      );
    }
  }
});

test('a name no group claims loads the ungrouped kinds; one like an Object property loads nothing odd', async () => {
  const catalog = new FaultKindCatalog(FAULT_GROUPS);
  const loaded = await catalog.loadFor(['no-such-kind', 'constructor-x', '__proto__']);
  assert.deepEqual(
    loaded
      .entries()
      .map(([n]) => n)
      .sort(),
    ['marker-file', 'proxy-down', 'proxy-toxic'],
  );
});
