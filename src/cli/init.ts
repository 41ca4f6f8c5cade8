/**
 * `faultline init`: scaffold a complete experiment (a steady-state probe,
 * traffic, a safeguard, a fault with a duration, a note on rollbacks), with a
 * comment on each part in YAML, from flags or from prompts on a terminal. The
 * scaffold is validated before it is written, so it always passes
 * `faultline validate`.
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { createInterface, type Interface } from 'node:readline/promises';
import { Document, isMap, isSeq, type Node } from 'yaml';
import { FaultlineError } from '../core/errors.js';
import { writeFileSafely } from '../core/safe-write.js';
import type { Experiment } from '../core/schema.js';
import { validateExperiment } from '../lib/validate.js';
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

export interface InitAnswers {
  title: string;
  description: string;
  url: string;
  status: number;
}

/** What the steady-state probe checks when no URL is given: a placeholder the comments point at. */
export const DEFAULT_URL = 'http://127.0.0.1:8080/health';
const DEFAULT_DESCRIPTION = 'Scaffolded by faultline init: say here what this experiment shows.';

/**
 * The scaffold: traffic to the service, a steady state over an http probe, a
 * safeguard on the error rate, a CPU fault held for a while, and no rollbacks
 * (Faultline reverts its faults itself).
 */
export function scaffold(answers: InitAnswers): Experiment {
  return {
    version: '1.0.0',
    title: answers.title,
    description: answers.description,
    tags: [],
    configuration: { service_url: answers.url },
    load: { rate: 5, timeout: '2s', requests: [{ url: '${service_url}' }] },
    runtime: { hypothesis: { strategy: 'continuously', frequency: 5 } },
    'steady-state-hypothesis': {
      title: 'The service answers',
      probes: [
        {
          type: 'probe',
          name: 'service-answers',
          tolerance: answers.status,
          provider: { type: 'http', url: '${service_url}', timeout: 3 },
        },
      ],
    },
    safeguards: [
      {
        type: 'probe',
        name: 'most-requests-succeed',
        frequency: 1,
        tolerance: { type: 'range', range: [0, 0.5] },
        provider: {
          type: 'faultline',
          module: 'faultline.load',
          func: 'error_rate',
          arguments: { window: 5 },
        },
      },
    ],
    method: [
      {
        type: 'action',
        name: 'busy-cpu',
        provider: {
          type: 'faultline',
          module: 'faultline.stress',
          func: 'cpu',
          arguments: { workers: 1, load: 80, duration: 60 },
        },
        pauses: { after: 20 },
      },
    ],
    rollbacks: [],
  } as Experiment;
}

/** Why each part is there: a comment above it in the YAML file (JSON has no comments). */
const COMMENTS: [path: (string | number)[], comment: string][] = [
  [
    ['version'],
    ' Scaffolded by `faultline init`. Check it: faultline validate FILE; run it: faultline run FILE.',
  ],
  [
    ['configuration'],
    ' Values the activities use as ${name}. Point service_url at your service,\n' +
      ' or per run: faultline run FILE --var service_url=http://host:port/health',
  ],
  [
    ['load'],
    ' Traffic sent for the whole run (5 requests per second); the safeguard and\n' +
      ' faultline.load probes read its error rate, latency and throughput.',
  ],
  [
    ['runtime'],
    ' Check the steady state before the method, every 5 s during it and after it.\n' +
      ' A miss during the method fails the run (runtime.hypothesis.max_misses tolerates some).',
  ],
  [
    ['steady-state-hypothesis'],
    ' The steady state: what "working" looks like from outside. If it does not hold\n' +
      ' before the method, nothing is injected.',
  ],
  [
    ['safeguards'],
    ' Safeguards stop the run and revert every fault the moment they are breached:\n' +
      ' here, when more than half of the requests of the last 5 s failed.',
  ],
  [
    ['method'],
    ' The method: the fault. One worker keeps a CPU 80% busy on this host; the pause\n' +
      ' holds it for 20 s while the steady state is checked. `duration` bounds how long\n' +
      ' the fault may last whatever happens to the run. `faultline discover` lists\n' +
      ' every fault and probe (faultline discover network, ... to narrow it).',
  ],
  [
    ['rollbacks'],
    ' Faultline reverts and verifies every fault it injected when the run ends\n' +
      ' (even on Ctrl-C or a safeguard). Rollbacks are for what else the method\n' +
      ' changed in your system (restart a service, restore a setting).',
  ],
];

/** The scaffold as YAML with a comment above each part. */
export function toYaml(experiment: Experiment): string {
  const doc = new Document(experiment);
  for (const [path, comment] of COMMENTS) {
    const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
    if (!isMap(parent) && !isSeq(parent)) continue;
    const last = path[path.length - 1];
    const pair = isMap(parent)
      ? parent.items.find((p) => (p.key as { value?: unknown })?.value === last)
      : undefined;
    const target = (pair?.key ?? doc.getIn(path, true)) as Node | undefined;
    if (target) target.commentBefore = comment;
  }
  const range = doc.getIn(['safeguards', 0, 'tolerance', 'range'], true);
  if (isSeq(range)) range.flow = true;
  return doc.toString({ lineWidth: 0 });
}

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Asks until the answer is acceptable; an empty answer takes the default when there is one. */
async function ask(
  rl: Interface,
  question: string,
  check: (answer: string) => string | undefined,
  fallback?: string,
): Promise<string> {
  for (;;) {
    const raw = (await rl.question(fallback ? `${question} [${fallback}] ` : `${question} `)).trim();
    const answer = raw || fallback || '';
    const problem = answer ? check(answer) : 'an answer is needed';
    if (!problem) return answer;
    process.stderr.write(`  ${problem}\n`);
  }
}

async function prompt(flags: InitFlags): Promise<Partial<InitAnswers>> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const closed = new Promise<never>((_, reject) => rl.once('close', () => reject(new Error('closed'))));
  closed.catch(() => {});
  const none = () => undefined;
  const url = (a: string) => (isHttpUrl(a) ? undefined : `expected an http(s) URL, got '${a}'`);
  try {
    // Each question is raced against the input closing (Ctrl-D), which readline reports as a close.
    const title = flags.title || (await Promise.race([ask(rl, 'Experiment title:', none), closed]));
    const description =
      flags.description || (await Promise.race([ask(rl, 'What does it test?', none), closed]));
    const service =
      flags.url || (await Promise.race([ask(rl, 'URL of the service to check:', url, DEFAULT_URL), closed]));
    return { title, description, url: service };
  } catch {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      'init: cancelled before every question was answered; nothing was written',
    );
  } finally {
    rl.close();
  }
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
  if (flags.url !== undefined && !isHttpUrl(flags.url)) {
    throw new FaultlineError('FAULTLINE_ERR_USAGE', `--url: expected an http(s) URL, got '${flags.url}'`);
  }
  const interactive = flags.input && process.stdin.isTTY === true;
  const given = interactive && !(flags.title && flags.description && flags.url) ? await prompt(flags) : flags;
  if (!given.title) {
    throw new FaultlineError(
      'FAULTLINE_ERR_USAGE',
      '--title: required when init cannot ask (no terminal, or --no-input)',
    );
  }
  const doc = scaffold({
    title: given.title,
    description: given.description || DEFAULT_DESCRIPTION,
    url: given.url || DEFAULT_URL,
    status,
  });
  // The scaffold must pass `faultline validate` as written; a failure here is ours, not the user's.
  const { issues } = await validateExperiment(doc, { checkEnv: false });
  if (issues.length > 0)
    throw new Error(
      `init built an invalid experiment: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    );
  const text = ext === '.json' ? `${JSON.stringify(doc, null, 2)}\n` : toYaml(doc);
  await writeFileSafely(flags.experimentPath, text, { field: '--experiment-path' });
  out.summary(`wrote ${flags.experimentPath}: check it with \`faultline validate ${flags.experimentPath}\``);
  return 0;
}
