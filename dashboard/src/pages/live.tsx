/**
 * A run while it runs, as the server streams it (live.ts): the phase and what is under way, each probe
 * against its tolerance, the faults in place with their targets and how long they have been there, the
 * safeguards' last values, the load's throughput, error rate and latency charted second by second, and
 * the log's tail. Outputs and log lines are someone's text: shown as text, never as markup.
 */
import { useMemo } from 'preact/hooks';
import type { LiveState } from '../api.js';
import { Chart, COLORS } from '../chart.js';
import { type RunStream, useNow } from '../live.js';
import { seconds } from '../ui.js';

const PHASES: Record<string, string> = {
  'before-hypothesis': 'steady state before',
  method: 'method',
  'during-hypothesis': 'steady state during the method',
  'after-hypothesis': 'steady state after',
  rollbacks: 'rollbacks',
  revert: 'reverting faults',
  recovery: 'measuring recovery',
};

export const phaseName = (p: string | undefined) => (p ? (PHASES[p] ?? p) : 'starting');

function json(v: unknown, max = 160): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * Each probe's latest result per phase, with how many of its checks met the tolerance so far: a probe
 * checked every second would otherwise fill the page.
 */
function latestProbes(activities: LiveState['activities']) {
  const by = new Map<string, LiveState['activities'][number] & { met: number; checks: number }>();
  for (const a of activities) {
    if (a.tolerance === undefined && a.toleranceMet === undefined) continue;
    const key = `${a.phase}\u0000${a.name}`;
    const prev = by.get(key);
    const done = a.status !== 'running';
    by.delete(key);
    by.set(key, {
      ...a,
      met: (prev?.met ?? 0) + (done && a.toleranceMet ? 1 : 0),
      checks: (prev?.checks ?? 0) + (done ? 1 : 0),
    });
  }
  return [...by.values()];
}

/** Checked every second during the method, a hypothesis ends many times: one count per phase. */
function hypothesisCounts(list: LiveState['hypotheses']) {
  const by = new Map<string, { phase: string; met: number; missed: number }>();
  for (const h of list) {
    const c = by.get(h.phase) ?? { phase: h.phase, met: 0, missed: 0 };
    if (h.met) c.met++;
    else c.missed++;
    by.set(h.phase, c);
  }
  return [...by.values()];
}

function age(fromIso: string, now: number): string {
  const t = Date.parse(fromIso);
  return Number.isNaN(t) ? '—' : seconds(Math.max(0, (now - t) / 1000));
}

const STREAM_TEXT: Record<RunStream['state'], string> = {
  off: 'not connected',
  connecting: 'connecting…',
  open: 'live',
  reconnecting: 'reconnecting…',
  ended: 'the run has ended',
  unavailable: 'no live stream: reading the run every second instead',
};

export function StreamStatus({ stream }: { stream: RunStream }) {
  return (
    <span class={`stream stream-${stream.state}`} role="status">
      {STREAM_TEXT[stream.state]}
    </span>
  );
}

export function LiveView({ live }: { live: LiveState }) {
  const now = useNow();
  const probes = latestProbes(live.activities);
  // What ran without a tolerance: the method's actions and probes (a check under way shows under Now).
  const actions = live.activities.filter(
    (a) => a.status !== 'running' && a.tolerance === undefined && a.toleranceMet === undefined,
  );
  return (
    <div class="live-view">
      <div class="live-grid">
        <section class="panel" aria-labelledby="live-now">
          <h2 id="live-now">Now</h2>
          <p class="phase">
            Phase: <strong>{phaseName(live.phase)}</strong>
          </p>
          {live.current.length === 0 ? (
            <p class="muted">Nothing under way this moment.</p>
          ) : (
            <ul class="current">
              {live.current.map((c) => (
                <li key={`${c.phase}/${c.name}/${c.since}`}>
                  <span class="kind">{c.activity}</span> <strong>{c.name}</strong>{' '}
                  <span class="sub">
                    ({phaseName(c.phase)}, for {seconds(Math.max(0, (now - c.since) / 1000))})
                  </span>
                </li>
              ))}
            </ul>
          )}
          {live.hypotheses.length > 0 && (
            <p class="hypotheses">
              Steady state:{' '}
              {hypothesisCounts(live.hypotheses).map((h) => (
                <span key={h.phase} class={`pill ${h.missed === 0 ? 'good-bg' : 'bad-bg'}`}>
                  {phaseName(h.phase)}:{' '}
                  {h.missed === 0
                    ? `met${h.met > 1 ? ` ${h.met} times` : ''}`
                    : `missed ${h.missed} of ${h.met + h.missed}`}
                </span>
              ))}
            </p>
          )}
        </section>

        <section class="panel" aria-labelledby="live-faults">
          <h2 id="live-faults">Faults</h2>
          {live.faults.length === 0 ? (
            <p class="muted">No fault injected yet.</p>
          ) : (
            <table class="list live-faults">
              <thead>
                <tr>
                  <th scope="col">Kind</th>
                  <th scope="col">Target</th>
                  <th scope="col">State</th>
                  <th scope="col">Age</th>
                </tr>
              </thead>
              <tbody>
                {live.faults.map((f) => (
                  <tr key={f.id} class={`fault-${f.state}`}>
                    <td data-label="Kind">{f.kind}</td>
                    <td data-label="Target">
                      <code>{f.target}</code>
                    </td>
                    <td data-label="State">
                      <span
                        class={
                          f.state === 'active'
                            ? 'pill warn-bg'
                            : f.state === 'reverted'
                              ? 'pill good-bg'
                              : 'pill bad-bg'
                        }
                      >
                        {f.state}
                      </span>
                      {f.error && <div class="bad">{f.error}</div>}
                    </td>
                    <td data-label="Age">
                      {f.state === 'active' ? (
                        <span class="age">{age(f.injectedAt, now)}</span>
                      ) : f.revertedAt ? (
                        <span>
                          reverted after{' '}
                          {seconds((Date.parse(f.revertedAt) - Date.parse(f.injectedAt)) / 1000)}, at{' '}
                          {new Date(f.revertedAt).toLocaleTimeString()}
                        </span>
                      ) : (
                        '—'
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>

      <section aria-labelledby="live-load">
        <h2 id="live-load">Load</h2>
        <LoadCharts live={live} />
      </section>

      <section aria-labelledby="live-probes">
        <h2 id="live-probes">Probes against their tolerances</h2>
        {probes.length === 0 ? (
          <p class="muted">No probe has been checked yet.</p>
        ) : (
          <table class="list live-probes">
            <thead>
              <tr>
                <th scope="col">Phase</th>
                <th scope="col">Probe</th>
                <th scope="col">Value</th>
                <th scope="col">Tolerance</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>
              {probes
                .slice(-30)
                .reverse()
                .map((p, n) => (
                  <tr key={`${p.phase}/${p.name}/${n}`}>
                    <td data-label="Phase">{phaseName(p.phase)}</td>
                    <td data-label="Probe">{p.name}</td>
                    <td data-label="Value">
                      <code>{p.error ? p.error : p.output !== undefined ? json(p.output) : '—'}</code>
                    </td>
                    <td data-label="Tolerance">
                      <code>{json(p.tolerance)}</code>
                    </td>
                    <td data-label="Result">
                      {p.status === 'running' ? (
                        <span class="muted">checking…</span>
                      ) : p.toleranceMet ? (
                        <span class="pill good-bg">met</span>
                      ) : (
                        <span class="pill bad-bg">missed</span>
                      )}
                      {p.checks > 1 && (
                        <span class="sub">
                          {' '}
                          {p.met} of {p.checks} checks met
                        </span>
                      )}
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        )}
        {actions.length > 0 && (
          <p class="sub">
            Other activities so far:{' '}
            {actions
              .slice(-8)
              .map((a) => `${a.name} (${a.status})`)
              .join(', ')}
          </p>
        )}
      </section>

      <section aria-labelledby="live-safeguards">
        <h2 id="live-safeguards">Safeguards</h2>
        {live.safeguards.length === 0 ? (
          <p class="muted">No safeguard checked yet (or the experiment has none).</p>
        ) : (
          <table class="list live-safeguards">
            <thead>
              <tr>
                <th scope="col">Safeguard</th>
                <th scope="col">Last value</th>
                <th scope="col">Tolerance</th>
                <th scope="col">State</th>
                <th scope="col">Checks</th>
              </tr>
            </thead>
            <tbody>
              {live.safeguards.map((g) => (
                <tr key={g.name}>
                  <td data-label="Safeguard">{g.name}</td>
                  <td data-label="Last value">
                    <code>{g.value ?? '—'}</code>
                  </td>
                  <td data-label="Tolerance">
                    <code>{g.tolerance === undefined ? '—' : json(g.tolerance)}</code>
                  </td>
                  <td data-label="State">
                    {g.met ? (
                      <span class="pill good-bg">holding</span>
                    ) : (
                      <span class="pill bad-bg">tripped</span>
                    )}
                    {g.reason && <div class="bad">{g.reason}</div>}
                  </td>
                  <td data-label="Checks">
                    {g.checks}, last {seconds(Math.max(0, (now - g.at) / 1000))} ago
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="live-log">
        <h2 id="live-log">Log</h2>
        {live.log.length === 0 ? (
          <p class="muted">Nothing logged yet.</p>
        ) : (
          <ol class="log" aria-live="off">
            {live.log.slice(-40).map((l, n) => (
              <li key={`${l.at}-${n}`} class={`log-${l.level}`}>
                <time dateTime={new Date(l.at).toISOString()}>{new Date(l.at).toLocaleTimeString()}</time>{' '}
                <span class="level">{l.level}</span> {l.message}
              </li>
            ))}
          </ol>
        )}
      </section>
    </div>
  );
}

/** The load's seconds as three charts; a run without `load:` says so instead. */
export function LoadCharts({ live }: { live: LiveState }) {
  const load = live.load;
  // New arrays only when a sample arrives, not on every tick of the ages above.
  const data = useMemo(() => {
    const x = load.map((s) => s.at / 1000);
    return {
      throughput: [x, load.map((s) => s.throughput)],
      errors: [x, load.map((s) => s.errorRate * 100)],
      latency: [x, load.map((s) => s.p50), load.map((s) => s.p99)],
    };
  }, [load]);
  if (load.length === 0)
    return (
      <p class="muted">
        {live.status === 'running'
          ? 'No load sample yet (or the experiment sends no load).'
          : 'This run sent no load.'}
      </p>
    );
  const last = load[load.length - 1];
  return (
    <div class="charts">
      <Chart
        title="Throughput"
        unit="req/s"
        series={[{ label: 'completed', color: COLORS[0] }]}
        data={data.throughput}
        summary={`${load.length} seconds; last ${last?.throughput.toFixed(1)} requests per second`}
      />
      <Chart
        title="Error rate"
        unit="%"
        yMax={100}
        series={[{ label: 'failed', color: COLORS[1] }]}
        data={data.errors}
        summary={`last ${((last?.errorRate ?? 0) * 100).toFixed(1)} % of requests failed`}
      />
      <Chart
        title="Latency"
        unit="ms"
        series={[
          { label: 'p50', color: COLORS[2] },
          { label: 'p99', color: COLORS[3], dash: [6, 3] },
        ]}
        data={data.latency}
        summary={`last p50 ${last?.p50.toFixed(1)} ms, p99 ${last?.p99.toFixed(1)} ms`}
      />
    </div>
  );
}
