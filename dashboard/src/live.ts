/**
 * What the server pushes to the page over server-sent events, so nothing the page shows waits for a poll:
 *
 * - the server-wide stream `/api/live`: the emergency stop's state (raised, by whom, when, why; released)
 *   and every run of this server as it is queued, starts or ends. One EventSource for the whole page,
 *   opened while someone is signed in; when it cannot be held open (a proxy that buffers, a restart), the
 *   halt state is read with `GET /api/halt` every few seconds until it can.
 * - one run's stream `/api/runs/{id}/live`: a snapshot of its LiveState, then each event applied with
 *   the server's own reducer (applyLiveEvent), so the page and the server agree on what the run looks
 *   like. The browser reconnects by itself with `Last-Event-ID` and gets only what it missed.
 */
import { useEffect, useState } from 'preact/hooks';
import { applyLiveEvent } from '../../src/server/live-state.js';
import { api, type HaltState, type LiveEnvelope, type LiveState, type Run, session } from './api.js';

// ------------------------------------------------------------------ the server-wide stream

export type Connection = 'connecting' | 'open' | 'reconnecting' | 'closed';

let halt: HaltState | undefined;
let connection: Connection = 'closed';
let source: EventSource | undefined;
let fallback: ReturnType<typeof setTimeout> | undefined;
const haltListeners = new Set<() => void>();
const runListeners = new Set<(run: Run) => void>();

const FALLBACK_MS = 5_000;

function setHalt(next: HaltState): void {
  halt = next;
  for (const l of haltListeners) l();
}

function setConnection(next: Connection): void {
  connection = next;
  for (const l of haltListeners) l();
}

/** While the stream is down: the halt state from the API, and the stream tried again. */
function startFallback(): void {
  if (fallback) return;
  const tick = () => {
    fallback = undefined;
    if (source) return;
    api.halt().then(setHalt, () => {
      // A 401 has already shown the sign-in page (api.ts); anything else is tried again.
    });
    open();
    if (!source) fallback = setTimeout(tick, FALLBACK_MS);
  };
  fallback = setTimeout(tick, FALLBACK_MS);
}

function open(): void {
  if (source || session.current().state !== 'signed-in') return;
  setConnection(connection === 'closed' ? 'connecting' : 'reconnecting');
  const es = new EventSource('/api/live');
  source = es;
  es.addEventListener('open', () => setConnection('open'));
  es.addEventListener('halt', (e) => setHalt(JSON.parse((e as MessageEvent<string>).data) as HaltState));
  es.addEventListener('run', (e) => {
    const run = JSON.parse((e as MessageEvent<string>).data) as Run;
    for (const l of runListeners) l(run);
  });
  es.addEventListener('error', () => {
    if (es.readyState !== EventSource.CLOSED) {
      // The browser reconnects by itself.
      setConnection('reconnecting');
      return;
    }
    // Refused (an error status, a wrong content type): the browser gives up, so the page does the asking.
    es.close();
    if (source === es) source = undefined;
    setConnection('reconnecting');
    startFallback();
  });
  // The first answer may take a moment: the halt state from the API meanwhile.
  if (halt === undefined) api.halt().then((h) => halt === undefined && setHalt(h), startFallback);
}

function close(): void {
  source?.close();
  source = undefined;
  if (fallback) clearTimeout(fallback);
  fallback = undefined;
  halt = undefined;
  setConnection('closed');
}

session.subscribe((w) => (w.state === 'signed-in' ? open() : close()));

/** The emergency stop as the server last said it (undefined until it has), and the stream's state. */
export function useHalt(): { halt: HaltState | undefined; connection: Connection } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((t) => t + 1);
    haltListeners.add(l);
    open();
    return () => {
      haltListeners.delete(l);
    };
  }, []);
  return { halt, connection };
}

/** What a raise or release answered: shown at once, before the stream's own event arrives. */
export function haltChanged(next: HaltState): void {
  setHalt({
    halted: next.halted,
    ...(next.since !== undefined ? { since: next.since } : {}),
    ...(next.by !== undefined ? { by: next.by } : {}),
    ...(next.reason !== undefined ? { reason: next.reason } : {}),
  });
}

/** Calls `listener` with each run of this server as it is queued, starts or ends. */
export function useRunEvents(listener: (run: Run) => void): void {
  useEffect(() => {
    runListeners.add(listener);
    open();
    return () => {
      runListeners.delete(listener);
    };
  }, [listener]);
}

// ------------------------------------------------------------------ one run's stream

export type RunStream =
  | { state: 'off' }
  | { state: 'connecting' }
  | { state: 'open' }
  | { state: 'reconnecting' }
  /** The run ended: its stored summary. */
  | { state: 'ended'; run: Run }
  /** The server would not stream it (elsewhere, gone, signed out): the page falls back to polling. */
  | { state: 'unavailable' };

/**
 * The live state of run `id` while `enabled`: a snapshot, then each event applied in order. Once the
 * run ends (or the stream is refused) the connection is closed and stays closed until `attempt` changes
 * (the run's status: a queued run refused a stream may have one once it runs).
 */
export function useLiveRun(
  id: string,
  enabled: boolean,
  attempt = '',
): { live?: LiveState; stream: RunStream } {
  const [live, setLive] = useState<LiveState | undefined>();
  const [stream, setStream] = useState<RunStream>({ state: 'off' });
  const [done, setDone] = useState<string | undefined>();

  useEffect(() => {
    setLive(undefined);
    setStream({ state: 'off' });
    setDone(undefined);
  }, [id]);

  useEffect(() => {
    const key = `${id}|${attempt}`;
    if (!enabled || done === key) return;
    setStream({ state: 'connecting' });
    const es = new EventSource(api.liveUrl(id));
    const finish = (next: RunStream) => {
      es.close();
      setDone(key);
      setStream(next);
    };
    es.addEventListener('open', () => setStream({ state: 'open' }));
    es.addEventListener('snapshot', (e) => {
      setLive(JSON.parse((e as MessageEvent<string>).data) as LiveState);
    });
    es.addEventListener('live', (e) => {
      const envelope = JSON.parse((e as MessageEvent<string>).data) as LiveEnvelope;
      setLive((s) => (s ? applyLiveEvent(s, envelope) : s));
    });
    es.addEventListener('end', (e) =>
      finish({ state: 'ended', run: JSON.parse((e as MessageEvent<string>).data) }),
    );
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) finish({ state: 'unavailable' });
      else setStream({ state: 'reconnecting' });
    });
    return () => es.close();
  }, [id, enabled, attempt, done]);

  return live ? { live, stream } : { stream };
}

/** The time now, again every `ms`: ages that tick. */
export function useNow(ms = 1_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
