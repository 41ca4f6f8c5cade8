/**
 * Approvals of experiments tagged for production: the requests waiting for an approver first (the longest
 * waiting on top: experiment and version, who asked, standing or one run, how long it will last, their
 * comment), with Approve and Reject for approvers who neither wrote the version nor asked (the server
 * refuses them anyway, saying why); then the history (approved, used, rejected, expired), filterable by
 * state. An approval is asked for on the experiment's page (pages/experiments.tsx RequestApproval).
 */
import { useState } from 'preact/hooks';
import type { Approval } from '../../../src/server/approvals/model.js';
import { type ApiFailure, call, can, failure, type Who } from '../api.js';
import { href, navigate } from '../route.js';
import { Empty, Failure, Loading, Time, useFocusOnMount, useLoad, useWho } from '../ui.js';
import './approvals.css';

const STATES = ['pending', 'approved', 'used', 'rejected', 'expired'] as const;
const POLL_MS = 5_000;

/** `seconds` in the largest unit that keeps it whole: 1 h, 24 h, 7 days. */
export function lasting(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} day${seconds === 86_400 ? '' : 's'}`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** Why `who` may not decide `a` on this page (the server's four-eyes rule also knows their tokens). */
function cannotDecide(who: Who, a: Approval): string | undefined {
  if (!can(who, 'run.approve')) return 'only an approver may decide';
  const actor = who.state === 'signed-in' ? who.info.actor : '';
  if (actor === a.author) return `you wrote version ${a.version}: another approver must decide`;
  if (actor === a.requestedBy) return 'you asked for it: another approver must decide';
  return undefined;
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge approval-${state}`}>{state}</span>;
}

function Decide({ a, onDone }: { a: Approval; onDone: () => void }) {
  const who = useWho();
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState<'approve' | 'reject' | undefined>();
  const [error, setError] = useState<ApiFailure | undefined>();
  const why = cannotDecide(who, a);
  if (why) return <p class="cannot-decide">{why}</p>;
  const decide = async (verb: 'approve' | 'reject') => {
    setBusy(verb);
    setError(undefined);
    try {
      await call<Approval>(
        'POST',
        `/api/approvals/${encodeURIComponent(a.id)}/${verb}`,
        comment.trim() === '' ? {} : { comment: comment.trim() },
      );
      onDone();
    } catch (err) {
      setError(failure(err));
      setBusy(undefined);
    }
  };
  const what = `${a.experiment} version ${a.version}`;
  return (
    <div class="decide">
      <label>
        Comment<span class="visually-hidden"> on {what}</span>
        <input
          type="text"
          value={comment}
          maxLength={2000}
          onInput={(e) => setComment((e.currentTarget as HTMLInputElement).value)}
          placeholder="conditions, or why not"
        />
      </label>
      <button type="button" onClick={() => decide('approve')} disabled={busy !== undefined}>
        {busy === 'approve' ? 'Approving…' : 'Approve'}
        <span class="visually-hidden"> {what}</span>
      </button>
      <button type="button" class="secondary" onClick={() => decide('reject')} disabled={busy !== undefined}>
        {busy === 'reject' ? 'Rejecting…' : 'Reject'}
        <span class="visually-hidden"> {what}</span>
      </button>
      {error && <Failure error={error} />}
    </div>
  );
}

const experimentLink = (a: Approval) => (
  <a href={href(['experiments', a.experiment])}>
    {a.experiment} v{a.version}
  </a>
);

function Pending({ list, onDone }: { list: Approval[]; onDone: () => void }) {
  if (list.length === 0)
    return (
      <Empty>
        <p>Nothing waits for an approver.</p>
      </Empty>
    );
  return (
    <table class="list approvals pending">
      <caption class="visually-hidden">Requests waiting for an approver, the longest waiting first</caption>
      <thead>
        <tr>
          <th scope="col">Experiment</th>
          <th scope="col">Asked by</th>
          <th scope="col">For</th>
          <th scope="col">Lasts</th>
          <th scope="col">Comment</th>
          <th scope="col">Decision</th>
        </tr>
      </thead>
      <tbody>
        {list.map((a) => (
          <tr key={a.id} data-approval={a.id}>
            <td data-label="Experiment">
              {experimentLink(a)}
              <div class="sub">written by {a.author}</div>
            </td>
            <td data-label="Asked by">
              {a.requestedBy}
              <div class="sub">
                <Time at={a.requestedAt} />
              </div>
            </td>
            <td data-label="For">{a.standing ? 'every run (standing)' : 'one run'}</td>
            <td data-label="Lasts">{lasting(a.expiresIn)} once approved</td>
            <td data-label="Comment">{a.comment ?? '—'}</td>
            <td data-label="Decision">
              <Decide a={a} onDone={onDone} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function History({ list }: { list: Approval[] }) {
  if (list.length === 0)
    return (
      <Empty>
        <p>No decision yet.</p>
      </Empty>
    );
  return (
    <table class="list approvals history">
      <caption class="visually-hidden">Decided approvals, the newest request first</caption>
      <thead>
        <tr>
          <th scope="col">Experiment</th>
          <th scope="col">State</th>
          <th scope="col">For</th>
          <th scope="col">Asked by</th>
          <th scope="col">Decided by</th>
          <th scope="col">Expires</th>
          <th scope="col">Comments</th>
        </tr>
      </thead>
      <tbody>
        {list.map((a) => (
          <tr key={a.id} data-approval={a.id}>
            <td data-label="Experiment">{experimentLink(a)}</td>
            <td data-label="State">
              <StateBadge state={a.state} />
              {a.state === 'used' && a.usedBy && <div class="sub">by a run {a.usedBy} started</div>}
            </td>
            <td data-label="For">{a.standing ? 'every run' : 'one run'}</td>
            <td data-label="Asked by">{a.requestedBy}</td>
            <td data-label="Decided by">
              {a.decidedBy ?? '—'}
              {a.decidedAt && (
                <div class="sub">
                  <Time at={a.decidedAt} />
                </div>
              )}
            </td>
            <td data-label="Expires">{a.expiresAt ? <Time at={a.expiresAt} /> : '—'}</td>
            <td data-label="Comments">
              {a.comment && <div>asked: {a.comment}</div>}
              {a.decisionComment && <div>decided: {a.decisionComment}</div>}
              {!a.comment && !a.decisionComment && '—'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ApprovalsPage({ query }: { query: URLSearchParams }) {
  const heading = useFocusOnMount<HTMLHeadingElement>('approvals');
  const state = STATES.find((s) => s === query.get('state'));
  const approvals = useLoad(
    `approvals-${state ?? 'all'}`,
    () => call<Approval[]>('GET', `/api/approvals${state ? `?state=${state}` : ''}`),
    { ms: POLL_MS, while: () => true },
  );
  const pending = approvals.data?.filter((a) => a.state === 'pending') ?? [];
  const decided = approvals.data?.filter((a) => a.state !== 'pending') ?? [];
  return (
    <section>
      <h1 ref={heading} tabIndex={-1}>
        Approvals
      </h1>
      <p class="intro">
        Experiments tagged for production run only with an approval of their version, from an approver who
        neither wrote it nor asked for it. Ask for one on the experiment's page.
      </p>
      <label class="state-filter">
        Show
        <select
          value={state ?? ''}
          onChange={(e) => {
            const v = (e.currentTarget as HTMLSelectElement).value;
            navigate(href(['approvals'], v === '' ? {} : { state: v }));
          }}
        >
          <option value="">waiting, then every decision</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s} only
            </option>
          ))}
        </select>
      </label>
      {approvals.state === 'loading' && <Loading what="approvals" />}
      {approvals.state === 'failed' && <Failure error={approvals.error} onRetry={approvals.reload} />}
      {approvals.data && (state === undefined || state === 'pending') && (
        <>
          <h2>Waiting for an approver</h2>
          <Pending list={pending} onDone={approvals.reload} />
        </>
      )}
      {approvals.data && state !== 'pending' && (
        <>
          <h2>{state ? `${state[0]?.toUpperCase()}${state.slice(1)}` : 'Decided'}</h2>
          <History list={decided} />
        </>
      )}
    </section>
  );
}
