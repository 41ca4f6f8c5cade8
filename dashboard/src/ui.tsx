/**
 * What every page shares: loading data with its three states (loading, failed, loaded), and how a status,
 * a verdict, a time and a duration look. A failure always shows the server's own message, and a way to try
 * again, never a blank page.
 */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, type Issue, session, type Who } from './api.js';

export type Loaded<T> =
  | { state: 'loading'; data?: undefined; error?: undefined }
  | { state: 'failed'; data?: T; error: ApiFailure }
  | { state: 'loaded'; data: T; error?: undefined };

function asFailure(err: unknown): ApiFailure {
  return err instanceof ApiFailure
    ? err
    : new ApiFailure(0, 'client', String((err as Error)?.message ?? err));
}

/**
 * Loads `load()` when `key` changes; `pollMs` reloads it while `keepPolling(data)` says so (a running run).
 * A reload keeps the data shown while it is under way, and answers from an earlier key are dropped.
 */
export function useLoad<T>(
  key: string,
  load: () => Promise<T>,
  poll?: { ms: number; while: (data: T) => boolean },
): Loaded<T> & { reload: () => void } {
  const [value, setValue] = useState<Loaded<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const current = useRef(key);
  current.current = key;
  const loadRef = useRef(load);
  loadRef.current = load;
  const pollRef = useRef(poll);
  pollRef.current = poll;

  useEffect(() => setValue({ state: 'loading' }), [key]);

  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = () => {
      loadRef.current().then(
        (data) => {
          if (cancelled || current.current !== key) return;
          setValue({ state: 'loaded', data });
          const p = pollRef.current;
          if (p?.while(data)) timer = setTimeout(run, p.ms);
        },
        (err: unknown) => {
          if (cancelled || current.current !== key) return;
          setValue((prev) => ({ state: 'failed', data: prev.data, error: asFailure(err) }));
          // A running run's page keeps trying: the server may be restarting.
          const p = pollRef.current;
          if (p) timer = setTimeout(run, p.ms * 3);
        },
      );
    };
    run();
    return () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
    };
  }, [key, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...value, reload };
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="state loading" role="status">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="state empty">{children}</div>;
}

export function Failure({ error, onRetry }: { error: ApiFailure; onRetry?: () => void }) {
  return (
    <div class="state failure" role="alert">
      <p>
        <strong>{error.status === 0 ? 'No answer' : `Error ${error.status}`}</strong> {error.message}
      </p>
      <Issues issues={error.issues} />
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Issues({ issues }: { issues: readonly Issue[] }) {
  if (issues.length === 0) return null;
  return (
    <ul class="issues">
      {issues.map((i, n) => (
        <li key={n}>
          {i.line !== undefined && (
            <span class="where">
              line {i.line}
              {i.column !== undefined ? `, column ${i.column}` : ''}
            </span>
          )}{' '}
          {i.path && <code>{i.path}</code>} {i.message}
        </li>
      ))}
    </ul>
  );
}

export function Badge({ value, kind }: { value: string | undefined; kind: 'status' | 'verdict' }) {
  if (!value) return <span class="badge none">—</span>;
  return <span class={`badge ${kind}-${value}`}>{value}</span>;
}

export function Time({ at }: { at: string | undefined }) {
  if (!at) return <span>—</span>;
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return <span>{at}</span>;
  return (
    <time dateTime={at} title={at}>
      {d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' })}
    </time>
  );
}

export function seconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '—';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/** Moves focus to a page's heading when the page changes, so a screen reader and the Tab key start there. */
export function useFocusOnMount<T extends HTMLElement>(key: string) {
  const ref = useRef<T>(null);
  useEffect(() => {
    ref.current?.focus({ preventScroll: true });
  }, [key]);
  return ref;
}

/** Who the page is, re-rendering on sign-in, sign-out and a session that ends. */
export function useWho(): Who {
  const [who, setWho] = useState(session.current);
  useEffect(() => {
    const stop = session.subscribe(setWho);
    // A change between the first render and this effect would otherwise be missed.
    setWho(session.current());
    return stop;
  }, []);
  return who;
}
