/**
 * The runs' history: filters (experiment, status, verdict, tags, a target the faults touched, a date
 * range) kept in the URL so a view can be shared, and pages read with the API's cursor. The cursors of
 * the pages before are kept here, the API only knows the way forward. A run of this server that is queued,
 * starts or ends (the server-wide stream) reloads the page shown; polling is only the fallback.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Run, type RunFilters } from '../api.js';
import { useHalt, useRunEvents } from '../live.js';
import { href, navigate } from '../route.js';
import { Badge, Empty, Failure, Loading, seconds, Time, useFocusOnMount, useLoad } from '../ui.js';

const STATUSES = ['queued', 'running', 'finished', 'interrupted'];
const VERDICTS = ['passed', 'deviated', 'failed', 'aborted', 'interrupted', 'refused'];
const FIELDS = ['experiment', 'status', 'verdict', 'tags', 'target', 'from', 'to'] as const;
const PAGE = 25;

/** A day picked in the form (the browser's local day) as the API's instant: `to` includes that whole day. */
function dayToInstant(day: string | null, end: boolean): string | undefined {
  if (!day || !/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const d = new Date(`${day}T00:00:00`);
  if (Number.isNaN(d.getTime())) return undefined;
  if (end) d.setDate(d.getDate() + 1);
  return d.toISOString();
}

export function RunsPage({ query }: { query: URLSearchParams }) {
  const heading = useFocusOnMount<HTMLHeadingElement>('runs');
  const filters: RunFilters = {
    experiment: query.get('experiment') ?? undefined,
    status: query.get('status') ?? undefined,
    verdict: query.get('verdict') ?? undefined,
    tags: query.get('tags') ?? undefined,
    target: query.get('target') ?? undefined,
    from: dayToInstant(query.get('from'), false),
    to: dayToInstant(query.get('to'), true),
  };
  const filterKey = query.toString();
  // cursors[i] is the cursor that reads page i (undefined for the first).
  const [paging, setPaging] = useState<{ key: string; cursors: (string | undefined)[] }>({
    key: filterKey,
    cursors: [undefined],
  });
  // New filters start from their first page.
  const cursors = paging.key === filterKey ? paging.cursors : [undefined];
  const setCursors = (f: (c: (string | undefined)[]) => (string | undefined)[]) =>
    setPaging({ key: filterKey, cursors: f(cursors) });
  const cursor = cursors[cursors.length - 1];
  const { connection } = useHalt();
  const streamed = useRef(false);
  streamed.current = connection === 'open';
  const page = useLoad(`${filterKey}|${cursor ?? ''}`, () => api.runs(filters, cursor, PAGE), {
    ms: 5_000,
    // Without the stream, keeps the list current while something on it is still going on.
    while: (p) => !streamed.current && p.runs.some((r) => r.status === 'queued' || r.status === 'running'),
  });
  const { reload } = page;
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const onRun = useCallback(
    (_run: Run) => {
      // Several runs changing at once make one reload.
      if (pending.current) return;
      pending.current = setTimeout(() => {
        pending.current = undefined;
        reload();
      }, 250);
    },
    [reload],
  );
  useRunEvents(onRun);
  useEffect(() => () => clearTimeout(pending.current), []);
  const experiments = useLoad('experiments', api.experiments);
  const filtered = FIELDS.some((f) => query.get(f));

  return (
    <section>
      <h1 ref={heading} tabIndex={-1}>
        Runs
      </h1>
      <FilterForm
        key={filterKey}
        query={query}
        experiments={(experiments.data ?? []).map((e) => e.name)}
        filtered={filtered}
      />

      {page.state === 'loading' && <Loading what="runs" />}
      {page.state === 'failed' && <Failure error={page.error} onRetry={page.reload} />}
      {page.data && page.data.runs.length === 0 && (
        <Empty>
          {filtered ? (
            <p>No runs match these filters.</p>
          ) : (
            <p>
              No runs yet. Start one from <a href="#/experiments">an experiment</a>, or push a journal with{' '}
              <code>faultline run --server</code>.
            </p>
          )}
        </Empty>
      )}
      {page.data && page.data.runs.length > 0 && (
        <table class="list runs">
          <caption class="visually-hidden">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Verdict</th>
              <th scope="col">Tags</th>
              <th scope="col">Requested</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {page.data.runs.map((r) => (
              <tr key={r.id}>
                <td data-label="Run">
                  <a href={href(['runs', r.id])}>{r.title || r.id}</a>
                  <div class="sub">
                    {r.experiment ? `${r.experiment} v${r.experimentVersion ?? '?'}` : 'pushed'} ·{' '}
                    {r.requestedBy}
                  </div>
                </td>
                <td data-label="Status">
                  <Badge kind="status" value={r.status} />
                </td>
                <td data-label="Verdict">
                  <Badge kind="verdict" value={r.verdict} />
                </td>
                <td data-label="Tags">
                  <Tags tags={r.tags} />
                </td>
                <td data-label="Requested">
                  <Time at={r.requestedAt} />
                </td>
                <td data-label="Duration">
                  {seconds(r.duration)}
                  {r.experiment && (r.status === 'finished' || r.status === 'interrupted') && (
                    <div class="sub">
                      <a href={href(['compare'], { a: r.id })}>
                        Compare<span class="visually-hidden"> {r.title || r.id} with another run</span>
                      </a>
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page.data && (cursors.length > 1 || page.data.next) && (
        <nav class="pager" aria-label="Pages of runs">
          <button
            type="button"
            disabled={cursors.length <= 1}
            onClick={() => setCursors((c) => c.slice(0, -1))}
          >
            Newer
          </button>
          <span>Page {cursors.length}</span>
          <button
            type="button"
            disabled={!page.data.next}
            onClick={() => {
              const next = page.data?.next;
              if (next) setCursors((c) => [...c, next]);
            }}
          >
            Older
          </button>
        </nav>
      )}
    </section>
  );
}

export function Tags({ tags }: { tags: readonly string[] }) {
  if (tags.length === 0) return <span class="muted">—</span>;
  return (
    <ul class="tags">
      {tags.map((t) => (
        <li key={t}>
          <a href={href(['runs'], { tags: t })}>{t}</a>
        </li>
      ))}
    </ul>
  );
}

type Field = (typeof FIELDS)[number];

/** The filters as the URL has them; applied by navigating, so the list and the URL never disagree. */
function FilterForm({
  query,
  experiments,
  filtered,
}: {
  query: URLSearchParams;
  experiments: string[];
  filtered: boolean;
}) {
  const [values, setValues] = useState(
    () => Object.fromEntries(FIELDS.map((f) => [f, query.get(f) ?? ''])) as Record<Field, string>,
  );
  const bind = (f: Field) => ({
    name: f,
    value: values[f],
    onInput: (e: Event) => {
      const v = (e.currentTarget as HTMLInputElement | HTMLSelectElement).value;
      setValues((old) => ({ ...old, [f]: v }));
    },
  });
  const onSubmit = (e: Event) => {
    e.preventDefault();
    const next: Record<string, string | undefined> = {};
    for (const f of FIELDS) next[f] = values[f].trim() === '' ? undefined : values[f].trim();
    navigate(href(['runs'], next));
  };
  // A filter on an experiment not stored (any more) still shows as chosen.
  const names =
    values.experiment && !experiments.includes(values.experiment)
      ? [...experiments, values.experiment]
      : experiments;
  return (
    <form class="filters" onSubmit={onSubmit} aria-label="Filter runs">
      <label>
        Experiment
        <select {...bind('experiment')}>
          <option value="">any</option>
          {names.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </label>
      <label>
        Status
        <select {...bind('status')}>
          <option value="">any</option>
          {STATUSES.map((v) => (
            <option key={v}>{v}</option>
          ))}
        </select>
      </label>
      <label>
        Verdict
        <select {...bind('verdict')}>
          <option value="">any</option>
          {VERDICTS.map((v) => (
            <option key={v}>{v}</option>
          ))}
        </select>
      </label>
      <label>
        Tags (all of)
        <input type="text" placeholder="e.g. nightly, ci" autoComplete="off" {...bind('tags')} />
      </label>
      <label>
        Target
        <input type="text" placeholder="e.g. db-1:5432" autoComplete="off" {...bind('target')} />
      </label>
      <label>
        From
        <input type="date" {...bind('from')} />
      </label>
      <label>
        To
        <input type="date" {...bind('to')} />
      </label>
      <div class="actions">
        <button type="submit">Apply filters</button>
        {filtered && (
          <a class="button secondary" href="#/runs">
            Clear
          </a>
        )}
      </div>
    </form>
  );
}
