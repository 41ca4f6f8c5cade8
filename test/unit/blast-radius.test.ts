import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type BlastRadiusPolicy,
  BlastRadiusSchema,
  checkBlastRadius,
  selectorMatches,
} from '../../src/core/blast-radius.js';
import { FaultlineError } from '../../src/core/errors.js';
import type { FaultTarget } from '../../src/core/fault.js';

const proc = (pid: number, name = 'worker'): FaultTarget => ({
  type: 'process',
  name,
  pid,
  host: 'localhost',
});
const policy = (raw: unknown, source = 'test'): BlastRadiusPolicy[] => [
  { source, policy: BlastRadiusSchema.parse(raw) },
];

/** Asserts a POLICY refusal whose message names the rule. */
function refused(fn: () => void, rule: string): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FaultlineError);
    assert.equal(err.code, 'FAULTLINE_ERR_POLICY');
    assert.equal(err.exitCode, 2);
    assert.match(err.message, new RegExp(`blast radius: ${rule} \\(`));
    return err.message;
  }
  assert.fail(`expected the ${rule} rule to refuse`);
}

describe('selectors', () => {
  test('globs, CIDR blocks, port ranges, namespaces and labels', () => {
    const t: FaultTarget = {
      type: 'network',
      name: 'chaos-a:veth0',
      host: '10.1.2.3',
      port: 5432,
      namespace: 'chaos-a',
      labels: { tier: 'db', team: 'payments' },
    };
    assert.ok(selectorMatches({ name: 'chaos-*' }, t));
    assert.ok(selectorMatches({ host: '10.0.0.0/8' }, t));
    assert.ok(!selectorMatches({ host: '10.1.3.0/24' }, t));
    assert.ok(selectorMatches({ host: '10.1.2.*' }, t));
    assert.ok(selectorMatches({ port: [5000, 6000] }, t));
    assert.ok(!selectorMatches({ port: 22 }, t));
    assert.ok(selectorMatches({ namespace: 'CHAOS-A' }, t), 'case-insensitive');
    assert.ok(selectorMatches({ labels: { tier: 'db' } }, t));
    assert.ok(!selectorMatches({ labels: { tier: 'web' } }, t));
    assert.ok(selectorMatches({ type: 'network', port: 5432, host: '10.1.2.3' }, t), 'all fields must match');
    assert.ok(!selectorMatches({ type: 'network', port: 5433 }, t));
    assert.ok(!selectorMatches({ namespace: 'x' }, proc(1)), 'a field the target lacks does not match');
  });

  test("a policy is validated with messages naming what was expected; camelCase is the seeds' form", () => {
    const bad = BlastRadiusSchema.safeParse({ max_targets: 0, block: [{}], allow: [{ port: 70000 }] });
    assert.equal(bad.success, false);
    const paths = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    assert.ok(
      paths.some((p) => /^max_targets: expected a positive integer/.test(p)),
      paths.join('\n'),
    );
    assert.ok(
      paths.some((p) => /^block\.0: expected at least one of/.test(p)),
      paths.join('\n'),
    );
    assert.ok(
      paths.some((p) => p.startsWith('allow.0.port')),
      paths.join('\n'),
    );
    assert.equal(BlastRadiusSchema.safeParse({ max_target: 1 }).success, false, 'unknown keys are refused');
    const seeds = BlastRadiusSchema.parse({
      maxTargets: 1,
      maxPercentage: 5,
      allowedNamespaces: ['staging', 'chaos'],
      blockedNamespaces: ['production-critical'],
    });
    assert.deepEqual(seeds, {
      max_targets: 1,
      max_percentage: 5,
      allowed_namespaces: ['staging', 'chaos'],
      blocked_namespaces: ['production-critical'],
    });
  });
});

describe('checkBlastRadius', () => {
  test('block names the matching target and rule', () => {
    const msg = refused(
      () =>
        checkBlastRadius(policy({ block: [{ name: 'postgres*' }] }, 'settings'), 'process-kill', {
          targets: [proc(10), proc(11, 'postgres')],
        }),
      'block',
    );
    assert.match(msg, /process 'postgres' \(pid 11\)/);
    assert.match(msg, /\(settings\)/);
  });

  test('allow: every target must match one selector', () => {
    const p = policy({ allowed_namespaces: ['chaos-*'] });
    checkBlastRadius(p, 'f', { targets: [{ type: 'network', name: 'n', namespace: 'chaos-1' }] });
    refused(
      () => checkBlastRadius(p, 'f', { targets: [{ type: 'network', name: 'n', namespace: 'prod' }] }),
      'allow',
    );
    refused(() => checkBlastRadius(p, 'f', { targets: [proc(5)] }), 'allow');
  });

  test('max_percentage compares the selected targets with the candidates', () => {
    const p = policy({ max_percentage: 50 });
    checkBlastRadius(p, 'f', { targets: [proc(1), proc(2)], candidates: 4 });
    const msg = refused(
      () => checkBlastRadius(p, 'f', { targets: [proc(1), proc(2), proc(3)], candidates: 4 }),
      'max_percentage',
    );
    assert.match(msg, /3 of 4 matching targets \(75\.0%\), more than the 50% allowed/);
    checkBlastRadius(p, 'f', { targets: [proc(1), proc(2), proc(3)] }); // no candidates: not applicable
  });

  test('max_targets counts distinct targets held by the run', () => {
    const p = policy({ max_targets: 2 });
    checkBlastRadius(p, 'f', { targets: [proc(1)] }, [proc(2)]);
    checkBlastRadius(p, 'f', { targets: [proc(1)] }, [proc(1), proc(2)]); // the same target again
    const msg = refused(
      () => checkBlastRadius(p, 'f', { targets: [proc(3)] }, [proc(1), proc(2)]),
      'max_targets',
    );
    assert.match(msg, /bring the run to 3 targets \(2 already held/);
  });

  test('every policy must hold: the settings file cannot be loosened by the experiment', () => {
    const both = [...policy({ max_targets: 1 }, 'settings'), ...policy({ max_targets: 10 }, 'experiment')];
    const msg = refused(() => checkBlastRadius(both, 'f', { targets: [proc(1), proc(2)] }), 'max_targets');
    assert.match(msg, /\(settings\)/);
  });
});
