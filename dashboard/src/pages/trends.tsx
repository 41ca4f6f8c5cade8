/**
 * Trends (`#/trends?experiment=&range=&bucket=`): what the finished runs say about resilience over time,
 * overall or for one experiment, as `GET /api/trends` computes it: success rate, recovery time (median
 * and p90), blast radius and the resilience score (its formula is in docs/server.md), each charted per
 * hour, day or week, and a table per experiment. The pickers live in the URL, so a view can be shared.
 */
import { useMemo } from 'preact/hooks';
import { api, type Trends } from '../api.js';
import { Chart, COLORS } from '../chart.js';
import { href, navigate } from '../route.js';
import { Empty, Failure, Loading, seconds, useFocusOnMount, useLoad } from '../ui.js';

type Bucket = 'hour' | 'day' | 'week';
const RANGES: { id: string; label: string; days: number; bucket: Bucket }[] = [
  { id: '24h', label: 'last 24 hours', days: 1, bucket: 'hour' },
  { id: '7d', label: 'last 7 days', days: 7, bucket: 'day' },
  { id: '30d', label: 'last 30 days', days: 30, bucket: 'day' },
  { id: '90d', label: 'last 90 days', days: 90, bucket: 'week' },
  { id: '365d', label: 'last year', days: 365, bucket: 'week' },
];
const BUCKETS: Bucket[] = ['hour', 'day', 'week'];
const DEFAULT_RANGE = '30d';
/** An experiment name as the store keeps them (store.ts ExperimentNameSchema). */
const STORED_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const percent = (v: number | null | undefined) =>
  v === null || v === undefined ? '—' : `${(v * 100).toFixed(v === 1 || v === 0 ? 0 : 1)} %`;
const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : seconds(v / 1000));
const num = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined ? '—' : v.toFixed(digits);

export function TrendsPage({ query }: { query: URLSearchParams }) {
  const heading = useFocusOnMount<HTMLHeadingElement>('trends');
  const experiment = query.get('experiment') ?? '';
  const range =
    RANGES.find((r) => r.id === query.get('range')) ??
    (RANGES.find((r) => r.id === DEFAULT_RANGE) as (typeof RANGES)[number]);
  const asked = query.get('bucket');
  const bucket: Bucket = BUCKETS.includes(asked as Bucket) ? (asked as Bucket) : range.bucket;
  const key = `${experiment}|${range.id}|${bucket}`;
  const trends = useLoad(`trends-${key}`, () =>
    api.trends({
      ...(experiment ? { experiment } : {}),
      // From now: the server's `to` defaults to now.
      from: new Date(Date.now() - range.days * 86_400_000).toISOString(),
      bucket,
    }),
  );
  const experiments = useLoad('experiments', api.experiments);
  const set = (change: Record<string, string | undefined>) =>
    navigate(
      href(['trends'], {
        experiment: experiment || undefined,
        range: range.id === DEFAULT_RANGE ? undefined : range.id,
        bucket: query.get('bucket') ?? undefined,
        ...change,
      }),
    );
  const names = (experiments.data ?? []).map((e) => e.name);
  if (experiment && !names.includes(experiment)) names.push(experiment);

  return (
    <section>
      <h1 ref={heading} tabIndex={-1}>
        Trends{experiment ? `: ${experiment}` : ''}
      </h1>
      <form class="filters trend-pickers" aria-label="Choose the trends" onSubmit={(e) => e.preventDefault()}>
        <label>
          Experiment
          <select
            name="experiment"
            value={experiment}
            onChange={(e) => set({ experiment: (e.currentTarget as HTMLSelectElement).value || undefined })}
          >
            <option value="">all (overall)</option>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <label>
          Range
          <select
            name="range"
            value={range.id}
            // A new range brings its own bucket size.
            onChange={(e) => set({ range: (e.currentTarget as HTMLSelectElement).value, bucket: undefined })}
          >
            {RANGES.map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Per
          <select
            name="bucket"
            value={bucket}
            onChange={(e) => set({ bucket: (e.currentTarget as HTMLSelectElement).value })}
          >
            {BUCKETS.map((b) => (
              <option key={b} value={b}>
                {b}
              </option>
            ))}
          </select>
        </label>
      </form>
      {trends.state === 'loading' && <Loading what="the trends" />}
      {trends.state === 'failed' && <Failure error={trends.error} onRetry={trends.reload} />}
      {trends.data && trends.data.overall.runs === 0 && (
        <Empty>
          <p>
            No finished run {experiment ? `of ${experiment} ` : ''}in the {range.label}. Trends appear once
            runs have finished: <a href="#/experiments">start one</a>.
          </p>
        </Empty>
      )}
      {trends.data && trends.data.overall.runs > 0 && (
        <TrendsView trends={trends.data} experiment={experiment} />
      )}
    </section>
  );
}

function TrendsView({ trends, experiment }: { trends: Trends; experiment: string }) {
  const o = trends.overall;
  const data = useMemo(() => {
    const x = trends.series.map((s) => Date.parse(s.start) / 1000);
    const nil = <T,>(f: (s: Trends['series'][number]) => T | null | undefined) =>
      trends.series.map((s) => (s.runs === 0 ? null : (f(s) ?? null)));
    return {
      success: [x, nil((s) => (s.successRate === null ? null : s.successRate * 100))],
      score: [x, nil((s) => s.resilienceScore)],
      recovery: [
        x,
        nil((s) => (s.recoveryMs ? s.recoveryMs.median / 1000 : null)),
        nil((s) => (s.recoveryMs ? s.recoveryMs.p90 / 1000 : null)),
      ],
      blast: [x, nil((s) => s.blastRadius.faults), nil((s) => s.blastRadius.targets)],
      runs: [x, trends.series.map((s) => s.runs), trends.series.map((s) => s.passed)],
    };
  }, [trends]);
  const per = `per ${trends.bucket}`;
  return (
    <>
      <dl
        class="stats"
        aria-label={experiment ? `${experiment} over the range` : 'Every experiment over the range'}
      >
        <div>
          <dt>Runs</dt>
          <dd>
            {o.runs} <span class="sub">({o.passed} passed)</span>
          </dd>
        </div>
        <div>
          <dt>Success rate</dt>
          <dd>{percent(o.successRate)}</dd>
        </div>
        <div>
          <dt>Recovery median / p90</dt>
          <dd>
            {ms(o.recoveryMs?.median)} / {ms(o.recoveryMs?.p90)}
            {o.recoveryMs && <span class="sub"> ({o.recoveryMs.samples} measured)</span>}
          </dd>
        </div>
        <div>
          <dt>Blast radius</dt>
          <dd>
            {num(o.blastRadius.faults)} faults, {num(o.blastRadius.targets)} targets a run{' '}
            <span class="sub">(at most {o.blastRadius.maxTargets})</span>
          </dd>
        </div>
        <div>
          <dt>Resilience score</dt>
          <dd class="score">{o.resilienceScore === null ? '—' : `${Math.round(o.resilienceScore)} / 100`}</dd>
        </div>
      </dl>
      <div class="charts trends">
        <Chart
          title={`Success rate ${per}`}
          unit="%"
          yMax={100}
          xFormat="date"
          series={[{ label: 'passed', color: COLORS[2] }]}
          data={data.success}
          summary={`${percent(o.successRate)} of ${o.runs} runs passed over the range`}
        />
        <Chart
          title={`Resilience score ${per}`}
          unit="points"
          yMax={100}
          xFormat="date"
          series={[{ label: 'score', color: COLORS[0] }]}
          data={data.score}
          summary={`a score of ${num(o.resilienceScore, 0)} out of 100 over the range`}
        />
        {o.recoveryMs ? (
          <Chart
            title={`Recovery time ${per}`}
            unit="s"
            xFormat="date"
            series={[
              { label: 'median', color: COLORS[1] },
              { label: 'p90', color: COLORS[3], dash: [6, 3] },
            ]}
            data={data.recovery}
            summary={`median ${ms(o.recoveryMs?.median)}, p90 ${ms(o.recoveryMs?.p90)}`}
          />
        ) : (
          <div class="chart-none">
            <h3>Recovery time {per}</h3>
            <p class="muted">
              No run in this range measured its recovery (an experiment measures it with{' '}
              <code>runtime.recovery</code>).
            </p>
          </div>
        )}
        <Chart
          title={`Blast radius ${per}`}
          unit="a run"
          xFormat="date"
          series={[
            { label: 'faults', color: COLORS[4], bars: true },
            { label: 'targets', color: COLORS[5] },
          ]}
          data={data.blast}
          summary={`${num(o.blastRadius.faults)} faults and ${num(o.blastRadius.targets)} targets a run on average`}
        />
        <Chart
          title={`Runs ${per}`}
          unit="runs"
          xFormat="date"
          series={[
            { label: 'finished', color: COLORS[0], bars: true },
            { label: 'passed', color: COLORS[2] },
          ]}
          data={data.runs}
          summary={`${o.runs} runs finished, ${o.passed} passed`}
        />
      </div>
      <h2>Per experiment</h2>
      <table class="list trend-table">
        <thead>
          <tr>
            <th scope="col">Experiment</th>
            <th scope="col">Runs</th>
            <th scope="col">Success rate</th>
            <th scope="col">Recovery median / p90</th>
            <th scope="col">Blast radius (faults / targets a run)</th>
            <th scope="col">Resilience score</th>
          </tr>
        </thead>
        <tbody>
          {trends.experiments.map((e) => (
            <tr key={e.experiment} aria-current={e.experiment === experiment ? 'true' : undefined}>
              <td data-label="Experiment">
                {STORED_NAME.test(e.experiment) ? (
                  <>
                    <a href={href(['trends'], { experiment: e.experiment })}>{e.experiment}</a>
                    <div class="sub">
                      <a href={href(['runs'], { experiment: e.experiment })}>its runs</a>
                    </div>
                  </>
                ) : (
                  // Pushed runs of an experiment not stored here go by their title: nothing to filter on.
                  <>
                    {e.experiment} <span class="sub">(pushed)</span>
                  </>
                )}
              </td>
              <td data-label="Runs">
                {e.runs} ({e.passed} passed)
              </td>
              <td data-label="Success rate">{percent(e.successRate)}</td>
              <td data-label="Recovery median / p90">
                {ms(e.recoveryMs?.median)} / {ms(e.recoveryMs?.p90)}
              </td>
              <td data-label="Blast radius">
                {num(e.blastRadius.faults)} / {num(e.blastRadius.targets)}
              </td>
              <td data-label="Resilience score">
                {e.resilienceScore === null ? '—' : Math.round(e.resilienceScore)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
