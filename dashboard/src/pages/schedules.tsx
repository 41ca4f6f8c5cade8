/**
 * Schedules: every schedule with its timing in words, its next fire times (in the viewer's time zone,
 * and in the schedule's when they differ), whether it is paused and its last firings; a schedule's own
 * page (`#/schedules/<name>`) with its settings, next fire times, every firing (fired with its run,
 * skipped or missed with the reason) and, for those allowed (`schedule.manage`), pause, resume and
 * delete; and a form to create one. The server validates every field and each issue is shown with its
 * field: the form only shapes the body.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Firing, ScheduleList, ScheduleView, Timing } from '../../../src/server/schedules/model.js';
import { type ApiFailure, api, call, can, failure } from '../api.js';
import { href, navigate } from '../route.js';
import { Empty, Failure, Loading, Time, useFocusOnMount, useLoad, useWho } from '../ui.js';
import './schedules.css';

const POLL_MS = 5_000;

const path = (name: string, rest = '') => `/api/schedules/${encodeURIComponent(name)}${rest}`;

const viewerZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const zoneOf = (t: Timing) => ('monkey' in t ? t.monkey.timezone : t.timezone);

const pad = (n: string) => n.padStart(2, '0');

/** A cron timing in words where it is a common shape; otherwise the expression itself. */
function cronWords(expr: string): string {
  const e = expr.trim();
  const every = /^@every\s+(\S+)$/.exec(e);
  if (every) return `every ${every[1]}`;
  const named: Record<string, string> = {
    '@hourly': 'every hour, on the hour',
    '@daily': 'every day at midnight',
    '@midnight': 'every day at midnight',
    '@weekly': 'every Sunday at midnight',
    '@monthly': 'on the first of every month at midnight',
    '@yearly': 'every 1 January at midnight',
    '@annually': 'every 1 January at midnight',
  };
  if (named[e]) return named[e] as string;
  const f = e.split(/\s+/);
  const [sec, min, hour, dom, mon, dow] = f.length === 6 ? f : ['0', ...f];
  if (f.length === 6 && /^\*\/\d+$/.test(sec ?? '') && [min, hour, dom, mon, dow].every((x) => x === '*'))
    return `every ${sec?.slice(2)} seconds`;
  if (sec === '0' && /^\*\/\d+$/.test(min ?? '') && [hour, dom, mon, dow].every((x) => x === '*'))
    return `every ${min?.slice(2)} minutes`;
  if (sec === '0' && /^\d+$/.test(min ?? '') && /^\d+$/.test(hour ?? '') && dom === '*' && mon === '*') {
    const at = `${pad(hour as string)}:${pad(min as string)}`;
    return dow === '*' ? `every day at ${at}` : `at ${at} on ${dow}`;
  }
  return `cron ${e}`;
}

/** How a schedule's timing reads: its cron in words, or the Chaos Monkey's working hours and odds. */
export function timingWords(t: Timing): string {
  if ('monkey' in t) {
    const m = t.monkey;
    return `Chaos Monkey: ${m.workingDays.join(', ')} ${m.workingHours.start}–${m.workingHours.end} (${m.timezone}), about one run every ${m.meanTimeBetweenRunsInWorkDays} working day${m.meanTimeBetweenRunsInWorkDays === 1 ? '' : 's'}, probability ${m.probability}`;
  }
  return `${cronWords(t.cron)} (${t.timezone})${t.jitter ? `, jitter up to ${t.jitter}` : ''}`;
}

/** A fire time in the viewer's zone, and in the schedule's when that differs. */
function FireTime({ at, zone }: { at: string; zone: string }) {
  const d = new Date(at);
  const mine = viewerZone();
  return (
    <span>
      <Time at={at} />
      {zone !== mine && (
        <span class="zone-time">
          {' '}
          ({d.toLocaleString(undefined, { timeZone: zone, dateStyle: 'medium', timeStyle: 'medium' })} {zone})
        </span>
      )}
    </span>
  );
}

/** One term of a dl.facts, kept together as the grid's cell. */
function Fact({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function Outcome({ firing }: { firing: Firing }) {
  return <span class={`badge firing-${firing.outcome}`}>{firing.outcome}</span>;
}

function PausedBadge({ paused }: { paused: boolean }) {
  return paused ? (
    <span class="badge schedule-paused">paused</span>
  ) : (
    <span class="badge schedule-active">active</span>
  );
}

function CreateSchedule({ onCreated }: { onCreated: () => void }) {
  const experiments = useLoad('schedule-form-experiments', api.experiments);
  const [name, setName] = useState('');
  const [experiment, setExperiment] = useState('');
  const [cron, setCron] = useState('@every 1h');
  const [timezone, setTimezone] = useState(viewerZone);
  const [jitter, setJitter] = useState('');
  const [concurrencyPolicy, setConcurrency] = useState('forbid');
  const [missedRunPolicy, setMissed] = useState('skip');
  const [startingDeadline, setDeadline] = useState('');
  const [paused, setPaused] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const input = (set: (v: string) => void) => (e: Event) =>
    set((e.currentTarget as HTMLInputElement | HTMLSelectElement).value);

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    const body = {
      name,
      experiment: experiment || experiments.data?.[0]?.name || '',
      timing: { cron, timezone, ...(jitter.trim() ? { jitter: jitter.trim() } : {}) },
      concurrencyPolicy,
      missedRunPolicy,
      ...(startingDeadline.trim() ? { startingDeadline: startingDeadline.trim() } : {}),
      paused,
    };
    try {
      const created = await call<ScheduleView>('POST', '/api/schedules', body);
      setDone(`${created.name} created`);
      setName('');
      onCreated();
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="upload schedule-form" onSubmit={onSubmit} aria-labelledby="schedule-create-title">
      <h2 id="schedule-create-title">Create a schedule</h2>
      <p class="hint">
        Cron with 5 fields (minute hour day month weekday), 6 with seconds first, <code>@daily</code>, or{' '}
        <code>@every 10m</code>. Chaos Monkey mode is created through the API (<code>timing.monkey</code>).
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
          Experiment
          <select
            name="experiment"
            value={experiment || experiments.data?.[0]?.name || ''}
            onChange={input(setExperiment)}
          >
            {(experiments.data ?? []).map((x) => (
              <option key={x.name} value={x.name}>
                {x.name} (v{x.version})
              </option>
            ))}
          </select>
        </label>
        <label>
          Cron
          <input type="text" name="cron" value={cron} onInput={input(setCron)} spellcheck={false} />
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
        <label>
          Jitter (optional: up to this long after each due time, e.g. 5m)
          <input type="text" name="jitter" value={jitter} onInput={input(setJitter)} spellcheck={false} />
        </label>
        <label>
          While the previous run is queued or running
          <select name="concurrencyPolicy" value={concurrencyPolicy} onChange={input(setConcurrency)}>
            <option value="forbid">skip this firing (forbid)</option>
            <option value="allow">run both (allow)</option>
            <option value="replace">stop it, run this one (replace)</option>
          </select>
        </label>
        <label>
          Firings missed while no server was up
          <select name="missedRunPolicy" value={missedRunPolicy} onChange={input(setMissed)}>
            <option value="skip">record them, run none (skip)</option>
            <option value="run-once">run the latest (run-once)</option>
            <option value="run-all">run each, at most 100 (run-all)</option>
          </select>
        </label>
        <label>
          Starting deadline (optional: later than this after its due time, a firing is missed; e.g. 5m)
          <input type="text" name="startingDeadline" value={startingDeadline} onInput={input(setDeadline)} />
        </label>
        <label class="inline">
          <input
            type="checkbox"
            name="paused"
            checked={paused}
            onChange={(e) => setPaused((e.currentTarget as HTMLInputElement).checked)}
          />{' '}
          Created paused
        </label>
        <div class="actions">
          <button type="submit" disabled={busy || experiments.state !== 'loaded'}>
            {busy ? 'Creating…' : 'Create'}
          </button>
        </div>
      </div>
      {experiments.state === 'failed' && <Failure error={experiments.error} onRetry={experiments.reload} />}
      {error && <Failure error={error} />}
      {done && (
        <p class="state success" role="status">
          {done}.
        </p>
      )}
    </form>
  );
}

function SchedulesList() {
  const heading = useFocusOnMount<HTMLHeadingElement>('schedules');
  const who = useWho();
  const schedules = useLoad('schedules', () => call<ScheduleList>('GET', '/api/schedules'), {
    ms: POLL_MS,
    while: () => true,
  });
  const manage = can(who, 'schedule.manage');
  const list = schedules.data?.schedules;
  return (
    <section>
      <h1 ref={heading} tabIndex={-1}>
        Schedules
      </h1>
      <p class="hint">Times are in your time zone ({viewerZone()}), and in the schedule's when it differs.</p>
      {schedules.state === 'loading' && <Loading what="schedules" />}
      {schedules.state === 'failed' && <Failure error={schedules.error} onRetry={schedules.reload} />}
      {list && list.length === 0 && (
        <Empty>
          <p>No schedule yet{manage ? ': create one below.' : ' (an operator creates them).'}</p>
        </Empty>
      )}
      {list && list.length > 0 && (
        <table class="list schedules">
          <caption class="visually-hidden">Schedules, their timing, next fire times and last firings</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Experiment</th>
              <th scope="col">Timing</th>
              <th scope="col">State</th>
              <th scope="col">Next fire times</th>
              <th scope="col">Last firings</th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.id}>
                <td data-label="Name">
                  <a href={href(['schedules', s.name])}>{s.name}</a>
                </td>
                <td data-label="Experiment">
                  <a href={href(['experiments', s.experiment])}>{s.experiment}</a>
                  {s.version !== undefined && ` v${s.version}`}
                </td>
                <td data-label="Timing">{timingWords(s.timing)}</td>
                <td data-label="State">
                  <PausedBadge paused={s.paused} />
                </td>
                <td data-label="Next fire times">
                  {s.nextFires.length === 0 ? (
                    '—'
                  ) : (
                    <ol class="fires">
                      {s.nextFires.slice(0, 3).map((at) => (
                        <li key={at}>
                          <FireTime at={at} zone={zoneOf(s.timing)} />
                        </li>
                      ))}
                    </ol>
                  )}
                </td>
                <td data-label="Last firings">
                  {s.recentFirings.length === 0 ? (
                    'none yet'
                  ) : (
                    <ul class="fires">
                      {s.recentFirings.map((f) => (
                        <li key={f.due}>
                          <Outcome firing={f} /> <Time at={f.due} />
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {manage && <CreateSchedule onCreated={schedules.reload} />}
    </section>
  );
}

function Actions({ s, onChanged }: { s: ScheduleView; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  const act = async (method: string, rest: string, after: () => void) => {
    setBusy(true);
    setError(undefined);
    try {
      await call(method, path(s.name, rest));
      after();
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };
  const remove = () => {
    if (!window.confirm(`Delete the schedule ${s.name}? Its runs stay in the history.`)) return;
    void act('DELETE', '', () => navigate(href(['schedules'])));
  };
  return (
    <div class="actions schedule-actions">
      {s.paused ? (
        <button type="button" disabled={busy} onClick={() => act('POST', '/resume', onChanged)}>
          Resume
        </button>
      ) : (
        <button type="button" disabled={busy} onClick={() => act('POST', '/pause', onChanged)}>
          Pause
        </button>
      )}
      <button type="button" class="secondary" disabled={busy} onClick={remove}>
        Delete
      </button>
      {error && <Failure error={error} />}
    </div>
  );
}

function ScheduleDetail({ name }: { name: string }) {
  const heading = useFocusOnMount<HTMLHeadingElement>(`schedule-${name}`);
  const who = useWho();
  const schedule = useLoad(`schedule-${name}`, () => call<ScheduleView>('GET', path(name)), {
    ms: POLL_MS,
    while: () => true,
  });
  const firings = useLoad(
    `schedule-firings-${name}`,
    () => call<{ firings: Firing[] }>('GET', path(name, '/firings?limit=200')),
    { ms: POLL_MS, while: () => true },
  );
  const s = schedule.data;
  const reload = () => {
    schedule.reload();
    firings.reload();
  };
  return (
    <section>
      <p>
        <a href={href(['schedules'])}>All schedules</a>
      </p>
      <h1 ref={heading} tabIndex={-1}>
        Schedule {name}
      </h1>
      {schedule.state === 'loading' && <Loading what={`schedule ${name}`} />}
      {schedule.state === 'failed' && <Failure error={schedule.error} onRetry={schedule.reload} />}
      {s && (
        <>
          <dl class="facts">
            <Fact label="State">
              <PausedBadge paused={s.paused} />
            </Fact>
            <Fact label="Experiment">
              <a href={href(['experiments', s.experiment])}>{s.experiment}</a>{' '}
              {s.version === undefined ? '(its latest version when it fires)' : `version ${s.version}`}
            </Fact>
            <Fact label="Timing">{timingWords(s.timing)}</Fact>
            <Fact label="While the previous run is active">{s.concurrencyPolicy}</Fact>
            <Fact label="Missed firings">
              {s.missedRunPolicy}, missed when later than {s.startingDeadline ?? '10s'} after the due time
            </Fact>
            <Fact label="History kept">the last {s.historyLimit} firings</Fact>
            {s.tags.length > 0 && <Fact label="Tags added to its runs">{s.tags.join(', ')}</Fact>}
            {s.targets && (
              <Fact label="Targets">
                {s.targets.count} of {s.targets.candidates.join(', ')} at random, as{' '}
                <code>{s.targets.configurationKey}</code>
              </Fact>
            )}
            {s.description && <Fact label="Description">{s.description}</Fact>}
            <Fact label="Created">
              <Time at={s.createdAt} /> by {s.createdBy}
            </Fact>
            <Fact label="Changed">
              <Time at={s.updatedAt} /> by {s.updatedBy}
            </Fact>
          </dl>
          {can(who, 'schedule.manage') && <Actions s={s} onChanged={reload} />}
          <h2>Next fire times</h2>
          {s.nextFires.length === 0 ? (
            <p>{s.paused ? 'None while paused.' : 'It does not fire again.'}</p>
          ) : (
            <ol class="fires">
              {s.nextFires.map((at) => (
                <li key={at}>
                  <FireTime at={at} zone={zoneOf(s.timing)} />
                </li>
              ))}
            </ol>
          )}
        </>
      )}
      <h2>Firings</h2>
      {firings.state === 'loading' && <Loading what="firings" />}
      {firings.state === 'failed' && <Failure error={firings.error} onRetry={firings.reload} />}
      {firings.data && firings.data.firings.length === 0 && (
        <Empty>
          <p>No firing yet.</p>
        </Empty>
      )}
      {firings.data && firings.data.firings.length > 0 && (
        <table class="list firings">
          <caption class="visually-hidden">Firings of {name}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Due</th>
              <th scope="col">Outcome</th>
              <th scope="col">Run or reason</th>
              <th scope="col">Dealt with</th>
              <th scope="col">Server</th>
            </tr>
          </thead>
          <tbody>
            {firings.data.firings.map((f) => (
              <tr key={f.due}>
                <td data-label="Due">
                  <Time at={f.due} />
                </td>
                <td data-label="Outcome">
                  <Outcome firing={f} />
                </td>
                <td data-label="Run or reason">
                  {f.run && <a href={href(['runs', f.run])}>run …{f.run.slice(-12)}</a>}
                  {f.run && f.reason && ': '}
                  {f.reason}
                </td>
                <td data-label="Dealt with">
                  <Time at={f.firedAt} />
                </td>
                <td data-label="Server">
                  <code>{f.server}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function SchedulesPage({ id }: { id: string | undefined }) {
  return id === undefined ? <SchedulesList /> : <ScheduleDetail name={id} />;
}
