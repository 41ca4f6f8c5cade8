/** A private FAULTLINE_HOME per test, checked empty of faults at the end. */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
