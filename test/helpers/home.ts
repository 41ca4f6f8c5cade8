/** A private FAULTLINE_HOME per test, checked empty of faults at the end. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

export async function tempHome(): Promise<{
  home: string;
  activeFaults(): Promise<string[]>;
  cleanup(): Promise<void>;
}> {
  const home = await mkdtemp(join(tmpdir(), 'faultline-test-'));
  return {
    home,
    async activeFaults() {
      try {
        return (await readdir(join(home, 'ledger'))).filter((f) => f.endsWith('.json'));
      } catch {
        return [];
      }
    },
    cleanup: () => rm(home, { recursive: true, force: true }),
  };
}

/**
 * tempHome() for a whole test file: created before its tests, checked free of
 * active faults and removed after them. Read `.home` inside tests.
 */
export function tempHomeSuite(): { readonly home: string } {
  let h: Awaited<ReturnType<typeof tempHome>> | undefined;
  before(async () => {
    h = await tempHome();
  });
  after(async () => {
    assert.deepEqual(await h?.activeFaults(), [], 'no fault left behind');
    await h?.cleanup();
  });
  return {
    get home() {
      if (!h) throw new Error('tempHomeSuite: the home exists only while the tests run');
      return h.home;
    },
  };
}
