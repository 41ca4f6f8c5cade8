/**
 * The local halt switch as a run's halt source: the halt file under
 * $FAULTLINE_HOME, watched (and polled by the engine, in case the filesystem
 * drops watch events). What `faultline halt` on this host raises.
 */
import { type FSWatcher, watch } from 'node:fs';
import { ensureDir, HALT_FILE } from './home.js';
import { haltState } from './recovery.js';

export interface LocalHaltSource {
  state(): ReturnType<typeof haltState>;
  watch(onChange: () => void): Promise<() => void>;
}

export function localHaltSource(home: string): LocalHaltSource {
  return {
    state: () => haltState({ home }),
    async watch(onChange) {
      let watcher: FSWatcher | undefined;
      try {
        await ensureDir(home);
        watcher = watch(home, (_event, file) => file === HALT_FILE && onChange());
        watcher.on('error', () => {});
        watcher.unref();
      } catch {
        // Polling alone still finds the halt.
      }
      return () => watcher?.close();
    },
  };
}
