/**
 * Two runs of one experiment side by side (`#/compare?a=ID&b=ID`), as `GET /api/runs/compare` lines them
 * up: verdicts and durations, each probe by phase with its value and met or missed, the faults, the load's
 * totals and the recovery time. What differs is marked, in colour and in words (a screen reader hears
 * "differs"). Reached from a run's "Compare with…" (which fixes A) or the runs list; the pickers choose
 * among the runs of the same experiment.
 */
import type { ComponentChildren } from 'preact';
import { api, type Comparison, type Run } from '../api.js';
import { href, navigate } from '../route.js';
import { Badge, Empty, Failure, Loading, seconds, Time, useFocusOnMount, useLoad } from '../ui.js';
import { phaseName } from './live.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function ComparePage({ query }: { query: URLSearchParams }) {
  const heading = useFocusOnMount<HTMLHeadingElement>('compare');
  const a = query.get('a') ?? '';
  const b = query.get('b') ?? '';
  const runA = useLoad(`compare-a-${a}`, () => (UUID.test(a) ? api.run(a) : Promise.resolve(undefined)));
  const experiment = runA.data?.experiment ?? query.get('experiment') ?? '';
  const comparison = useLoad(`compare-${a}-${b}`, () =>
    UUID.test(a) && UUID.test(b) ? api.compare(a, b) : Promise.resolve(undefined),
  );
  return (
    <section>
      <p class="crumbs">
        <a href="#/runs">Runs</a> /
      </p>
      <h1 ref={heading} tabIndex={-1}>
        Compare two runs{experiment ? ` of ${experiment}` : ''}
      </h1>
      {runA.state === 'failed' && <Failure error={runA.error} onRetry={runA.reload} />}
      <Picker a={a} b={b} experiment={experiment} />
      {UUID.test(a) && UUID.test(b) && comparison.state === 'loading' && <Loading what="the comparison" />}
      {comparison.state === 'failed' && <Failure error={comparison.error} onRetry={comparison.reload} />}
      {comparison.data && <ComparisonView c={comparison.data} />}
    </section>
  );
}

const label = (r: Run) =>
  `${new Date(r.requestedAt).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })} · ${r.verdict ?? r.status} · ${r.id.slice(0, 8)}`;

/** Two selects over the experiment's runs (newest 100); the URL holds the choice. */
function Picker({ a, b, experiment }: { a: string; b: string; experiment: string }) {
  const experiments = useLoad('experiments', api.experiments);
  const runs = useLoad(`compare-runs-${experiment}`, () =>
    experiment ? api.runs({ experiment }, undefined, 100) : Promise.resolve(undefined),
  );
  const go = (next: { a?: string; b?: string; experiment?: string }) =>
    navigate(
      href(['compare'], { experiment: next.experiment ?? experiment, a: next.a ?? a, b: next.b ?? b }),
    );
  const list = runs.data?.runs ?? [];
  // A run chosen before that is not among the newest 100 still shows as chosen.
  const options = (chosen: string) =>
    list.some((r) => r.id === chosen) || !chosen ? list : [...list, { id: chosen } as Run];
  return (
    <form class="filters compare-pickers" aria-label="Choose two runs" onSubmit={(e) => e.preventDefault()}>
      <label>
        Experiment
        <select
          name="experiment"
          value={experiment}
          onChange={(e) =>
            navigate(href(['compare'], { experiment: (e.currentTarget as HTMLSelectElement).value }))
          }
        >
          <option value="">choose…</option>
          {(experiments.data ?? []).map((x) => (
            <option key={x.name} value={x.name}>
              {x.name}
            </option>
          ))}
          {experiment && !(experiments.data ?? []).some((x) => x.name === experiment) && (
            <option value={experiment}>{experiment}</option>
          )}
        </select>
      </label>
      {(['a', 'b'] as const).map((side) => {
        const chosen = side === 'a' ? a : b;
        return (
          <label key={side}>
            Run {side.toUpperCase()}
            <select
              name={side}
              value={chosen}
              disabled={!experiment}
              onChange={(e) => go({ [side]: (e.currentTarget as HTMLSelectElement).value })}
            >
              <option value="">choose…</option>
              {options(chosen).map((r) => (
                <option key={r.id} value={r.id}>
                  {r.requestedAt ? label(r) : r.id}
                </option>
              ))}
            </select>
          </label>
        );
      })}
      {runs.state === 'failed' && <Failure error={runs.error} onRetry={runs.reload} />}
      {experiment && runs.data && list.length < 2 && (
        <Empty>
          <p>
            {experiment} has {list.length === 0 ? 'no runs' : 'one run'}: comparing needs two.
          </p>
        </Empty>
      )}
      {!experiment && <p class="hint">Choose an experiment, then two of its runs.</p>}
    </form>
  );
}

function Row({
  name,
  a,
  b,
  same,
}: {
  name: string;
  a: ComponentChildren;
  b: ComponentChildren;
  same: boolean;
}) {
  return (
    <tr class={same ? undefined : 'diff'}>
      <th scope="row">
        {name}
        {!same && <span class="differs"> differs</span>}
      </th>
      <td data-label="A">{a}</td>
      <td data-label="B">{b}</td>
    </tr>
  );
}

const pct = (v: number | undefined) => (v === undefined ? '—' : `${(v * 100).toFixed(1)} %`);
const msText = (v: number | undefined) => (v === undefined ? '—' : seconds(v / 1000));

function ComparisonView({ c }: { c: Comparison }) {
  const la = c.load.a;
  const lb = c.load.b;
  const faultKey = (f: { kind: string; target: string }) => `${f.kind} ${f.target}`;
  const faultsA = new Set(c.faults.a.map(faultKey));
  const faultsB = new Set(c.faults.b.map(faultKey));
  return (
    <>
      <h2>Runs</h2>
      <table class="compare">
        <thead>
          <tr>
            <td />
            <th scope="col">
              A: <a href={href(['runs', c.a.id])}>{c.a.title || c.a.id.slice(0, 8)}</a>
            </th>
            <th scope="col">
              B: <a href={href(['runs', c.b.id])}>{c.b.title || c.b.id.slice(0, 8)}</a>
            </th>
          </tr>
        </thead>
        <tbody>
          <Row
            name="Verdict"
            a={<Badge kind="verdict" value={c.a.verdict} />}
            b={<Badge kind="verdict" value={c.b.verdict} />}
            same={c.a.verdict === c.b.verdict}
          />
          <Row
            name="Version"
            a={`v${c.a.experimentVersion ?? '?'}`}
            b={`v${c.b.experimentVersion ?? '?'}`}
            same={c.a.experimentVersion === c.b.experimentVersion}
          />
          <Row name="Requested" a={<Time at={c.a.requestedAt} />} b={<Time at={c.b.requestedAt} />} same />
          <Row
            name="Duration"
            a={seconds(c.a.duration)}
            b={seconds(c.b.duration)}
            same={seconds(c.a.duration) === seconds(c.b.duration)}
          />
          <Row
            name="Recovery"
            a={msText(c.recoveryMs.a)}
            b={msText(c.recoveryMs.b)}
            same={msText(c.recoveryMs.a) === msText(c.recoveryMs.b)}
          />
          <Row
            name="Load: requests"
            a={la ? la.requests : '—'}
            b={lb ? lb.requests : '—'}
            same={(la === undefined) === (lb === undefined)}
          />
          <Row
            name="Load: error rate"
            a={pct(la?.errorRate)}
            b={pct(lb?.errorRate)}
            same={pct(la?.errorRate) === pct(lb?.errorRate)}
          />
          <Row
            name="Load: p99 latency"
            a={la ? `${la.p99.toFixed(1)} ms` : '—'}
            b={lb ? `${lb.p99.toFixed(1)} ms` : '—'}
            same={(la === undefined) === (lb === undefined)}
          />
          {(c.a.reason || c.b.reason) && (
            <Row name="Why" a={c.a.reason ?? '—'} b={c.b.reason ?? '—'} same={c.a.reason === c.b.reason} />
          )}
        </tbody>
      </table>

      <h2>Probes</h2>
      {c.probes.length === 0 ? (
        <p class="muted">Neither run checked a probe.</p>
      ) : (
        <table class="compare probes">
          <thead>
            <tr>
              <th scope="col">Phase / probe</th>
              <th scope="col">A</th>
              <th scope="col">B</th>
            </tr>
          </thead>
          <tbody>
            {c.probes.map((p) => (
              <Row
                key={`${p.phase}/${p.name}`}
                name={`${phaseName(p.phase)}: ${p.name}`}
                a={<Side side={p.a} />}
                b={<Side side={p.b} />}
                same={p.a?.met === p.b?.met && p.a?.status === p.b?.status}
              />
            ))}
          </tbody>
        </table>
      )}

      <h2>Faults</h2>
      <div class="compare-faults">
        {(['a', 'b'] as const).map((side) => {
          const faults = c.faults[side];
          const other = side === 'a' ? faultsB : faultsA;
          return (
            <div key={side}>
              <h3>Run {side.toUpperCase()}</h3>
              {faults.length === 0 ? (
                <p class="muted">No fault.</p>
              ) : (
                <ul class="faults">
                  {faults.map((f, n) => (
                    <li key={n} class={other.has(faultKey(f)) ? undefined : 'diff'}>
                      {f.kind} on <code>{f.target}</code>
                      {f.durationMs !== undefined && (
                        <span class="sub"> for {seconds(f.durationMs / 1000)}</span>
                      )}
                      {!other.has(faultKey(f)) && <span class="differs"> only in {side.toUpperCase()}</span>}
                    </li>
                  ))}
                </ul>
              )}
            </div>
          );
        })}
      </div>
    </>
  );
}

function Side({ side }: { side: Comparison['probes'][number]['a'] }) {
  if (!side) return <span class="muted">not run</span>;
  return (
    <>
      {side.met === undefined ? (
        <span class="muted">{side.status}</span>
      ) : side.met ? (
        <span class="pill good-bg">met</span>
      ) : (
        <span class="pill bad-bg">missed</span>
      )}
      {side.output !== undefined && (
        <>
          {' '}
          <code>{side.output.length > 120 ? `${side.output.slice(0, 120)}…` : side.output}</code>
        </>
      )}
    </>
  );
}
