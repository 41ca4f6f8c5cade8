/**
 * The live view of a run (issue #17): what the server sends a browser while
 * a run runs, and the one reducer both sides apply to it. The server keeps a
 * LiveState per running run (live.ts) by applying each LiveEvent as the
 * engine emits it; a browser that connects gets the state so far (a
 * `snapshot`) and then the same events, and applies them with this same
 * function, so the page and the server cannot disagree about what a run
 * looks like.
 *
 * Pure and dependency-free on purpose: the dashboard's bundle imports it, so
 * it may import types only (no zod, nothing of Node's).
 */
import type { LogLevel } from '../core/resource.js';
import type { Phase } from '../engine/events.js';

/** One second of the experiment's load, as its live charts draw it. */
export interface LoadSample {
  /** When the second ended (ms since the epoch, the server's clock). */
  at: number;
  /** Completed requests per second. */
  throughput: number;
  /** Share of completed requests that failed (not 2xx/3xx), 0-1; 0 when none completed. */
  errorRate: number;
  /** Latency percentiles over the second, ms. */
  p50: number;
  p99: number;
}

/**
 * A RunSourceEvent as the browser gets it: JSON-safe, outputs shortened (an activity's output can be
 * megabytes), secrets already redacted by the engine.
 */
export type LiveEvent =
  | { type: 'run-start'; title: string }
  | { type: 'phase'; phase: Phase }
  | {
      type: 'activity-start';
      phase: Phase;
      name: string;
      activity: 'probe' | 'action';
      background: boolean;
    }
  | {
      type: 'activity-end';
      phase: Phase;
      name: string;
      status: 'succeeded' | 'failed';
      /** The output, as JSON text cut to LIVE_OUTPUT_CHARS. */
      output?: string;
      /** Steady-state probes: the tolerance as declared, and whether the output met it. */
      tolerance?: unknown;
      toleranceMet?: boolean;
      error?: string;
    }
  | { type: 'hypothesis-end'; phase: Phase; met: boolean }
  | {
      type: 'fault';
      action: 'injected' | 'reverted' | 'revert-failed' | 'expired';
      fault: {
        id: string;
        kind: string;
        target: string;
        injectedAt: string;
        revertedAt?: string;
        error?: string;
      };
    }
  | { type: 'load'; sample: LoadSample }
  | { type: 'safeguard'; name: string; met: boolean; value?: string; tolerance?: unknown; reason?: string }
  | { type: 'log'; level: LogLevel; message: string }
  /** The run ended: its verdict, as the store records it. */
  | { type: 'run-end'; status: string; verdict?: string; reason?: string };

/** How every event travels: in order (`seq` from 1 per run), stamped with when the server sent it. */
export interface LiveEnvelope {
  seq: number;
  /** ms since the epoch when the server emitted it (what the event-to-browser latency is measured from). */
  at: number;
  event: LiveEvent;
}

export interface LiveProbe {
  phase: Phase;
  name: string;
  status: 'running' | 'succeeded' | 'failed';
  output?: string;
  tolerance?: unknown;
  toleranceMet?: boolean;
  error?: string;
}

export interface LiveFault {
  id: string;
  kind: string;
  target: string;
  injectedAt: string;
  state: 'active' | 'reverted' | 'revert-failed' | 'expired';
  revertedAt?: string;
  error?: string;
}

export interface LiveSafeguard {
  name: string;
  met: boolean;
  value?: string;
  tolerance?: unknown;
  reason?: string;
  /** How many times it was checked so far. */
  checks: number;
  /** When it was last checked (ms since the epoch). */
  at: number;
}

export interface LiveState {
  runId: string;
  title: string;
  /** `running` until a run-end event says otherwise. */
  status: string;
  verdict?: string;
  reason?: string;
  phase?: Phase;
  /** The activities under way now (background ones too), oldest first. */
  current: { phase: Phase; name: string; activity: 'probe' | 'action'; since: number }[];
  /** Every activity that ran, newest last (at most LIVE_ACTIVITIES). */
  activities: LiveProbe[];
  /** Steady-state results by phase, as each hypothesis ends. */
  hypotheses: { phase: Phase; met: boolean }[];
  faults: LiveFault[];
  safeguards: LiveSafeguard[];
  /** The load's seconds, oldest first (at most LIVE_LOAD_SECONDS). */
  load: LoadSample[];
  /** The last log lines (at most LIVE_LOG_LINES). */
  log: { at: number; level: LogLevel; message: string }[];
  /** The last event applied: a client that reconnects asks for what came after it. */
  seq: number;
}

export const LIVE_OUTPUT_CHARS = 2_000;
export const LIVE_ACTIVITIES = 200;
export const LIVE_LOAD_SECONDS = 600;
export const LIVE_LOG_LINES = 100;

export function initialLiveState(runId: string, title: string): LiveState {
  return {
    runId,
    title,
    status: 'running',
    current: [],
    activities: [],
    hypotheses: [],
    faults: [],
    safeguards: [],
    load: [],
    log: [],
    seq: 0,
  };
}

function capped<T>(list: T[], max: number): T[] {
  return list.length > max ? list.slice(list.length - max) : list;
}

/**
 * The state after `envelope` (a new object; `state` is not changed). An event already applied (its seq
 * is not after the state's) is ignored, so a snapshot followed by events that overlap it is harmless.
 */
export function applyLiveEvent(state: LiveState, envelope: LiveEnvelope): LiveState {
  if (envelope.seq <= state.seq) return state;
  const s: LiveState = { ...state, seq: envelope.seq };
  const e = envelope.event;
  switch (e.type) {
    case 'run-start':
      s.title = e.title;
      break;
    case 'phase':
      s.phase = e.phase;
      break;
    case 'activity-start':
      s.current = [...s.current, { phase: e.phase, name: e.name, activity: e.activity, since: envelope.at }];
      s.activities = capped(
        [...s.activities, { phase: e.phase, name: e.name, status: 'running' }],
        LIVE_ACTIVITIES,
      );
      break;
    case 'activity-end': {
      const i = s.current.findIndex((c) => c.phase === e.phase && c.name === e.name);
      if (i >= 0) s.current = [...s.current.slice(0, i), ...s.current.slice(i + 1)];
      const ended: LiveProbe = {
        phase: e.phase,
        name: e.name,
        status: e.status,
        ...(e.output !== undefined ? { output: e.output } : {}),
        ...(e.tolerance !== undefined ? { tolerance: e.tolerance } : {}),
        ...(e.toleranceMet !== undefined ? { toleranceMet: e.toleranceMet } : {}),
        ...(e.error !== undefined ? { error: e.error } : {}),
      };
      // The latest running entry of that name in that phase is the one that ended.
      let j = -1;
      for (let k = s.activities.length - 1; k >= 0; k--) {
        const a = s.activities[k] as LiveProbe;
        if (a.status === 'running' && a.phase === e.phase && a.name === e.name) {
          j = k;
          break;
        }
      }
      s.activities =
        j >= 0
          ? [...s.activities.slice(0, j), ended, ...s.activities.slice(j + 1)]
          : capped([...s.activities, ended], LIVE_ACTIVITIES);
      break;
    }
    case 'hypothesis-end':
      s.hypotheses = [...s.hypotheses, { phase: e.phase, met: e.met }];
      break;
    case 'fault': {
      const f = e.fault;
      const state: LiveFault['state'] = e.action === 'injected' ? 'active' : e.action;
      const next: LiveFault = {
        id: f.id,
        kind: f.kind,
        target: f.target,
        injectedAt: f.injectedAt,
        state,
        ...(f.revertedAt !== undefined ? { revertedAt: f.revertedAt } : {}),
        ...(f.error !== undefined ? { error: f.error } : {}),
      };
      const i = s.faults.findIndex((x) => x.id === f.id);
      s.faults = i >= 0 ? [...s.faults.slice(0, i), next, ...s.faults.slice(i + 1)] : [...s.faults, next];
      break;
    }
    case 'load':
      s.load = capped([...s.load, e.sample], LIVE_LOAD_SECONDS);
      break;
    case 'safeguard': {
      const i = s.safeguards.findIndex((g) => g.name === e.name);
      const checks = i >= 0 ? (s.safeguards[i] as LiveSafeguard).checks + 1 : 1;
      const next: LiveSafeguard = {
        name: e.name,
        met: e.met,
        checks,
        at: envelope.at,
        ...(e.value !== undefined ? { value: e.value } : {}),
        ...(e.tolerance !== undefined ? { tolerance: e.tolerance } : {}),
        ...(e.reason !== undefined ? { reason: e.reason } : {}),
      };
      s.safeguards =
        i >= 0 ? [...s.safeguards.slice(0, i), next, ...s.safeguards.slice(i + 1)] : [...s.safeguards, next];
      break;
    }
    case 'log':
      s.log = capped([...s.log, { at: envelope.at, level: e.level, message: e.message }], LIVE_LOG_LINES);
      break;
    case 'run-end':
      s.status = e.status;
      s.current = [];
      if (e.verdict !== undefined) s.verdict = e.verdict;
      if (e.reason !== undefined) s.reason = e.reason;
      break;
  }
  return s;
}
