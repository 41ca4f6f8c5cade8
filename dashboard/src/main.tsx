/**
 * The dashboard of `faultline serve`: a Preact application bundled into the package (scripts/build-
 * dashboard.mjs) and served by the server itself (src/server/dashboard.ts), so it works without any
 * network beyond the server. Pages: the runs' history, one run, the experiments, the audit log.
 */
import { render } from 'preact';
import { api } from './api.js';
import { AuditPage } from './pages/audit.js';
import { ExperimentPage, ExperimentsPage } from './pages/experiments.js';
import { RunPage } from './pages/run.js';
import { RunsPage } from './pages/runs.js';
import { type Route, useRoute } from './route.js';
import { useLoad } from './ui.js';
import './styles.css';

const SECTIONS = [
  { id: 'runs', label: 'Runs' },
  { id: 'experiments', label: 'Experiments' },
  { id: 'audit', label: 'Audit log' },
] as const;

function Page({ route }: { route: Route }) {
  const [section = 'runs', id] = route.parts;
  if (section === 'runs' && id) return <RunPage id={id} />;
  if (section === 'runs') return <RunsPage query={route.query} />;
  if (section === 'experiments' && id) return <ExperimentPage name={id} />;
  if (section === 'experiments') return <ExperimentsPage />;
  if (section === 'audit') return <AuditPage query={route.query} />;
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

function App() {
  const route = useRoute();
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
        <nav aria-label="Sections">
          {SECTIONS.map((s) => (
            <a key={s.id} href={`#/${s.id}`} aria-current={section === s.id ? 'page' : undefined}>
              {s.label}
            </a>
          ))}
        </nav>
        <Health />
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
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
