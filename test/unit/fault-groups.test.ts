/**
 * faults/groups.ts is the one list of fault groups: the composition root's lazy
 * catalog and faults/index.ts's eager registration both come from it. These
 * check that the two hold the same kinds and that every kind's name leads the
 * catalog to the group that has it (a halt loads that group and no other).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_GROUPS } from '../../src/faults/groups.js';
import { faultKinds } from '../../src/faults/index.js';
import { FaultKindCatalog } from '../../src/faults/registry.js';

const eager = faultKinds.registry
  .entries()
  .map(([name]) => name)
  .sort();

test('the lazy catalog loads the same kinds as the eager entry point', async () => {
  const lazy = await new FaultKindCatalog(FAULT_GROUPS).loadAll();
  assert.deepEqual(
    lazy
      .entries()
      .map(([name]) => name)
      .sort(),
    eager,
  );
  assert.ok(eager.includes('network-loss') && eager.includes('marker-file'), eager.join(', '));
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
