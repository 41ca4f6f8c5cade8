/**
 * `faultline gameday validate|schema|run`: a thin shell over src/gameday/. `run` walks the plan with a
 * GameDaySession whose executor runs experiments through runFromSource (lib) and asks people on the
 * terminal: a manual step is confirmed with `y` or `n` (a note may follow), a decision by its option's
 * number or label; at any time `note: <text>` adds a timestamped note and `stop` (or Ctrl-C) is the
 * emergency stop: the step in progress is interrupted (its faults reverted by the engine), then the
 * rollback plan runs. Without a terminal, `--yes` confirms manual steps (recorded as such) and decisions take
 * `--choose` or their first option; `--answers-from-stdin` reads the same lines from a pipe (scripts, tests).
 */
import { lstat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { Interface } from 'node:readline';
import type { Command } from 'commander';
import { escapeControlChars } from '../core/control-chars.js';
import { FaultlineError, formatIssue, type Issue } from '../core/errors.js';
import type { DecisionStep, GameDayPlan } from '../gameday/plan.js';
import type { CriterionResult, GameDaySession, GameDayState, TimelineEvent } from '../gameday/session.js';
import type { Output } from './output.js';

/**
 * The game-day library and what the run renders with, loaded when a gameday command runs: main.ts
 * registers this file for every command, and `faultline --help` should not load the engine.
 */
async function lib() {
  const [local, plan, report, session, safeWrite, outputFiles, output, render, reportCli] = await Promise.all(
    [
      import('../gameday/local.js'),
      import('../gameday/plan.js'),
      import('../gameday/report.js'),
      import('../gameday/session.js'),
      import('../core/safe-write.js'),
      import('../lib/output-files.js'),
      import('./output.js'),
      import('./render-run.js'),
      import('./report.js'),
    ],
  );
  return {
    ...local,
    ...plan,
    ...report,
    ...session,
    ...safeWrite,
    ...outputFiles,
    ...output,
    ...render,
    ...reportCli,
  };
}
type Lib = Awaited<ReturnType<typeof lib>>;

export interface GameDayRunFlags {
  report: string[];
  journalDir?: string;
  yes?: boolean;
  settings?: string;
  as?: string;
  choose: string[];
  answersFromStdin?: boolean;
}

const usage = (message: string) => new FaultlineError('FAULTLINE_ERR_USAGE', message);
const one = (s: string) => escapeControlChars(s);

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerGameDayCommands(program: Command, out: () => Output): void {
  const gameday = program
    .command('gameday')
    .description(
      'game days: a plan (objective, hypothesis, participants, steps, success criteria, rollback) run in the terminal, and its report',
    );
  gameday
    .command('validate')
    .description(
      "check game-day plans and their experiments without running them (exit 2 when one isn't valid)",
    )
    .argument('<plans...>', 'plan files (YAML or JSON)')
    .action(async (plans: string[]) => {
      process.exitCode = await gameDayValidateCommand(plans, out());
    });
  gameday
    .command('schema')
    .description('print the JSON Schema of the game-day plan format (for editors)')
    .action(async () => {
      const { printJsonDocument, planJsonSchema } = await lib();
      printJsonDocument(planJsonSchema());
    });
  gameday
    .command('run')
    .description(
      'run a game day: announces each step and its owner, runs its experiments, asks for confirmations and decisions; `note: <text>` adds a note, `stop` or Ctrl-C stops and rolls back',
    )
    .argument('<plan>', 'the plan file (YAML or JSON)')
    .option(
      '--report <path>',
      'write the report after the game day: a .html or .md path, or html=PATH / markdown=PATH (repeatable)',
      collect,
      [],
    )
    .option('--journal-dir <dir>', "write each experiment run's journal here (<step id>.json)")
    .option(
      '-y, --yes',
      'confirm manual steps automatically (recorded as such) and approve experiments tagged for production; without a terminal, decisions take --choose or their first option',
    )
    .option('--settings <path>', 'settings file for the runs (default $FAULTLINE_HOME/settings.yaml)')
    .option('--as <name>', "who is at this terminal (default: each step's owner; notes: the scribe)")
    .option('--choose <step=label>', "a decision's answer given in advance (repeatable)", collect, [])
    .option(
      '--answers-from-stdin',
      'read answers, notes and `stop` from stdin without a terminal (a script); EOF while asked fails the step',
    )
    .action(async (plan: string, flags: GameDayRunFlags) => {
      process.exitCode = await gameDayRunCommand(plan, flags, out());
    });
}

function printIssues(file: string, issues: readonly Issue[], out: Output): void {
  out.error(`${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}`);
  for (const issue of issues) out.error(`  ${formatIssue(issue, file)}`);
}

/** Reads, validates and checks a plan's experiments; undefined (after printing why) when it is not valid. */
async function loadChecked(file: string, out: Output, { loadPlanFile, checkPlanExperiments }: Lib) {
  const loaded = await loadPlanFile(file);
  if (!loaded.ok) {
    printIssues(file, loaded.issues, out);
    return undefined;
  }
  const issues = await checkPlanExperiments(loaded.plan, loaded.baseDir, loaded.positionOf);
  if (issues.length > 0) {
    printIssues(file, issues, out);
    return undefined;
  }
  return loaded;
}

export async function gameDayValidateCommand(files: string[], out: Output): Promise<number> {
  const l = await lib();
  let worst = 0;
  for (const file of files) {
    try {
      const loaded = await loadChecked(file, out, l);
      if (!loaded) {
        worst = 2;
        continue;
      }
      const p = loaded.plan;
      out.info(
        `${file}: valid game-day plan "${one(p.name)}" (${p.steps.length} steps, ${p.rollback?.steps.length ?? 0} rollback steps, ${p.success_criteria.length} success criteria)`,
      );
    } catch (err) {
      if (!(err instanceof FaultlineError)) throw err;
      out.error(err.message.includes(file) ? err.message : `${file}: ${err.message}`);
      worst = Math.max(worst, err.exitCode);
    }
  }
  return worst;
}

function localUser(): string {
  try {
    return userInfo().username || 'operator';
  } catch {
    return 'operator';
  }
}

interface Pending {
  prompt: string;
  parse: (line: string) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * The terminal's lines during a game day: the answer to the question pending, `note: <text>` and `stop`
 * at any time. Lines are taken in order: from a script (no terminal) an answer read before its question waits
 * for it, and the notes and stops after it wait their turn; on a terminal an answer typed when nothing is
 * asked is dropped (a stray `y` must not confirm the next step). EOF fails the question pending and every
 * later one (nobody is left to answer).
 */
class GameDayConsole {
  readonly #rl: Interface;
  readonly #tty = process.stdin.isTTY === true;
  readonly #queue: string[] = [];
  #pending: Pending | undefined;
  #closed = false;
  #started = false;

  constructor(
    private readonly out: Output,
    private readonly handlers: { note(text: string): void; stop(why: string): void },
    // node:readline, which the command loads when it runs (main.ts imports this module on every start).
    createInterface: typeof import('node:readline').createInterface,
  ) {
    this.#rl = createInterface({
      input: process.stdin,
      ...(this.#tty ? { output: process.stderr, terminal: true } : {}),
    });
    this.#rl.on('line', (line) => {
      this.#queue.push(line);
      this.#pump();
    });
    this.#rl.on('close', () => {
      this.#closed = true;
      this.#pump();
    });
    // On a terminal readline takes Ctrl-C itself; it is the emergency stop as a signal would be.
    this.#rl.on('SIGINT', () => this.handlers.stop('Ctrl-C'));
  }

  /** Lines are acted on from now (the game day exists to take notes and stops). */
  start(): void {
    this.#started = true;
    this.#pump();
  }

  #pump(): void {
    while (this.#started && this.#queue.length > 0) {
      const line = (this.#queue[0] ?? '').trim();
      const note = /^note:\s*(.*)$/is.exec(line);
      if (line === '') {
        // nothing to do
      } else if (note) {
        try {
          this.handlers.note(note[1] ?? '');
        } catch (err) {
          this.out.warn((err as Error).message);
        }
      } else if (/^stop$/i.test(line)) {
        this.handlers.stop('stop typed');
      } else if (this.#pending) {
        const p = this.#pending;
        const v = p.parse(line);
        if (v === undefined) {
          this.out.warn(`not an answer: ${one(line)}`);
          this.out.summary(p.prompt);
        } else {
          this.#pending = undefined;
          p.resolve(v);
        }
      } else if (this.#tty) {
        this.out.info(
          'nothing is asked now: type `note: <text>` to add a note, `stop` for the emergency stop',
        );
      } else {
        return; // a scripted answer: it waits for its question
      }
      this.#queue.shift();
    }
    if (this.#closed && this.#queue.length === 0 && this.#pending) {
      const p = this.#pending;
      this.#pending = undefined;
      p.reject(usage(`${p.prompt}: no answer (stdin closed)`));
    }
  }

  /** Asks `prompt` and resolves with the first line `parse` accepts; rejects when `signal` aborts or on EOF. */
  ask<T>(prompt: string, parse: (line: string) => T | undefined, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (this.#pending?.prompt === prompt) this.#pending = undefined;
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending = {
        prompt,
        parse,
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v as T);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      // A question survives --quiet: someone has to see it to answer.
      this.out.summary(prompt);
      this.#pump();
    });
  }

  /** Nothing more can be answered: stdin is closed and every line read is used. */
  get closed(): boolean {
    return this.#closed && this.#queue.length === 0;
  }

  close(): void {
    this.#rl.close();
  }
}

/** `y`/`yes`/`n`/`no`, optionally followed by a note. */
function yesNo(line: string): { ok: boolean; note?: string } | undefined {
  const m = /^(y|yes|n|no)\b[\s:,-]*(.*)$/is.exec(line);
  if (!m) return undefined;
  const note = m[2]?.trim();
  return { ok: /^y/i.test(m[1] ?? ''), ...(note ? { note } : {}) };
}

function optionOf(step: DecisionStep, line: string): string | undefined {
  const n = Number(line);
  if (Number.isInteger(n) && n >= 1 && n <= step.options.length) return step.options[n - 1]?.label;
  return step.options.find((o) => o.label.toLowerCase() === line.toLowerCase())?.label;
}

/** `--choose step=label`: each names a decision step and one of its options. */
function parseChoices(specs: readonly string[], plan: GameDayPlan): Map<string, string> {
  const out = new Map<string, string>();
  const steps = [...plan.steps, ...(plan.rollback?.steps ?? [])];
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw usage(`--choose: expected STEP=LABEL, got '${spec}'`);
    const id = spec.slice(0, eq);
    const label = spec.slice(eq + 1);
    const step = steps.find((s) => s.id === id);
    if (step?.kind !== 'decision') {
      const ids = steps.filter((s) => s.kind === 'decision').map((s) => s.id);
      throw usage(`--choose: '${id}' is not a decision step (expected one of ${ids.join(', ') || 'none'})`);
    }
    const chosen = optionOf(step, label);
    if (!chosen)
      throw usage(
        `--choose: '${label}' is not an option of ${id} (expected ${step.options.map((o) => `'${o.label}'`).join(', ')})`,
      );
    out.set(id, chosen);
  }
  return out;
}

function reportSpecs(specs: readonly string[], { parseReportSpecs }: Lib) {
  const parsed = parseReportSpecs(specs);
  for (const s of parsed)
    if (s.format !== 'html' && s.format !== 'markdown')
      throw usage(`--report: a game-day report is html or markdown, got '${s.format}' (${s.path})`);
  return parsed as { format: 'html' | 'markdown'; path: string }[];
}

const MARK: Record<CriterionResult['verdict'], string> = {
  met: '✓',
  'not-met': '✗',
  unknown: '?',
  manual: '…',
};

function eventLevel(e: TimelineEvent): 'info' | 'warn' {
  if (e.type === 'stop.requested' || e.type === 'rollback.started') return 'warn';
  if (e.type === 'step.finished' && (e.data?.outcome === 'failed' || e.data?.outcome === 'interrupted'))
    return 'warn';
  return 'info';
}

export async function gameDayRunCommand(file: string, flags: GameDayRunFlags, out: Output): Promise<number> {
  const l = await lib();
  const {
    checkOutputPath,
    describeEvent,
    GameDaySession,
    gameDayExitCode,
    localExperimentRunner,
    participantsFor,
  } = l;
  const reports = reportSpecs(flags.report ?? [], l);
  const loaded = await loadChecked(file, out, l);
  if (!loaded) return 2;
  const { plan } = loaded;
  const choices = parseChoices(flags.choose ?? [], plan);
  for (const r of reports) await checkOutputPath(r.path, `--report ${r.format}`, { missingDirOk: true });
  // Each journal's own path is checked by the run that writes it (runFromSource); the directory must be one.
  if (flags.journalDir !== undefined) {
    const info = await lstat(flags.journalDir).catch(() => undefined);
    if (info && !info.isDirectory())
      throw usage(`--journal-dir: ${flags.journalDir} exists and is not a directory`);
  }

  const interactive = process.stdin.isTTY === true || flags.answersFromStdin === true;
  const everyStep = [...plan.steps, ...(plan.rollback?.steps ?? [])];
  const needPeople = everyStep.filter(
    (s) => (s.kind === 'manual' && !flags.yes) || (s.kind === 'decision' && !flags.yes && !choices.has(s.id)),
  );
  if (!interactive && needPeople.length > 0)
    throw usage(
      `no terminal to ask on: ${needPeople.map((s) => `${s.id} (${s.kind})`).join(', ')} need someone to answer; run on a terminal, pass --yes (manual steps confirmed automatically, decisions take --choose or their first option) or --answers-from-stdin`,
    );

  const user = flags.as ?? localUser();
  const scribe = flags.as ?? plan.participants.find((p) => p.role === 'scribe')?.name ?? user;
  const judge = flags.as ?? plan.participants.find((p) => p.role === 'incident-commander')?.name ?? user;
  const ownerName = (owner: string | undefined) =>
    flags.as ?? participantsFor(plan, owner)[0] ?? owner ?? user;

  let session: GameDaySession | undefined;
  let stops = 0;
  const stop = (why: string) => {
    stops += 1;
    if (stops === 1)
      out.warn(
        `${why}: stopping; the step in progress is interrupted, then the rollback plan runs (again to skip the rollback plan)`,
      );
    session?.stop(user, why);
  };
  const terminal = interactive
    ? new GameDayConsole(
        out,
        {
          note: (text) => session?.note(scribe, text),
          stop,
        },
        (await import('node:readline')).createInterface,
      )
    : undefined;
  const onSignal = (sig: NodeJS.Signals) => stop(sig === 'SIGINT' ? 'Ctrl-C' : sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const renderer = new l.RunRenderer(out);
  try {
    session = new GameDaySession(
      plan,
      {
        runExperiment: localExperimentRunner({
          baseDir: loaded.baseDir,
          ...(flags.journalDir !== undefined ? { journalDir: flags.journalDir } : {}),
          settings: flags.settings,
          yes: flags.yes,
          confirm: terminal
            ? (question) => terminal.ask(`${question} (y/n)`, (l) => yesNo(l)?.ok)
            : undefined,
          onRunEvent: (_step, event) => {
            if (event.type === 'notice') renderer.notice(event.level, event.message);
            else if (event.type === 'journal') {
              if (event.error) out.error(event.error);
              else if (event.path) out.info(`  journal: ${event.path}`);
            } else if (event.type !== 'report' && event.type !== 'run-approved') renderer.handle(event);
          },
        }),
        confirm: async (step, signal) => {
          if (flags.yes) return { by: user, ok: true, auto: true };
          const who = ownerName(step.owner);
          const what = [step.title, step.instructions].filter(Boolean).join(': ');
          const a = await (terminal as GameDayConsole).ask(
            `${step.id}: ${who}${step.owner && step.owner !== who ? ` (${step.owner})` : ''}, ${what ? `${one(what)}: ` : ''}confirm (y/n, a note may follow)`,
            yesNo,
            signal,
          );
          return { by: who, ok: a.ok, ...(a.note ? { note: a.note } : {}) };
        },
        decide: async (step, signal) => {
          const given = choices.get(step.id);
          if (given) return { by: user, choice: given, auto: true };
          if (!terminal || terminal.closed)
            return { by: user, choice: step.options[0]?.label ?? '', auto: true };
          const who = ownerName(step.owner);
          const options = step.options.map(
            (o, i) => `${i + 1}) ${one(o.label)}${o.then ? ` → ${one(o.then)}` : ''}`,
          );
          const choice = await terminal.ask(
            `${step.id}: ${who}, ${one(step.question)} ${options.join('  ')} (number or label)`,
            (l) => optionOf(step, l),
            signal,
          );
          return { by: who, choice };
        },
        judge: async (c, signal) => {
          if (!terminal || terminal.closed) {
            out.info(`criterion ${c.id}: ${one(c.description)}: left to be judged (no one to ask)`);
            return undefined;
          }
          const a = await terminal.ask(
            `criterion ${c.id}: ${judge}, ${one(c.description)}: met? (y/n, a note may follow)`,
            yesNo,
            signal,
          );
          return { by: judge, met: a.ok, ...(a.note ? { note: a.note } : {}) };
        },
      },
      {
        onEvent: (e) => {
          const line = describeEvent(e);
          out[eventLevel(e)](line, { event: e.type, ...(e.step ? { step: e.step } : {}) });
        },
      },
    );
    terminal?.start();
    const final = await session.run();
    for (const r of reports) {
      try {
        const path = await l.writeReportFile(
          r.path,
          l.renderGameDayReport(r.format, final),
          `--report ${r.format}`,
        );
        out.summary(`  ${r.format} report: ${path}`);
      } catch (err) {
        out.error(`--report ${r.format}: cannot write ${r.path}: ${(err as Error).message}`);
        return 1;
      }
    }
    const code = gameDayExitCode(final);
    summarise(final, code, out);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    terminal?.close();
  }
}

function summarise(state: GameDayState, code: number, out: Output): void {
  const end = state.timeline.findLast((e) => e.type === 'gameday.ended');
  out.summary(
    `Game day ${one(state.plan.name)} ${state.status.toUpperCase()}${end?.text ? `: ${one(end.text)}` : ''}, exit code ${code}`,
    {
      status: state.status,
      exit_code: code,
    },
  );
  for (const c of state.criteria)
    out.summary(
      `  ${MARK[c.verdict]} ${c.id}: ${one(c.description)}: ${c.verdict}${c.measured ? ` (${one(c.measured)})` : ''}${c.detail ? `; ${one(c.detail)}` : ''}`,
      { criterion: c.id, verdict: c.verdict },
    );
}
