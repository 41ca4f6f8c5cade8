/** Placeholder while a format is being written: detects its documents and refuses them by name. */
import { Notes } from './notes.js';
import type { FormatName, ManifestFormat, Translation } from './types.js';

export function pendingFormat(
  name: FormatName,
  title: string,
  detect: (doc: Record<string, unknown>) => boolean,
): ManifestFormat {
  return {
    name,
    title,
    doc: `docs/manifests/${name}.md`,
    detect,
    translate(doc): Translation {
      const notes = new Notes();
      notes.refused('', `${title} documents are not translated yet`);
      const kind = typeof doc.kind === 'string' ? doc.kind : name;
      return {
        format: name,
        kind,
        name: kind,
        title: kind,
        description: kind,
        method: [],
        hold: 0,
        notes: notes.list,
      };
    },
  };
}
