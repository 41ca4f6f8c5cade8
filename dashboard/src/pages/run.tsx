/**
 * One run: its status, verdict and reason, timings and tags. While it is queued or running the server
 * streams it (live.tsx: phase, probes against tolerances, faults and their ages, safeguards, the load's
 * charts, the log); once it has ended, what its journal says happened (each probe of the steady state
 * against its tolerance, the method's actions, the rollbacks, the faults and whether they were reverted).
 * When the stream cannot be had (the run is on another server, a proxy in the way) the page reads the run
 * every second instead. An Abort asks once. The journal is someone else's text when it was pushed: it is
 * shown as text, never as markup.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, api, can, type LiveState, type RunWithJournal } from '../api.js';
import { type RunStream, useLiveRun } from '../live.js';
import { href } from '../route.js';
import { Badge, Failure, Loading, seconds, Time, useFocusOnMount, useLoad, useWho } from '../ui.js';
import { LiveView, LoadCharts, StreamStatus } from './live.js';
import { Tags } from './runs.js';

interface ActivityRecord {
  activity?: { name?: string; type?: string; tolerance?: unknown; provider?: { type?: string } };
  status?: string;
  output?: unknown;
  exception?: string[];
  start?: string;
  end?: string;
  duration?: number;
  tolerance_met?: boolean;
}
interface SteadyState {
  steady_state_met?: boolean;
  probes?: ActivityRecord[];
}
interface FaultRecord {
  id?: string;
  kind?: string;
  target?: string;
  injected_at?: string;
  reverted_at?: string;
  verified?: boolean;
  irreversible?: boolean;
  error?: string;
}
interface JournalView {
  status?: string;
  steady_states?: { before?: SteadyState | null; after?: SteadyState | null; during?: SteadyState[] };
  run?: ActivityRecord[];
  rollbacks?: ActivityRecord[];
  faultline?: {
    reason?: string;
    faults?: FaultRecord[];
    unreverted?: FaultRecord[];
    verdict?: { label?: string; reasons?: string[]; warnings?: string[] };
  };
}

const live = (r: RunWithJournal) => r.status === 'queued' || r.status === 'running';

function journalOf(run: RunWithJournal): JournalView | undefined {
  const j = run.journal;
  return j && typeof j === 'object' && !Array.isArray(j) ? (j as JournalView) : undefined;
}

const list = <T,>(v: T[] | undefined | null): T[] => (Array.isArray(v) ? v : []);

/** A value as short text: outputs can be large, the report has them whole. */
function brief(v: unknown, max = 300): string {
  if (v === undefined) return '';
  let s: string;
  try {
    s = typeof v === 'string' ? v : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max)}… (${s.length} characters)` : s;
}

export function RunPage({ id }: { id: string }) {
  const heading = useFocusOnMount<HTMLHeadingElement>(`run-${id}`);
  const streaming = useRef(false);
  // Polled only while live and not streamed: the stream says everything a poll would, sooner.
  const run = useLoad(`run-${id}`, () => api.run(id), {
    ms: 1_000,
    while: (r) => live(r) && !streaming.current,
  });
  const { live: state, stream } = useLiveRun(id, Boolean(run.data && live(run.data)), run.data?.status);
  streaming.current =
    stream.state === 'open' || stream.state === 'reconnecting' || stream.state === 'connecting';
  const reload = run.reload;
  useEffect(() => {
    // The run ended (its journal is stored now), or the stream was refused: read the run again.
    if (stream.state === 'ended' || stream.state === 'unavailable') reload();
  }, [stream.state, reload]);
  return (
    <section>
      <p class="crumbs">
        <a href="#/runs">Runs</a> /
      </p>
      <h1 ref={heading} tabIndex={-1}>
        {run.data ? run.data.title || state?.title || 'Run' : 'Run'}
      </h1>
      {run.state === 'loading' && <Loading what="the run" />}
      {run.state === 'failed' && <Failure error={run.error} onRetry={run.reload} />}
      {run.data && <RunView run={run.data} live={state} stream={stream} onChange={run.reload} />}
    </section>
  );
}

function RunView({
  run,
  live: state,
  stream,
  onChange,
}: {
  run: RunWithJournal;
  live: LiveState | undefined;
  stream: RunStream;
  onChange: () => void;
}) {
  const who = useWho();
  const journal = journalOf(run);
  const fl = journal?.faultline;
  // The stream knows first: a run-end event comes before the stored run says so.
  const running = live(run) && !(state && state.status !== 'running' && state.status !== 'queued');
  const status = live(run) && state ? state.status : run.status;
  const verdict = run.verdict ?? (state?.verdict as RunWithJournal['verdict']);
  return (
    <>
      <div class="run-head">
        <dl class="facts">
          <div>
            <dt>Status</dt>
            <dd>
              <Badge kind="status" value={status} />
              {live(run) && (
                <>
                  {' '}
                  <StreamStatus stream={stream} />
                </>
              )}
            </dd>
          </div>
          <div>
            <dt>Verdict</dt>
            <dd>
              <Badge kind="verdict" value={verdict} />
            </dd>
          </div>
          <div>
            <dt>Experiment</dt>
            <dd>
              {run.experiment ? (
                <a href={href(['experiments', run.experiment])}>
                  {run.experiment} v{run.experimentVersion}
                </a>
              ) : (
                'pushed from elsewhere'
              )}
            </dd>
          </div>
          <div>
            <dt>Requested</dt>
            <dd>
              <Time at={run.requestedAt} /> by {run.requestedBy}
            </dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>
              <Time at={run.startedAt} />
            </dd>
          </div>
          <div>
            <dt>Finished</dt>
            <dd>
              <Time at={run.finishedAt} />
            </dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{seconds(run.duration)}</dd>
          </div>
          <div>
            <dt>Tags</dt>
            <dd>
              <Tags tags={run.tags} />
            </dd>
          </div>
          <div>
            <dt>Run id</dt>
            <dd>
              <code>{run.id}</code>
            </dd>
          </div>
        </dl>
        <div class="run-actions">
          {journal && (
            <a class="button" href={api.reportUrl(run.id)} target="_blank" rel="noopener">
              HTML report
            </a>
          )}
          {run.experiment && !running && (
            <a class="button secondary" href={href(['compare'], { a: run.id })}>
              Compare with…
            </a>
          )}
          {running && can(who, 'run.abort') && <AbortButton run={run} onDone={onChange} />}
        </div>
      </div>
      {(Boolean(run.reason) || list(fl?.verdict?.reasons).length > 0) && (
        <div class="reason">
          <h2>Why</h2>
          {run.reason && <p>{run.reason}</p>}
          {list(fl?.verdict?.reasons)
            .filter((r) => r !== run.reason)
            .map((r) => (
              <p key={r}>{r}</p>
            ))}
        </div>
      )}
      {state && running && <LiveView live={state} />}
      {running && !state && (
        <p class="state empty">
          {stream.state === 'unavailable'
            ? 'The journal appears when the run ends (updating every second).'
            : run.status === 'queued'
              ? 'Queued: the live view starts with the run.'
              : 'Connecting to the live view…'}
        </p>
      )}
      {!running && !journal && (
        <p class="state empty">
          {live(run)
            ? 'The run has ended: its journal is on its way.'
            : 'This run has no journal (it ended before it started).'}
        </p>
      )}
      {!running && state && state.load.length > 0 && (
        <>
          <h2>Load</h2>
          <LoadCharts live={state} />
        </>
      )}
      {!running && journal && <JournalView journal={journal} />}
    </>
  );
}

function AbortButton({ run, onDone }: { run: RunWithJournal; onDone: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [error, setError] = useState<ApiFailure | undefined>();
  const [busy, setBusy] = useState(false);
  const confirm = async () => {
    setBusy(true);
    try {
      await api.abort(run.id);
      setError(undefined);
      dialog.current?.close();
      onDone();
    } catch (err) {
      setError(err instanceof ApiFailure ? err : new ApiFailure(0, 'client', String(err)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" class="danger" onClick={() => dialog.current?.showModal()}>
        Abort run
      </button>
      <dialog ref={dialog} aria-labelledby="abort-title">
        <h2 id="abort-title">Abort this run?</h2>
        <p>
          {run.status === 'running'
            ? 'The run is interrupted: its faults are reverted and its journal is recorded.'
            : 'The run is queued: it is cancelled and will not run.'}
        </p>
        {error && <Failure error={error} />}
        <div class="actions">
          {/* The harmless choice first: showModal() focuses it, so Enter does not abort by accident. */}
          <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
            Keep it running
          </button>
          <button type="button" class="danger" onClick={confirm} disabled={busy}>
            {busy ? 'Aborting…' : 'Abort'}
          </button>
        </div>
      </dialog>
    </>
  );
}

function JournalView({ journal }: { journal: JournalView }) {
  const ss = journal.steady_states;
  const faults = list(journal.faultline?.faults);
  const unreverted = new Set(list(journal.faultline?.unreverted).map((f) => f.id));
  return (
    <>
      <Activities title="Steady state before" records={list(ss?.before?.probes)} met={ss?.before} />
      <Activities title="Method" records={list(journal.run)} />
      {list(ss?.during).length > 0 && (
        <p class="sub">
          Checked during the method {list(ss?.during).length} times, met{' '}
          {list(ss?.during).filter((d) => d.steady_state_met).length}.
        </p>
      )}
      <Activities title="Steady state after" records={list(ss?.after?.probes)} met={ss?.after} />
      {list(journal.rollbacks).length > 0 && (
        <Activities title="Rollbacks" records={list(journal.rollbacks)} />
      )}
      <h2>Faults</h2>
      {faults.length === 0 ? (
        <p class="muted">No fault was injected.</p>
      ) : (
        <table class="list faults">
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Target</th>
              <th scope="col">Injected</th>
              <th scope="col">Reverted</th>
            </tr>
          </thead>
          <tbody>
            {faults.map((f, n) => (
              <tr key={f.id ?? n}>
                <td data-label="Kind">{f.kind}</td>
                <td data-label="Target">
                  <code>{f.target}</code>
                </td>
                <td data-label="Injected">
                  <Time at={f.injected_at} />
                </td>
                <td data-label="Reverted">
                  {f.irreversible ? (
                    'cannot be undone'
                  ) : f.reverted_at && !unreverted.has(f.id) ? (
                    <>
                      <Time at={f.reverted_at} />
                      {f.verified ? ' (verified)' : ''}
                    </>
                  ) : (
                    <span class="bad">NOT reverted{f.error ? `: ${f.error}` : ''}</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function Activities({
  title,
  records,
  met,
}: {
  title: string;
  records: ActivityRecord[];
  met?: SteadyState | null | undefined;
}) {
  if (records.length === 0 && !met) return null;
  return (
    <>
      <h2>
        {title}
        {met && (
          <span class={met.steady_state_met ? 'good' : 'bad'}>
            {' '}
            — {met.steady_state_met ? 'met' : 'not met'}
          </span>
        )}
      </h2>
      {records.length === 0 ? (
        <p class="muted">Nothing ran.</p>
      ) : (
        <ol class="activities">
          {records.map((r, n) => (
            <li key={n} class={`activity ${r.status === 'failed' ? 'failed' : ''}`}>
              <div class="activity-head">
                <span class="kind">{r.activity?.type ?? 'activity'}</span>{' '}
                <strong>{r.activity?.name ?? '(unnamed)'}</strong>{' '}
                <span class={r.status === 'succeeded' ? 'good' : 'bad'}>{r.status}</span>
                <span class="sub"> · {seconds(r.duration)}</span>
              </div>
              {r.activity?.tolerance !== undefined && (
                <div class="tolerance">
                  Tolerance <code>{brief(r.activity.tolerance, 200)}</code>:{' '}
                  {r.tolerance_met === undefined ? (
                    'not checked'
                  ) : r.tolerance_met ? (
                    <span class="good">met</span>
                  ) : (
                    <span class="bad">not met</span>
                  )}
                </div>
              )}
              {r.output !== undefined && r.output !== null && (
                <div class="output">
                  Result <code>{brief(r.output)}</code>
                </div>
              )}
              {r.exception && r.exception.length > 0 && (
                <pre class="exception">{r.exception[r.exception.length - 1]}</pre>
              )}
            </li>
          ))}
        </ol>
      )}
    </>
  );
}
