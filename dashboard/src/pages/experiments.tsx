/**
 * The experiments: the list with a Start button each, an upload (a JSON or YAML file under a name; the
 * server validates it as `faultline validate` does and every issue is shown with its line and column),
 * and one experiment's versions and source. Start and Upload are offered to whoever may use them (an
 * operator or above; a viewer sees neither, and the server would refuse them anyway); Start is disabled,
 * saying why, while the emergency stop is raised. Each experiment shows its lifecycle state (ready, draft,
 * in review, approved, rejected, expired: src/server/approvals/model.ts); one tagged for production offers
 * an operator the request for an approval of its latest version (approvers decide on #/approvals).
 */
import { useState } from 'preact/hooks';
import type { Approval, Lifecycle } from '../../../src/server/approvals/model.js';
import {
  ApiFailure,
  api,
  call,
  can,
  type ExperimentSummary,
  type ExperimentVersion,
  failure,
} from '../api.js';
import { useStartBlocked } from '../halt.js';
import { href, navigate } from '../route.js';
import { Empty, Failure, Issues, Loading, Time, useFocusOnMount, useLoad, useWho } from '../ui.js';
import { lasting } from './approvals.js';
import './approvals.css';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A file name as an experiment name: its stem, with what a name cannot hold replaced. */
function nameFromFile(file: string): string {
  const stem = file.replace(/\.(ya?ml|json)$/i, '');
  return stem
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 128);
}

function formatFromFile(file: string): 'json' | 'yaml' | undefined {
  if (/\.json$/i.test(file)) return 'json';
  if (/\.ya?ml$/i.test(file)) return 'yaml';
  return undefined;
}

/** What the lifecycle states mean, in a sentence each. */
const LIFECYCLE_TEXT: Record<Lifecycle['state'], string> = {
  ready: 'Not tagged for production: it runs without an approval.',
  draft: 'Tagged for production: this version needs an approval before it runs. Nobody has asked yet.',
  'in-review': 'An approval was asked for and waits for an approver.',
  approved: 'Approved: it may run.',
  rejected: 'The last request for this version was rejected: ask again, or upload a new version.',
  expired: 'Its approval ran out (expired, or its one run used it): ask again to run it again.',
};

export function LifecycleBadge({ lifecycle }: { lifecycle: Lifecycle | undefined }) {
  if (!lifecycle) return <span class="badge none">—</span>;
  return (
    <span class={`badge lifecycle-${lifecycle.state}`} title={LIFECYCLE_TEXT[lifecycle.state]}>
      {lifecycle.state}
    </span>
  );
}

const EXPIRIES = [
  ['1h', '1 hour'],
  ['24h', '24 hours'],
  ['168h', '7 days'],
  ['720h', '30 days'],
] as const;

/** An operator asks for an approval of `version` of `name`: standing or one run, how long, why. */
function RequestApproval({ name, version, onDone }: { name: string; version: number; onDone: () => void }) {
  const [standing, setStanding] = useState(false);
  const [expiresIn, setExpiresIn] = useState<string>('24h');
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  const [done, setDone] = useState<Approval | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const asked = await call<Approval>('POST', `/api/experiments/${encodeURIComponent(name)}/approvals`, {
        version,
        standing,
        expiresIn,
        ...(comment.trim() === '' ? {} : { comment: comment.trim() }),
      });
      setDone(asked);
      setComment('');
      onDone();
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="request-approval" onSubmit={submit} aria-labelledby="request-approval-title">
      <h3 id="request-approval-title">Ask for an approval of version {version}</h3>
      <div class="fields">
        <label class="check">
          <input
            type="checkbox"
            checked={standing}
            onChange={(e) => setStanding((e.currentTarget as HTMLInputElement).checked)}
          />
          Standing (every run until it expires: schedules need one)
        </label>
        <label>
          Lasts, once approved
          <select
            value={expiresIn}
            onChange={(e) => setExpiresIn((e.currentTarget as HTMLSelectElement).value)}
          >
            {EXPIRIES.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label class="grow">
          Comment for the approver
          <input
            type="text"
            value={comment}
            maxLength={2000}
            onInput={(e) => setComment((e.currentTarget as HTMLInputElement).value)}
            placeholder="what will run, when, who watches"
          />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'Asking…' : 'Ask for approval'}
        </button>
      </div>
      {error && <Failure error={error} />}
      {done && (
        <p class="state success" role="status">
          Asked: {done.standing ? 'a standing approval' : 'an approval for one run'} of version {done.version}
          , lasting {lasting(done.expiresIn)} once approved. An approver decides on{' '}
          <a href={href(['approvals'])}>Approvals</a>.
        </p>
      )}
    </form>
  );
}

/** Where the experiment stands (its latest version), and the request for an approval when it needs one. */
function LifecyclePanel({ name }: { name: string }) {
  const who = useWho();
  const latest = useLoad(`lifecycle-${name}`, () =>
    call<ExperimentVersion & { lifecycle: Lifecycle }>('GET', `/api/experiments/${encodeURIComponent(name)}`),
  );
  if (latest.state === 'loading') return <Loading what="its lifecycle state" />;
  if (latest.state === 'failed') return <Failure error={latest.error} onRetry={latest.reload} />;
  const { lifecycle } = latest.data;
  return (
    <section class="lifecycle" aria-labelledby="lifecycle-title">
      <h2 id="lifecycle-title">
        Lifecycle of version {lifecycle.version}: <LifecycleBadge lifecycle={lifecycle} />
      </h2>
      <p>{LIFECYCLE_TEXT[lifecycle.state]}</p>
      {lifecycle.approval?.expiresAt && lifecycle.state === 'approved' && (
        <p>
          {lifecycle.approval.standing ? 'Standing approval' : 'Approval for one run'}, until{' '}
          <Time at={lifecycle.approval.expiresAt} />.
        </p>
      )}
      {lifecycle.state === 'in-review' && (
        <p>
          <a href={href(['approvals'])}>See the request</a>
        </p>
      )}
      {lifecycle.production && can(who, 'approval.request') && (
        <RequestApproval name={name} version={lifecycle.version} onDone={latest.reload} />
      )}
    </section>
  );
}

/** Starts a run of `name` and opens its page; nothing for a viewer. */
function StartButton({ name, version, label }: { name: string; version?: number; label?: string }) {
  const who = useWho();
  const blocked = useStartBlocked();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  if (!can(who, 'run.start')) return null;
  const start = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const run = await api.startRun(name, version);
      navigate(href(['runs', run.id]));
    } catch (err) {
      setError(failure(err));
      setBusy(false);
    }
  };
  return (
    <span class="start">
      <button
        type="button"
        onClick={start}
        disabled={busy || blocked !== undefined}
        title={blocked ? `No run starts: ${blocked}` : undefined}
        // A bare “Start” in a list needs its row's name; a labelled one says enough.
        aria-label={label ? undefined : `Start a run of ${name}`}
      >
        {busy ? 'Starting…' : (label ?? 'Start')}
      </button>
      {error && <Failure error={error} />}
    </span>
  );
}

function Upload({ onUploaded }: { onUploaded: () => void }) {
  const [name, setName] = useState('');
  const [nameTyped, setNameTyped] = useState(false);
  const [format, setFormat] = useState<'json' | 'yaml'>('yaml');
  const [file, setFile] = useState<File | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  const [done, setDone] = useState<{ experiment: ExperimentVersion; text: string } | undefined>();

  const onFile = (e: Event) => {
    const f = (e.currentTarget as HTMLInputElement).files?.[0];
    setFile(f);
    setDone(undefined);
    setError(undefined);
    if (!f) return;
    // A name typed by hand stays; one taken from the previous file follows the new file.
    if (!nameTyped) setName(nameFromFile(f.name));
    const guessed = formatFromFile(f.name);
    if (guessed) setFormat(guessed);
  };

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setDone(undefined);
    if (!file) {
      setError(new ApiFailure(400, 'bad_request', 'file: choose a JSON or YAML experiment file'));
      return;
    }
    if (!NAME.test(name)) {
      setError(
        new ApiFailure(
          400,
          'bad_request',
          'name: expected 1-128 letters, digits, ., _ or -, starting with a letter or digit',
        ),
      );
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const source = await file.text();
      const before = (await api.experiments().catch(() => [])).find((x) => x.name === name);
      const experiment = await api.upload(name, format, source);
      const text =
        before && before.version === experiment.version
          ? `${name}: identical to version ${experiment.version}, nothing new stored`
          : `${name}: stored as version ${experiment.version}`;
      setDone({ experiment, text });
      onUploaded();
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="upload" onSubmit={onSubmit} aria-labelledby="upload-title">
      <h2 id="upload-title">Upload an experiment</h2>
      <div class="fields">
        <label>
          File (JSON or YAML)
          <input
            type="file"
            name="file"
            accept=".json,.yaml,.yml,application/json,application/yaml"
            onChange={onFile}
          />
        </label>
        <label>
          Name
          <input
            type="text"
            name="name"
            value={name}
            onInput={(e) => {
              setName((e.currentTarget as HTMLInputElement).value);
              setNameTyped(true);
            }}
            autoComplete="off"
            spellcheck={false}
          />
        </label>
        <label>
          Format
          <select
            name="format"
            value={format}
            onChange={(e) => setFormat((e.currentTarget as HTMLSelectElement).value as 'json' | 'yaml')}
          >
            <option value="yaml">YAML</option>
            <option value="json">JSON</option>
          </select>
        </label>
        <div class="actions">
          <button type="submit" disabled={busy}>
            {busy ? 'Uploading…' : 'Upload'}
          </button>
        </div>
      </div>
      {error && (
        <div class="state failure" role="alert">
          <p>
            <strong>Not stored.</strong> {error.message}
          </p>
          <Issues issues={error.issues} />
        </div>
      )}
      {done && (
        <p class="state success" role="status">
          {done.text}. <a href={href(['experiments', done.experiment.name])}>See it</a>
        </p>
      )}
    </form>
  );
}

export function ExperimentsPage() {
  const heading = useFocusOnMount<HTMLHeadingElement>('experiments');
  const who = useWho();
  const experiments = useLoad('experiments', () =>
    call<(ExperimentSummary & { lifecycle: Lifecycle })[]>('GET', '/api/experiments'),
  );
  return (
    <section>
      <h1 ref={heading} tabIndex={-1}>
        Experiments
      </h1>
      {experiments.state === 'loading' && <Loading what="experiments" />}
      {experiments.state === 'failed' && <Failure error={experiments.error} onRetry={experiments.reload} />}
      {experiments.data && experiments.data.length === 0 && (
        <Empty>
          <p>
            No experiment stored yet
            {can(who, 'experiment.upload') ? ': upload one below.' : ' (an operator uploads them).'}
          </p>
        </Empty>
      )}
      {experiments.data && experiments.data.length > 0 && (
        <table class="list experiments">
          <caption class="visually-hidden">Experiments, with their latest version</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Title</th>
              <th scope="col">Latest</th>
              <th scope="col">State</th>
              <th scope="col">Uploaded</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {experiments.data.map((e) => (
              <tr key={e.name}>
                <td data-label="Name">
                  <a href={href(['experiments', e.name])}>{e.name}</a>
                </td>
                <td data-label="Title">{e.title}</td>
                <td data-label="Latest">
                  v{e.version} ({e.format}, {e.versions} version{e.versions === 1 ? '' : 's'})
                </td>
                <td data-label="State">
                  <LifecycleBadge lifecycle={e.lifecycle} />
                </td>
                <td data-label="Uploaded">
                  <Time at={e.createdAt} />
                </td>
                <td data-label="">
                  <StartButton name={e.name} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {can(who, 'experiment.upload') && <Upload onUploaded={experiments.reload} />}
    </section>
  );
}

export function ExperimentPage({ name }: { name: string }) {
  const heading = useFocusOnMount<HTMLHeadingElement>(`experiment-${name}`);
  const versions = useLoad(`versions-${name}`, () => api.versions(name));
  const [shown, setShown] = useState<number | undefined>();
  const sorted = [...(versions.data ?? [])].sort((a, b) => b.version - a.version);
  const latest = sorted[0]?.version;
  const source = useLoad(`source-${name}-${shown ?? latest ?? ''}`, () =>
    latest === undefined ? Promise.resolve(undefined) : api.experiment(name, shown ?? latest),
  );
  return (
    <section>
      <p class="crumbs">
        <a href="#/experiments">Experiments</a> /
      </p>
      <h1 ref={heading} tabIndex={-1}>
        {name}
      </h1>
      {versions.state === 'loading' && <Loading what="its versions" />}
      {versions.state === 'failed' && <Failure error={versions.error} onRetry={versions.reload} />}
      {sorted.length > 0 && (
        <>
          <LifecyclePanel key={latest} name={name} />
          <div class="run-actions">
            <StartButton name={name} label="Start a run of the latest version" />
            <a class="button secondary" href={href(['runs'], { experiment: name })}>
              Its runs
            </a>
          </div>
          <h2>Versions</h2>
          <table class="list versions">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Title</th>
                <th scope="col">Uploaded</th>
                <th scope="col">sha256</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((v) => (
                <tr key={v.version} aria-current={v.version === (shown ?? latest) ? 'true' : undefined}>
                  <td data-label="Version">
                    v{v.version} ({v.format})
                  </td>
                  <td data-label="Title">{v.title}</td>
                  <td data-label="Uploaded">
                    <Time at={v.createdAt} /> by {v.createdBy}
                  </td>
                  <td data-label="sha256">
                    <code title={v.sha256}>{v.sha256.slice(0, 12)}</code>
                  </td>
                  <td data-label="" class="row-actions">
                    <button type="button" class="secondary" onClick={() => setShown(v.version)}>
                      Show source<span class="visually-hidden"> of version {v.version}</span>
                    </button>
                    <StartButton name={name} version={v.version} label={`Start v${v.version}`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Source of version {shown ?? latest}</h2>
          {source.state === 'loading' && <Loading what="the source" />}
          {source.state === 'failed' && <Failure error={source.error} onRetry={source.reload} />}
          {source.data && <pre class="source">{source.data.source}</pre>}
        </>
      )}
    </section>
  );
}
