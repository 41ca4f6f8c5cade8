/**
 * The audit log, newest first: who uploaded, started, aborted or pushed what, and when. Older entries
 * are read a page at a time (`before` the oldest one shown).
 */
import { api } from '../api.js';
import { href } from '../route.js';
import { Empty, Failure, Loading, Time, useFocusOnMount, useLoad } from '../ui.js';

const PAGE = 50;

function Subject({ action, subject }: { action: string; subject: string | undefined }) {
  if (!subject) return <span class="muted">—</span>;
  if (action.startsWith('run.')) return <a href={href(['runs', subject])}>{subject}</a>;
  if (action.startsWith('experiment.')) return <a href={href(['experiments', subject])}>{subject}</a>;
  return <code>{subject}</code>;
}

export function AuditPage({ query }: { query: URLSearchParams }) {
  const heading = useFocusOnMount<HTMLHeadingElement>('audit');
  const before = query.get('before') ?? undefined;
  const beforeId = before && /^\d{1,15}$/.test(before) ? Number(before) : undefined;
  const entries = useLoad(`audit-${beforeId ?? ''}`, () => api.audit(beforeId, PAGE));
  const oldest = entries.data?.[entries.data.length - 1]?.id;
  return (
    <section>
      <h1 ref={heading} tabIndex={-1}>
        Audit log
      </h1>
      <p class="muted">
        Every change made through the server, newest first. Nothing here is ever edited or removed.
      </p>
      {entries.state === 'loading' && <Loading what="the audit log" />}
      {entries.state === 'failed' && <Failure error={entries.error} onRetry={entries.reload} />}
      {entries.data && entries.data.length === 0 && (
        <Empty>
          <p>{beforeId ? 'No older entries.' : 'Nothing has been done through the server yet.'}</p>
        </Empty>
      )}
      {entries.data && entries.data.length > 0 && (
        <table class="list audit">
          <caption class="visually-hidden">Audit entries, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
              <th scope="col">Subject</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {entries.data.map((e) => (
              <tr key={e.id}>
                <td data-label="When">
                  <Time at={e.at} />
                </td>
                <td data-label="Who">{e.actor}</td>
                <td data-label="What">
                  <code>{e.action}</code>
                </td>
                <td data-label="Subject">
                  <Subject action={e.action} subject={e.subject} />
                </td>
                <td data-label="Detail">
                  {e.detail ? (
                    <code class="detail">
                      {Object.entries(e.detail)
                        .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
                        .join(', ')}
                    </code>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages of the audit log">
        {beforeId !== undefined && (
          <a class="button secondary" href="#/audit">
            Newest
          </a>
        )}
        {entries.data && entries.data.length === PAGE && oldest !== undefined && (
          <a class="button secondary" href={href(['audit'], { before: String(oldest) })}>
            Older
          </a>
        )}
      </nav>
    </section>
  );
}
