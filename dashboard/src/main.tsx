/**
 * The dashboard of `faultline serve`: a Preact application bundled into the package (scripts/build-
 * dashboard.mjs) and served by the server itself (src/server/dashboard.ts), so it works without any
 * network beyond the server. Pages: the runs' history, one run (live while it runs), the experiments,
 * trends, a comparison of two runs, the audit log; and signing in, whenever the API says nobody is (on
 * loopback without users it never does: that is `local`). The header carries the emergency stop, and a
 * banner under it says when the stop is raised.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, api, session, type Who } from './api.js';
import { EmergencyStop, HaltBanner } from './halt.js';
import { ApprovalsPage } from './pages/approvals.js';
import { AuditPage } from './pages/audit.js';
import { BlackoutBanner, BlackoutsPage } from './pages/blackouts.js';
import { ComparePage } from './pages/compare.js';
import { ExperimentPage, ExperimentsPage } from './pages/experiments.js';
import { GameDaysPage } from './pages/gamedays.js';
import { RunPage } from './pages/run.js';
import { RunsPage } from './pages/runs.js';
import { SchedulesPage } from './pages/schedules.js';
import { SignInPage } from './pages/sign-in.js';
import { TrendsPage } from './pages/trends.js';
import { type Route, useRoute } from './route.js';
import { Failure, Loading, useLoad, useWho } from './ui.js';
import './styles.css';

const SECTIONS = [
  { id: 'runs', label: 'Runs' },
  { id: 'experiments', label: 'Experiments' },
  { id: 'trends', label: 'Trends' },
  { id: 'schedules', label: 'Schedules' },
  { id: 'approvals', label: 'Approvals' },
  { id: 'gamedays', label: 'Game days' },
  { id: 'blackouts', label: 'Blackouts' },
  { id: 'audit', label: 'Audit log' },
] as const;

function Page({ route }: { route: Route }) {
  const [section = 'runs', id] = route.parts;
  if (section === 'runs' && id) return <RunPage id={id} />;
  if (section === 'runs') return <RunsPage query={route.query} />;
  if (section === 'experiments' && id) return <ExperimentPage name={id} />;
  if (section === 'experiments') return <ExperimentsPage />;
  if (section === 'trends') return <TrendsPage query={route.query} />;
  if (section === 'compare') return <ComparePage query={route.query} />;
  if (section === 'audit') return <AuditPage query={route.query} />;
  if (section === 'schedules') return <SchedulesPage id={id} />;
  if (section === 'approvals') return <ApprovalsPage query={route.query} />;
  if (section === 'gamedays') return <GameDaysPage id={id} />;
  if (section === 'blackouts') return <BlackoutsPage />;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page <code>{window.location.hash}</code>. <a href="#/runs">See the runs</a>.
      </p>
    </section>
  );
}

function Health() {
  const health = useLoad('health', api.health, { ms: 10_000, while: () => true });
  const ok = health.state === 'loaded' && health.data.ok;
  const text =
    health.state === 'loading' ? 'checking…' : ok ? 'server and database up' : 'database unreachable';
  return (
    <span class={`health ${health.state === 'loading' ? '' : ok ? 'ok' : 'bad'}`} role="status">
      {text}
    </span>
  );
}

/** Who is signed in, and the way out when it is a session (`local` and tokens have none). */
function Identity({ who }: { who: Extract<Who, { state: 'signed-in' }> }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const { actor, role, kind } = who.info;
  const signOut = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await session.signOut();
    } catch (err) {
      // A 401 already shows the sign-in page; anything else leaves the session as it was.
      setError(err instanceof ApiFailure ? err.message : String(err));
      setBusy(false);
    }
  };
  return (
    <div class="identity">
      <p class="who">
        <span class="visually-hidden">{kind === 'local' ? 'Acting as ' : 'Signed in as '}</span>
        <strong>{actor}</strong>{' '}
        <span class="role">{kind === 'local' ? 'no sign-in on loopback' : role}</span>
      </p>
      {kind === 'session' && (
        <button type="button" class="secondary" onClick={signOut} disabled={busy}>
          {busy ? 'Signing out…' : 'Sign out'}
        </button>
      )}
      {error && (
        <p class="sign-out-error" role="alert">
          Not signed out: {error}
        </p>
      )}
    </div>
  );
}

function Main({ who, route }: { who: Who; route: Route }) {
  if (who.state === 'checking') return <Loading what="who you are" />;
  if (who.state === 'failed') return <Failure error={who.error} onRetry={() => void session.check()} />;
  if (who.state === 'signed-out') return <SignInPage ended={who.ended} />;
  return <Page route={route} />;
}

function App() {
  const route = useRoute();
  const who = useWho();
  useEffect(() => {
    void session.check();
  }, []);
  const section = route.parts[0] ?? 'runs';
  return (
    <>
      <button type="button" class="skip" onClick={skipToMain}>
        Skip to content
      </button>
      <header class="top">
        <a class="brand" href="#/runs">
          Faultline
        </a>
        {who.state === 'signed-in' && (
          <nav aria-label="Sections">
            {SECTIONS.map((s) => (
              <a key={s.id} href={`#/${s.id}`} aria-current={section === s.id ? 'page' : undefined}>
                {s.label}
              </a>
            ))}
          </nav>
        )}
        <Health />
        {who.state === 'signed-in' && <EmergencyStop who={who} />}
        {who.state === 'signed-in' && <Identity who={who} />}
      </header>
      {who.state === 'signed-in' && <HaltBanner who={who} />}
      {who.state === 'signed-in' && <BlackoutBanner />}
      <main id="main" tabIndex={-1}>
        <Main who={who} route={route} />
      </main>
    </>
  );
}

// A button, not a `#main` link: the hash is the router's.
function skipToMain() {
  document.getElementById('main')?.focus();
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
