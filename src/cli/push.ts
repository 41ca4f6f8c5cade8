/**
 * `faultline push JOURNAL... --server URL`: stores runs made elsewhere (CI,
 * another machine) in a control plane's history, and the push that
 * `faultline run --server URL` makes after its run.
 */
import { FaultlineError } from '../core/errors.js';
import type { Journal } from '../core/journal.js';
import { ServerClient } from '../server/client.js';
import { errorLines } from './error-lines.js';
import type { Output } from './output.js';
import { readJournal } from './report.js';

export interface PushFlags {
  server: string;
  tag?: string[];
}

/** Pushes one journal; the line to print either way. */
export async function pushOne(
  client: ServerClient,
  journal: Journal,
  tags: readonly string[] = [],
): Promise<{ ok: true; line: string } | { ok: false; line: string }> {
  try {
    const run = await client.pushJournal(journal, { tags });
    return {
      ok: true,
      line: `pushed to ${client.base.origin}: run ${run.id} (${run.verdict ?? run.status})`,
    };
  } catch (err) {
    const lines = err instanceof FaultlineError ? errorLines(err) : [(err as Error).message];
    return { ok: false, line: lines.join('\n') };
  }
}

export async function pushCommand(files: string[], flags: PushFlags, out: Output): Promise<number> {
  const client = new ServerClient(flags.server, '--server');
  // Every file is read and checked before anything is pushed: a typo in the third does not leave two pushed.
  const journals: Journal[] = [];
  for (const f of files) journals.push(await readJournal(f));
  let code = 0;
  for (const [i, journal] of journals.entries()) {
    const result = await pushOne(client, journal, flags.tag ?? []);
    if (result.ok) out.summary(`${files[i]}: ${result.line}`);
    else {
      out.error(`${files[i]}: ${result.line}`);
      code = 1;
    }
  }
  return code;
}
