/**
 * Game days (issue #18 item 5). `#/gamedays`: the game days, a new one from a pasted plan (YAML or
 * JSON; every mistake shown with its line and column), and the follow-up actions of every game day,
 * open until someone closes them (the Remediate step). `#/gamedays/<id>`: one game day as it happens,
 * over server-sent events (GET every second when the stream cannot be had): who takes part in which
 * role, the steps with the one in progress highlighted with its owner, Confirm and the decision's
 * options on the step waiting for them, timestamped notes from the scribe and everyone, the timeline,
 * Stop game day (the header's emergency stop stops it too), the success criteria's verdicts, the
 * report (HTML, Markdown) and the follow-ups.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { FollowUp, GameDaySummary, TimelineEvent } from '../../../src/server/gamedays/model.js';
import type { GameDayView, StepView } from '../../../src/server/gamedays/view.js';
import { ApiFailure, call, can, failure, type Who } from '../api.js';
import { useStartBlocked } from '../halt.js';
import { href, navigate } from '../route.js';
import { Empty, Failure, Loading, Time, useFocusOnMount, useLoad, useWho } from '../ui.js';
import './gamedays.css';

/**
 * What a button does: `busy` names the action under way (a form's, a row's), `error` is its failure as
 * the server said it; `run` resolves true when it succeeded.
 */
function useAction() {
  const [busy, setBusy] = useState<string | undefined>();
  const [error, setError] = useState<ApiFailure | undefined>();
  const run = async (key: string, fn: () => Promise<unknown>): Promise<boolean> => {
    setBusy(key);
    setError(undefined);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(failure(err));
      return false;
    } finally {
      setBusy(undefined);
    }
  };
  return { busy, error, setError, run };
}

const enc = encodeURIComponent;

const gamedays = {
  list: () => call<GameDaySummary[]>('GET', '/api/gamedays'),
  get: (id: string) => call<GameDayView>('GET', `/api/gamedays/${enc(id)}`),
  create: (source: string) => call<GameDayView>('POST', '/api/gamedays', { source }),
  start: (id: string) => call<GameDayView>('POST', `/api/gamedays/${enc(id)}/start`),
  confirm: (id: string, step: string, ok: boolean, note?: string) =>
    call<GameDayView>('POST', `/api/gamedays/${enc(id)}/steps/${enc(step)}/confirm`, {
      ok,
      ...(note ? { note } : {}),
    }),
  decide: (id: string, step: string, choice: string) =>
    call<GameDayView>('POST', `/api/gamedays/${enc(id)}/steps/${enc(step)}/decide`, { choice }),
  note: (id: string, text: string) => call<GameDayView>('POST', `/api/gamedays/${enc(id)}/notes`, { text }),
  stop: (id: string, reason: string) =>
    call<GameDayView>('POST', `/api/gamedays/${enc(id)}/stop`, { reason }),
  judge: (id: string, criterion: string, met: boolean) =>
    call<GameDayView>('POST', `/api/gamedays/${enc(id)}/criteria/${enc(criterion)}`, { met }),
  followUps: (state: 'open' | 'all', gameday?: string) =>
    call<FollowUp[]>('GET', `/api/followups?state=${state}${gameday ? `&gameday=${enc(gameday)}` : ''}`),
  addFollowUp: (gameday: string, text: string, owner?: string) =>
    call<FollowUp>('POST', '/api/followups', { gameday, text, ...(owner ? { owner } : {}) }),
  closeFollowUp: (id: string) => call<FollowUp>('POST', `/api/followups/${enc(id)}/close`, {}),
  liveUrl: (id: string) => `/api/gamedays/${enc(id)}/live`,
  reportUrl: (id: string, format: 'html' | 'markdown') =>
    `/api/gamedays/${enc(id)}/report${format === 'markdown' ? '?format=markdown' : ''}`,
};

const ENDED = new Set(['finished', 'stopped', 'failed']);
const isLive = (status: string) => !ENDED.has(status) && status !== 'pending';

export function GameDaysPage({ id }: { id: string | undefined }) {
  return id ? <GameDayPage id={id} /> : <GameDayList />;
}

// ------------------------------------------------------------------ the list

const EXAMPLE = `name: checkout-failover
title: Checkout survives losing its primary database
objective: Learn whether checkout fails over within two minutes
hypothesis: Orders keep succeeding while the primary is down
participants:
  - { name: alice, role: incident-commander }
  - { name: bob, role: technical-lead }
  - { name: carol, role: scribe }
steps:
  - { id: baseline, kind: manual, title: Dashboards green, owner: technical-lead }
  - { id: kill-primary, kind: experiment, experiment: pg-kill, owner: technical-lead }
success_criteria:
  - { id: held, description: The hypothesis held, measure: { kind: verdict, step: kill-primary } }
rollback:
  steps:
    - { id: promote-back, kind: manual, owner: incident-commander }
`;

function GameDayList() {
  const heading = useFocusOnMount<HTMLHeadingElement>('gamedays');
  const who = useWho();
  const list = useLoad('gamedays', gamedays.list, {
    ms: 5_000,
    while: (l) => l.some((g) => isLive(g.status)),
  });
  return (
    <section class="gamedays">
      <h1 ref={heading} tabIndex={-1}>
        Game days
      </h1>
      {can(who, 'gameday.manage') && <CreateGameDay />}
      <h2>Game days</h2>
      {list.state === 'loading' && <Loading what="game days" />}
      {list.state === 'failed' && <Failure error={list.error} onRetry={list.reload} />}
      {list.data && list.data.length === 0 && (
        <Empty>
          <p>No game days yet. Paste a plan above to create one.</p>
        </Empty>
      )}
      {list.data && list.data.length > 0 && (
        <table class="list">
          <caption class="visually-hidden">Game days, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Game day</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Started</th>
              <th scope="col">Ended</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((g) => (
              <tr key={g.id}>
                <td data-label="Game day">
                  <a href={href(['gamedays', g.id])}>{g.title}</a>
                  <div class="sub">
                    {g.name} · {g.createdBy}
                  </div>
                </td>
                <td data-label="Status">
                  <GameDayStatus status={g.status} />
                </td>
                <td data-label="Created">
                  <Time at={g.createdAt} />
                </td>
                <td data-label="Started">
                  <Time at={g.startedAt} />
                  {g.startedBy && <div class="sub">by {g.startedBy}</div>}
                </td>
                <td data-label="Ended">
                  <Time at={g.endedAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <FollowUps who={who} />
    </section>
  );
}

function GameDayStatus({ status }: { status: string }) {
  return <span class={`badge gameday-${status}`}>{status}</span>;
}

function CreateGameDay() {
  const [source, setSource] = useState('');
  const { busy, error, run } = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void run('create', async () => navigate(href(['gamedays', (await gamedays.create(source)).id])));
  };
  return (
    <form class="gameday-create" onSubmit={submit}>
      <h2>New game day</h2>
      <label>
        Plan (YAML or JSON)
        <span class="hint">
          Experiment steps name experiments stored on this server. <code>faultline gameday schema</code>{' '}
          prints the plan's JSON Schema.
        </span>
        <textarea
          name="plan"
          rows={12}
          spellcheck={false}
          placeholder={EXAMPLE}
          value={source}
          onInput={(e) => setSource((e.currentTarget as HTMLTextAreaElement).value)}
        />
      </label>
      {error && <Failure error={error} />}
      <div class="actions">
        <button type="submit" disabled={busy !== undefined || source.trim() === ''}>
          {busy ? 'Creating…' : 'Create game day'}
        </button>
      </div>
    </form>
  );
}

/** Follow-up actions: open ones across game days (or one game day's, all of them), with Close. */
function FollowUps({ who, gameday }: { who: Who; gameday?: string }) {
  const [showClosed, setShowClosed] = useState(false);
  const state = gameday || showClosed ? 'all' : 'open';
  const list = useLoad(`followups|${state}|${gameday ?? ''}`, () => gamedays.followUps(state, gameday));
  const { busy, error, run } = useAction();
  const [text, setText] = useState('');
  const [owner, setOwner] = useState('');
  const manage = can(who, 'gameday.manage');
  const close = (f: FollowUp) =>
    run(f.id, () => gamedays.closeFollowUp(f.id)).then((ok) => ok && list.reload());
  const add = async (e: Event) => {
    e.preventDefault();
    if (!gameday) return;
    if (await run('new', () => gamedays.addFollowUp(gameday, text.trim(), owner.trim() || undefined))) {
      setText('');
      setOwner('');
      list.reload();
    }
  };
  return (
    <section class="followups" aria-labelledby={`followups-${gameday ?? 'all'}`}>
      <h2 id={`followups-${gameday ?? 'all'}`}>Follow-up actions</h2>
      {!gameday && (
        <label class="inline">
          <input
            type="checkbox"
            checked={showClosed}
            onChange={(e) => setShowClosed((e.currentTarget as HTMLInputElement).checked)}
          />{' '}
          Show closed ones too
        </label>
      )}
      {list.state === 'loading' && <Loading what="follow-up actions" />}
      {list.state === 'failed' && <Failure error={list.error} onRetry={list.reload} />}
      {error && <Failure error={error} />}
      {list.data && list.data.length === 0 && (
        <Empty>
          <p>{gameday ? 'No follow-up actions.' : 'No open follow-up actions.'}</p>
        </Empty>
      )}
      {list.data && list.data.length > 0 && (
        <ul class="followup-list">
          {list.data.map((f) => (
            <li key={f.id} class={`followup ${f.state}`}>
              <div>
                <strong>{f.text}</strong>
                <div class="sub">
                  {f.owner ? `${f.owner} · ` : ''}
                  {!gameday && (
                    <>
                      <a href={href(['gamedays', f.gameday])}>{f.gamedayTitle ?? f.gameday}</a> ·{' '}
                    </>
                  )}
                  {f.state === 'closed' ? (
                    <>
                      closed by {f.closedBy} <Time at={f.closedAt} />
                      {f.closeNote ? `: ${f.closeNote}` : ''}
                    </>
                  ) : (
                    <>
                      open since <Time at={f.createdAt} />
                    </>
                  )}
                </div>
              </div>
              {manage && f.state === 'open' && (
                <button type="button" class="secondary" disabled={busy === f.id} onClick={() => close(f)}>
                  {busy === f.id ? 'Closing…' : 'Close'}
                  <span class="visually-hidden"> {f.text}</span>
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {gameday && manage && (
        <form class="followup-add" onSubmit={add}>
          <label>
            New follow-up action
            <input
              type="text"
              maxLength={2000}
              value={text}
              onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)}
            />
          </label>
          <label>
            Owner
            <input
              type="text"
              maxLength={128}
              value={owner}
              onInput={(e) => setOwner((e.currentTarget as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" disabled={busy === 'new' || text.trim() === ''}>
            Add follow-up
          </button>
        </form>
      )}
    </section>
  );
}

// ------------------------------------------------------------------ one game day

type Stream = 'connecting' | 'open' | 'polling' | 'ended';

/**
 * The game day, live: a snapshot, then each timeline event and state as the server records them;
 * when the stream is refused (another server runs it) or cannot be held, GET every second until it ends.
 */
function useGameDay(id: string): {
  view?: GameDayView;
  error?: ApiFailure;
  stream: Stream;
  set: (v: GameDayView) => void;
} {
  const [view, setView] = useState<GameDayView | undefined>();
  const [error, setError] = useState<ApiFailure | undefined>();
  const [stream, setStream] = useState<Stream>('connecting');
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    setView(undefined);
    setError(undefined);
    setStream('connecting');
  }, [id]);

  useEffect(() => {
    let closed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = () => {
      gamedays.get(id).then(
        (v) => {
          if (closed) return;
          setView(v);
          setError(undefined);
          if (ENDED.has(v.status)) setStream('ended');
          else timer = setTimeout(poll, 1_000);
        },
        (err) => {
          if (closed) return;
          setError(failure(err));
          timer = setTimeout(poll, 3_000);
        },
      );
    };
    const es = new EventSource(gamedays.liveUrl(id));
    es.addEventListener('open', () => setStream('open'));
    es.addEventListener('snapshot', (e) => {
      setView(JSON.parse((e as MessageEvent<string>).data) as GameDayView);
      setError(undefined);
    });
    es.addEventListener('timeline', (e) => {
      const event = JSON.parse((e as MessageEvent<string>).data) as TimelineEvent;
      setView((v) =>
        v && !v.timeline.some((t) => t.seq === event.seq) ? { ...v, timeline: [...v.timeline, event] } : v,
      );
    });
    es.addEventListener('gameday', (e) => {
      const next = JSON.parse((e as MessageEvent<string>).data) as Omit<GameDayView, 'timeline'>;
      // Whole, not merged: a field the new state lacks (no one waited on any more) must go.
      setView((v) => (v ? { ...next, timeline: v.timeline } : v));
    });
    es.addEventListener('end', (e) => {
      es.close();
      const final = JSON.parse((e as MessageEvent<string>).data) as GameDayView;
      if (final.timeline) setView(final);
      setStream('ended');
    });
    es.addEventListener('error', () => {
      if (es.readyState !== EventSource.CLOSED) return;
      // Refused (another server runs it, a proxy): the page asks instead.
      setStream((s) => (s === 'ended' ? s : 'polling'));
      if (!closed) poll();
    });
    return () => {
      closed = true;
      es.close();
      if (timer) clearTimeout(timer);
    };
  }, [id, attempt]);

  // A game day started from this page: its stream is asked for again, now that there is something to say.
  const set = (v: GameDayView) => {
    // An answer older than what the stream already brought (its timeline is shorter) is not shown.
    const last = (g: GameDayView | undefined) => g?.timeline.at(-1)?.seq ?? 0;
    setView((cur) => (last(v) >= last(cur) ? v : cur));
    if (stream === 'ended' && !ENDED.has(v.status)) {
      setStream('connecting');
      setAttempt((a) => a + 1);
    }
  };
  return { ...(view ? { view } : {}), ...(error ? { error } : {}), stream, set };
}

function GameDayPage({ id }: { id: string }) {
  const heading = useFocusOnMount<HTMLHeadingElement>(`gameday-${id}`);
  const who = useWho();
  const { view, error, stream, set } = useGameDay(id);
  if (!view)
    return (
      <section>
        <p class="crumbs">
          <a href="#/gamedays">Game days</a>
        </p>
        {error ? <Failure error={error} /> : <Loading what="the game day" />}
      </section>
    );
  return (
    <section class="gameday">
      <p class="crumbs">
        <a href="#/gamedays">Game days</a> / {view.name}
      </p>
      <div class="run-head">
        <h1 ref={heading} tabIndex={-1}>
          {view.title}
        </h1>
        <GameDayStatus status={view.status} />
        <span class={`stream stream-${stream === 'open' ? 'open' : 'reconnecting'}`} role="status">
          {stream === 'open'
            ? 'live'
            : stream === 'polling'
              ? 'refreshing every second'
              : stream === 'ended'
                ? ''
                : 'connecting…'}
        </span>
      </div>
      {error && <Failure error={error} />}
      <dl class="facts">
        {view.objective && (
          <div>
            <dt>Objective</dt>
            <dd>{view.objective}</dd>
          </div>
        )}
        {view.hypothesis && (
          <div>
            <dt>Hypothesis</dt>
            <dd>{view.hypothesis}</dd>
          </div>
        )}
        <div>
          <dt>Started</dt>
          <dd>
            {view.startedAt ? (
              <>
                <Time at={view.startedAt} /> by {view.startedBy}
              </>
            ) : (
              'not yet'
            )}
          </dd>
        </div>
        {view.endedAt && (
          <div>
            <dt>Ended</dt>
            <dd>
              <Time at={view.endedAt} />
              {view.reason ? `: ${view.reason}` : ''}
            </dd>
          </div>
        )}
      </dl>
      <Controls view={view} who={who} onChange={set} />
      <div class="gameday-grid">
        <div>
          <Steps view={view} who={who} onChange={set} />
          <Participants view={view} />
        </div>
        <div>
          <Notes view={view} who={who} onChange={set} />
          <Timeline view={view} />
        </div>
      </div>
      <Criteria view={view} who={who} onChange={set} />
      <section class="report-links" aria-labelledby="gameday-report">
        <h2 id="gameday-report">Report</h2>
        <p>
          <a href={gamedays.reportUrl(id, 'html')} target="_blank" rel="noopener">
            Report (HTML)
          </a>{' '}
          ·{' '}
          <a href={gamedays.reportUrl(id, 'markdown')} target="_blank" rel="noopener">
            Report (Markdown)
          </a>
        </p>
      </section>
      <FollowUps key={`${id}|${view.status}`} who={who} gameday={id} />
    </section>
  );
}

/** Start (pending) and Stop game day (in progress; again during the rollback: skip the rest of it). */
function Controls({
  view,
  who,
  onChange,
}: {
  view: GameDayView;
  who: Who;
  onChange: (v: GameDayView) => void;
}) {
  const blocked = useStartBlocked();
  const [reason, setReason] = useState('');
  const { busy, error, setError, run } = useAction();
  if (!can(who, 'gameday.run')) return null;
  const act = (fn: () => Promise<GameDayView>) =>
    run('control', async () => {
      onChange(await fn());
      setReason('');
    });
  if (view.status === 'pending')
    return (
      <div class="actions gameday-controls">
        <button
          type="button"
          disabled={busy !== undefined || blocked !== undefined}
          title={blocked ? `Nothing starts: ${blocked}` : undefined}
          onClick={() => act(() => gamedays.start(view.id))}
        >
          {busy ? 'Starting…' : 'Start game day'}
        </button>
        {error && <Failure error={error} />}
      </div>
    );
  if (!isLive(view.status)) return null;
  const rollingBack = view.status === 'rolling-back';
  return (
    <form
      class="actions gameday-controls"
      onSubmit={(e) => {
        e.preventDefault();
        if (reason.trim() === '') {
          setError(new ApiFailure(400, 'bad_request', 'reason: say why the game day is stopped'));
          return;
        }
        void act(() => gamedays.stop(view.id, reason.trim()));
      }}
    >
      <label>
        Why stop
        <input
          type="text"
          name="stop-reason"
          maxLength={500}
          value={reason}
          onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)}
        />
      </label>
      <button type="submit" class="danger" disabled={busy !== undefined}>
        {rollingBack ? 'Skip the rest of the rollback' : 'Stop game day'}
      </button>
      {error && <Failure error={error} />}
    </form>
  );
}

const STEP_LABEL: Record<StepView['state'], string> = {
  pending: 'to do',
  running: 'in progress',
  waiting: 'waiting',
  ok: 'done',
  deviated: 'deviated',
  failed: 'failed',
  interrupted: 'interrupted',
};

function Steps({ view, who, onChange }: { view: GameDayView; who: Who; onChange: (v: GameDayView) => void }) {
  const phases = [
    ['timeline', 'Steps'],
    ['rollback', 'Rollback plan'],
  ] as const;
  return (
    <>
      {phases.map(([phase, title]) => {
        const steps = view.steps.filter((s) => s.phase === phase);
        if (steps.length === 0) return null;
        return (
          <section key={phase} class="panel" aria-labelledby={`steps-${phase}`}>
            <h2 id={`steps-${phase}`}>{title}</h2>
            <ol class="steps">
              {steps.map((s) => (
                <li
                  key={s.id}
                  class={`step step-${s.state}`}
                  aria-current={view.current === s.id ? 'step' : undefined}
                  data-step={s.id}
                >
                  <div class="step-head">
                    <strong>{s.title ?? s.id}</strong> <span class="kind">{s.kind}</span>{' '}
                    <span class={`pill step-state-${s.state}`}>{STEP_LABEL[s.state]}</span>
                  </div>
                  <div class="sub">
                    {s.owner ? (
                      <>
                        Owner: {s.owner}
                        {s.people.length > 0 && s.people.join(', ') !== s.owner
                          ? ` (${s.people.join(', ')})`
                          : ''}
                      </>
                    ) : (
                      'No owner'
                    )}
                    {s.experiment && ` · experiment ${s.experiment}${s.version ? ` v${s.version}` : ''}`}
                    {s.duration !== undefined && ` · ${s.duration}`}
                    {s.runId && (
                      <>
                        {' · '}
                        <a href={href(['runs', s.runId])}>its run</a>
                      </>
                    )}
                  </div>
                  {s.instructions && <p class="instructions">{s.instructions}</p>}
                  {s.question && <p class="instructions">{s.question}</p>}
                  {s.reason && s.state !== 'ok' && <p class="sub">{s.reason}</p>}
                  {view.waitingFor?.step === s.id && can(who, 'gameday.run') && (
                    <Answer view={view} step={s} onChange={onChange} />
                  )}
                </li>
              ))}
            </ol>
          </section>
        );
      })}
    </>
  );
}

/** Confirm (or "not OK") a manual step, or pick a decision's option. */
function Answer({
  view,
  step,
  onChange,
}: {
  view: GameDayView;
  step: StepView;
  onChange: (v: GameDayView) => void;
}) {
  const [note, setNote] = useState('');
  const { busy, error, run } = useAction();
  const act = (fn: () => Promise<GameDayView>) => run('answer', async () => onChange(await fn()));
  if (view.waitingFor?.kind === 'decision')
    return (
      <div class="answer">
        <fieldset class="actions">
          <legend class="visually-hidden">Options of {step.title ?? step.id}</legend>
          {(step.options ?? []).map((o) => (
            <button
              key={o}
              type="button"
              disabled={busy !== undefined}
              onClick={() => act(() => gamedays.decide(view.id, step.id, o))}
            >
              {o}
            </button>
          ))}
        </fieldset>
        {error && <Failure error={error} />}
      </div>
    );
  return (
    <div class="answer">
      <label>
        Note (optional)
        <input
          type="text"
          maxLength={10_000}
          value={note}
          onInput={(e) => setNote((e.currentTarget as HTMLInputElement).value)}
        />
      </label>
      <div class="actions">
        <button
          type="button"
          disabled={busy !== undefined}
          onClick={() => act(() => gamedays.confirm(view.id, step.id, true, note.trim()))}
        >
          Confirm
        </button>
        <button
          type="button"
          class="secondary"
          disabled={busy !== undefined}
          onClick={() => act(() => gamedays.confirm(view.id, step.id, false, note.trim()))}
        >
          Not OK
        </button>
      </div>
      {error && <Failure error={error} />}
    </div>
  );
}

/** Who takes part, and who is on the step in progress. */
function Participants({ view }: { view: GameDayView }) {
  const current = view.steps.find((s) => s.id === view.current);
  return (
    <section class="panel" aria-labelledby="participants">
      <h2 id="participants">Participants</h2>
      <ul class="participants">
        {view.participants.map((p) => {
          const step = current?.people.includes(p.name) ? current : undefined;
          return (
            <li key={p.name} class={step ? 'busy' : undefined}>
              <strong>{p.name}</strong> <span class="role">{p.role}</span>
              {p.contact && <span class="sub"> · {p.contact}</span>}
              {step && <span class="pill warn-bg">on {step.title ?? step.id}</span>}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function Notes({ view, who, onChange }: { view: GameDayView; who: Who; onChange: (v: GameDayView) => void }) {
  const [text, setText] = useState('');
  const { busy, error, run } = useAction();
  const field = useRef<HTMLTextAreaElement>(null);
  if (!can(who, 'gameday.run')) return null;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (await run('note', async () => onChange(await gamedays.note(view.id, text.trim())))) {
      setText('');
      field.current?.focus();
    }
  };
  return (
    <form class="panel notes" onSubmit={submit}>
      <h2>Notes</h2>
      <label>
        Note (timestamped, in your name)
        <textarea
          ref={field}
          rows={3}
          maxLength={10_000}
          value={text}
          onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
        />
      </label>
      {error && <Failure error={error} />}
      <div class="actions">
        <button type="submit" disabled={busy !== undefined || text.trim() === ''}>
          {busy ? 'Adding…' : 'Add note'}
        </button>
      </div>
    </form>
  );
}

/** One event in words (the report and the CLI say the same things at more length). */
function describe(e: TimelineEvent): string {
  const d = e.data ?? {};
  const step = e.step ? `${e.step}: ` : '';
  switch (e.type) {
    case 'gameday.started':
      return `game day started${e.text ? `: ${e.text}` : ''}`;
    case 'step.started':
      return `${step}started${e.text ? ` (${e.text})` : ''}${e.by ? `, owner ${e.by}` : ''}`;
    case 'step.finished':
      return `${step}${String(d.outcome ?? 'finished')}${e.text ? `: ${e.text}` : ''}`;
    case 'step.confirmed':
      return `${step}${d.ok ? 'confirmed' : 'answered no'} by ${e.by ?? '?'}${e.text ? `: ${e.text}` : ''}`;
    case 'decision':
      return `${step}${e.by ?? '?'} chose “${e.text ?? ''}”`;
    case 'note':
      return e.text ?? '';
    case 'run.started':
      return `${step}run started`;
    case 'run.ended':
      return `${step}run ended: ${String(d.verdict ?? '?')}${e.text ? ` (${e.text})` : ''}`;
    case 'stop.requested':
      return `stop requested by ${e.by ?? '?'}${e.text ? `: ${e.text}` : ''}`;
    case 'rollback.started':
      return `rollback started${e.text ? `: ${e.text}` : ''}`;
    case 'rollback.finished':
      return `rollback finished (${String(d.outcome ?? 'done')})${e.text ? `: ${e.text}` : ''}`;
    case 'criterion':
      return `criterion ${String(d.id ?? '')}: ${String(d.verdict ?? '')}${d.measured ? ` (${String(d.measured)})` : ''}`;
    case 'gameday.ended':
      return `game day ended${e.text ? `: ${e.text}` : ''}`;
  }
}

function Timeline({ view }: { view: GameDayView }) {
  const events = [...view.timeline].reverse();
  return (
    <section class="panel" aria-labelledby="timeline">
      <h2 id="timeline">Timeline</h2>
      {events.length === 0 ? (
        <p class="muted">Nothing yet.</p>
      ) : (
        <ol class="timeline" reversed>
          {events.map((e) => (
            <li key={e.seq} class={`event event-${e.type.replace('.', '-')}`}>
              <time dateTime={e.at} title={e.at}>
                {new Date(e.at).toLocaleTimeString()}
              </time>{' '}
              {e.type === 'note' ? (
                <>
                  <strong>{e.by}</strong> <span class="kind">note</span> {describe(e)}
                </>
              ) : (
                describe(e)
              )}
              {typeof e.data?.runId === 'string' && (
                <>
                  {' '}
                  <a href={href(['runs', e.data.runId])}>run</a>
                </>
              )}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

const VERDICT_CLASS: Record<string, string> = {
  met: 'good-bg',
  'not-met': 'bad-bg',
  unknown: 'warn-bg',
  manual: '',
};

/** The plan's criteria judged by people (measure `manual`), by id. */
function manualCriteria(view: GameDayView): Set<string> {
  const list = (view.plan.success_criteria ?? []) as { id?: string; measure?: { kind?: string } }[];
  return new Set(list.filter((c) => c.measure?.kind === 'manual').map((c) => c.id ?? ''));
}

function Criteria({
  view,
  who,
  onChange,
}: {
  view: GameDayView;
  who: Who;
  onChange: (v: GameDayView) => void;
}) {
  const { busy, error, run } = useAction();
  if (view.criteria.length === 0) return null;
  const manual = manualCriteria(view);
  // Judged once the game day runs (here) or after it: the latest judgement is the verdict.
  const judging = can(who, 'gameday.run') && view.status !== 'pending';
  const judge = (criterion: string, met: boolean) =>
    run(criterion, async () => onChange(await gamedays.judge(view.id, criterion, met)));
  return (
    <section aria-labelledby="criteria">
      <h2 id="criteria">Success criteria</h2>
      {error && <Failure error={error} />}
      <table class="list criteria">
        <thead>
          <tr>
            <th scope="col">Criterion</th>
            <th scope="col">Verdict</th>
            <th scope="col">Measured</th>
          </tr>
        </thead>
        <tbody>
          {view.criteria.map((c) => (
            <tr key={c.id} data-criterion={c.id}>
              <td data-label="Criterion">
                {c.description}
                <div class="sub">{c.id}</div>
              </td>
              <td data-label="Verdict">
                <span class={`pill ${VERDICT_CLASS[c.verdict] ?? ''}`}>
                  {c.verdict === 'manual' ? 'to be judged' : c.verdict}
                </span>
                {judging && manual.has(c.id) && (
                  <div class="actions judge">
                    <button
                      type="button"
                      class="secondary"
                      disabled={busy === c.id}
                      onClick={() => judge(c.id, true)}
                    >
                      Met<span class="visually-hidden">: {c.description}</span>
                    </button>
                    <button
                      type="button"
                      class="secondary"
                      disabled={busy === c.id}
                      onClick={() => judge(c.id, false)}
                    >
                      Not met<span class="visually-hidden">: {c.description}</span>
                    </button>
                  </div>
                )}
              </td>
              <td data-label="Measured">
                {c.measured ?? '—'}
                {c.detail && <div class="sub">{c.detail}</div>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
