/**
 * Blackout windows: which is in force now (nothing starts; runs were stopped when it opened), every
 * window with its periods and next opening (the database's, and the settings file's, which are changed
 * in that file), and for approvers (`blackout.manage`) a form to create one and a delete button. The
 * server validates every field (each issue is shown with its field); the form only shapes the body.
 * BlackoutBanner is the strip the page's header can carry while a blackout is in force.
 */
import { useState } from 'preact/hooks';
import type { BlackoutList, StoredBlackout } from '../../../src/server/blackouts/model.js';
import { type ApiFailure, call, can, failure } from '../api.js';
import { Empty, Failure, Loading, Time, useFocusOnMount, useLoad, useWho } from '../ui.js';
import './blackouts.css';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const POLL_MS = 5_000;

const list = () => call<BlackoutList>('GET', '/api/blackouts');

/** While a blackout is in force: what it is and until when, on every page (mounted under the header). */
export function BlackoutBanner() {
  const blackouts = useLoad('blackout-banner', list, { ms: 15_000, while: () => true });
  const active = blackouts.data?.active;
  if (!active) return null;
  return (
    <div class="blackout-banner" role="status">
      <p>
        <strong>Blackout in force</strong>: {active.reason}. Nothing starts
        {active.until ? (
          <>
            {' '}
            until <Time at={active.until} />
          </>
        ) : (
          ' until it is lifted'
        )}
        . <a href="#/blackouts">Blackout windows</a>
      </p>
    </div>
  );
}

function CreateWindow({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [timezone, setTimezone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  const [kind, setKind] = useState<'dates' | 'weekly'>('dates');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [days, setDays] = useState<string[]>(['sat', 'sun']);
  const [start, setStart] = useState('00:00');
  const [end, setEnd] = useState('24:00');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  const [done, setDone] = useState<string | undefined>();

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    const body = {
      name,
      timezone,
      ...(kind === 'dates' ? { dates: [{ from, to }] } : { weekly: [{ days, start, end }] }),
      ...(reason.trim() ? { reason: reason.trim() } : {}),
    };
    try {
      const created = await call<StoredBlackout>('POST', '/api/blackouts', body);
      setDone(`${created.name} created`);
      setName('');
      setReason('');
      onCreated();
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };
  const input = (set: (v: string) => void) => (e: Event) => set((e.currentTarget as HTMLInputElement).value);
  const toggleDay = (d: string) => setDays((ds) => (ds.includes(d) ? ds.filter((x) => x !== d) : [...ds, d]));

  return (
    <form class="upload blackout-form" onSubmit={onSubmit} aria-labelledby="blackout-create-title">
      <h2 id="blackout-create-title">Create a blackout window</h2>
      <p class="hint">
        While it is in force no run starts, and when it opens every run in progress is stopped and its faults
        reverted.
      </p>
      <div class="fields">
        <label>
          Name
          <input
            type="text"
            name="name"
            value={name}
            onInput={input(setName)}
            autoComplete="off"
            spellcheck={false}
          />
        </label>
        <label>
          Time zone
          <input
            type="text"
            name="timezone"
            value={timezone}
            onInput={input(setTimezone)}
            spellcheck={false}
          />
        </label>
        <fieldset>
          <legend>When</legend>
          <label class="inline">
            <input type="radio" name="kind" checked={kind === 'dates'} onChange={() => setKind('dates')} />{' '}
            Dates
          </label>
          <label class="inline">
            <input type="radio" name="kind" checked={kind === 'weekly'} onChange={() => setKind('weekly')} />{' '}
            Every week
          </label>
        </fieldset>
        {kind === 'dates' ? (
          <>
            <label>
              From (YYYY-MM-DD or YYYY-MM-DDTHH:MM)
              <input type="text" name="from" value={from} onInput={input(setFrom)} placeholder="2026-12-20" />
            </label>
            <label>
              To (a date alone includes that whole day)
              <input type="text" name="to" value={to} onInput={input(setTo)} placeholder="2027-01-04" />
            </label>
          </>
        ) : (
          <>
            <fieldset class="days">
              <legend>Days</legend>
              {DAYS.map((d) => (
                <label class="inline" key={d}>
                  <input
                    type="checkbox"
                    name="days"
                    value={d}
                    checked={days.includes(d)}
                    onChange={() => toggleDay(d)}
                  />{' '}
                  {d}
                </label>
              ))}
            </fieldset>
            <label>
              Start (HH:MM)
              <input type="text" name="start" value={start} onInput={input(setStart)} />
            </label>
            <label>
              End (HH:MM, before the start runs past midnight; 24:00 ends the day)
              <input type="text" name="end" value={end} onInput={input(setEnd)} />
            </label>
          </>
        )}
        <label>
          Reason (optional, shown to everyone)
          <input type="text" name="reason" value={reason} onInput={input(setReason)} maxLength={500} />
        </label>
        <div class="actions">
          <button type="submit" disabled={busy}>
            {busy ? 'Creating…' : 'Create'}
          </button>
        </div>
      </div>
      {error && <Failure error={error} />}
      {done && (
        <p class="state success" role="status">
          {done}.
        </p>
      )}
    </form>
  );
}

function DeleteButton({ name, onDeleted }: { name: string; onDeleted: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  const remove = async () => {
    if (!window.confirm(`Delete the blackout window ${name}? Runs may start again if no other is in force.`))
      return;
    setBusy(true);
    setError(undefined);
    try {
      await call('DELETE', `/api/blackouts/${encodeURIComponent(name)}`);
      onDeleted();
    } catch (err) {
      setError(failure(err));
      setBusy(false);
    }
  };
  return (
    <span>
      <button type="button" class="secondary" onClick={remove} disabled={busy} aria-label={`Delete ${name}`}>
        {busy ? 'Deleting…' : 'Delete'}
      </button>
      {error && <Failure error={error} />}
    </span>
  );
}

export function BlackoutsPage() {
  const heading = useFocusOnMount<HTMLHeadingElement>('blackouts');
  const who = useWho();
  const blackouts = useLoad('blackouts', list, { ms: POLL_MS, while: () => true });
  const manage = can(who, 'blackout.manage');
  const data = blackouts.data;
  return (
    <section>
      <h1 ref={heading} tabIndex={-1}>
        Blackout windows
      </h1>
      {blackouts.state === 'loading' && <Loading what="blackout windows" />}
      {blackouts.state === 'failed' && <Failure error={blackouts.error} onRetry={blackouts.reload} />}
      {data && (
        <p class={`blackout-now ${data.active ? 'active' : ''}`} role="status">
          {data.active ? (
            <>
              <strong>In force now</strong>: {data.active.reason}. Nothing starts
              {data.active.until ? (
                <>
                  {' '}
                  until <Time at={data.active.until} />
                </>
              ) : (
                ' until it is lifted'
              )}
              .
            </>
          ) : (
            'No blackout is in force: runs may start.'
          )}
        </p>
      )}
      {data?.settingsError && (
        <p class="state failure" role="alert">
          The settings file's windows cannot be read: {data.settingsError}
        </p>
      )}
      {data && data.windows.length === 0 && (
        <Empty>
          <p>
            No blackout window
            {manage ? ': create one below.' : ' (an approver creates them, or the settings file lists them).'}
          </p>
        </Empty>
      )}
      {data && data.windows.length > 0 && (
        <table class="list blackouts">
          <caption class="visually-hidden">
            Blackout windows, whether each is in force, and when each next opens
          </caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">When</th>
              <th scope="col">Now</th>
              <th scope="col">Next opening</th>
              <th scope="col">Defined in</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {data.windows.map((w) => (
              <tr key={`${w.source}-${w.name}`} class={w.inForce ? 'in-force' : undefined}>
                <td data-label="Name">{w.name}</td>
                <td data-label="When">{w.description}</td>
                <td data-label="Now">
                  {w.inForce ? (
                    <>
                      <span class="badge blackout-in-force">in force</span>
                      {w.until && (
                        <>
                          {' '}
                          until <Time at={w.until} />
                        </>
                      )}
                    </>
                  ) : (
                    <span class="badge none">not in force</span>
                  )}
                </td>
                <td data-label="Next opening">
                  {w.nextOpening ? <Time at={w.nextOpening} /> : 'none within 400 days'}
                </td>
                <td data-label="Defined in">
                  {w.source === 'database' ? <>here, by {w.createdBy ?? '—'}</> : 'the settings file'}
                </td>
                <td data-label="">
                  {manage && w.source === 'database' && (
                    <DeleteButton name={w.name} onDeleted={blackouts.reload} />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {manage && <CreateWindow onCreated={blackouts.reload} />}
    </section>
  );
}
