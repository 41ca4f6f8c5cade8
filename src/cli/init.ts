/** `faultline init`: scaffold an experiment from flags, or from prompts on a terminal. */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { stringify } from 'yaml';
import { FaultlineError } from '../core/errors.js';
import type { Experiment } from '../core/schema.js';
import type { Output } from './output.js';

export interface InitFlags {
  experimentPath: string;
  title?: string;
  description?: string;
  url?: string;
  status: string;
  force?: boolean;
  input: boolean;
}

/** Builds the scaffold: a steady state over an http probe (when a URL is given), an empty method. */
export function scaffold(answers: {
  title: string;
  description: string;
  url?: string;
  status: number;
}): Experiment {
  const experiment: Experiment = {
    version: '1.0.0',
    title: answers.title,
    description: answers.description,
    tags: [],
    method: [],
    rollbacks: [],
  };
  if (answers.url) {
    experiment['steady-state-hypothesis'] = {
      title: 'The service answers',
      probes: [
        {
          type: 'probe',
          name: 'service-answers',
          tolerance: answers.status,
          provider: { type: 'http', url: answers.url, timeout: 3 },
        },
      ],
    };
  }
  return experiment;
}

export async function initCommand(flags: InitFlags, out: Output): Promise<number> {
  const ext = extname(flags.experimentPath).toLowerCase();
  if (!['.json', '.yaml', '.yml'].includes(ext)) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--experiment-path: expected a .json, .yaml or .yml file, got '${flags.experimentPath}'`,
    );
  }
  if (existsSync(flags.experimentPath) && !flags.force) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--experiment-path: ${flags.experimentPath} already exists (use --force to overwrite)`,
    );
  }
  const status = Number(flags.status);
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      `--status: expected an HTTP status code (100-599), got '${flags.status}'`,
    );
  }
  let { title, description, url } = flags;
  if (flags.input && process.stdin.isTTY && (!title || !description)) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      title ||= (await rl.question('Experiment title: ')).trim();
      description ||= (await rl.question('What does it test? ')).trim();
      url ||= (await rl.question('URL of the service to check (empty for none): ')).trim() || undefined;
    } catch {
      // Ctrl-D or Ctrl-C at a prompt: nothing is written.
      throw new FaultlineError(
        'FAULTLINE_ERR_USAGE',
        'init: cancelled before every question was answered; nothing was written',
      );
    } finally {
      rl.close();
    }
  }
  if (!title) throw new FaultlineError('FAULTLINE_ERR_USAGE', '--title: required (no terminal to ask on)');
  const doc = scaffold({ title, description: description || 'N/A', url, status });
  const text = ext === '.json' ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc);
  await writeFile(flags.experimentPath, text, 'utf8');
  out.summary(`wrote ${flags.experimentPath}`);
  return 0;
}
