/** The reporter contract: one module per format, one line in the registry (index.ts). */
import type { Journal } from '../core/journal.js';

export interface ReportOptions {
  /** A title for a report over several runs (default: derived from the experiments). */
  title?: string;
  /** When the report was generated (default now); fixed in tests for stable output. */
  now?: Date;
}

export interface Reporter {
  /** The `--format` name. */
  readonly name: string;
  /** File extensions that select this format when `-o` is given without `--format`. */
  readonly extensions: readonly string[];
  readonly description: string;
  /** Pure: journals in (oldest first), the file's text out. */
  render(journals: readonly Journal[], opts: ReportOptions): string;
}
