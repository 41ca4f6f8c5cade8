/**
 * The emergency stop in the page's header: for whoever may raise it (operator and above) a button that
 * asks once, with a reason everyone will read, then `POST /api/halt` (every run interrupted, every fault
 * Faultline injected reverted, every server and agent told). While it is raised everybody sees a banner
 * saying who raised it, when and why, from the server-wide stream; an approver may release it there.
 */
import { useRef, useState } from 'preact/hooks';
import { ApiFailure, api, can, failure, type HaltResult, type Who } from './api.js';
import { haltChanged, useHalt } from './live.js';
import { Failure, Time } from './ui.js';

export function EmergencyStop({ who }: { who: Who }) {
  const { halt } = useHalt();
  const dialog = useRef<HTMLDialogElement>(null);
  const reasonField = useRef<HTMLInputElement>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  if (!can(who, 'halt')) return null;
  const open = () => {
    setError(undefined);
    dialog.current?.showModal();
    reasonField.current?.focus();
  };
  const confirm = async (e: Event) => {
    e.preventDefault();
    if (reason.trim() === '') {
      setError(
        new ApiFailure(400, 'bad_request', 'reason: say why everything is being stopped (1-500 characters)'),
      );
      reasonField.current?.focus();
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const result: HaltResult = await api.raiseHalt(reason.trim());
      haltChanged(result);
      setReason('');
      dialog.current?.close();
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" class="danger stop" onClick={open} aria-haspopup="dialog">
        {halt?.halted ? 'Emergency stop (raised)' : 'Emergency stop'}
      </button>
      <dialog ref={dialog} aria-labelledby="halt-title" class="halt-dialog">
        <form onSubmit={confirm}>
          <h2 id="halt-title">Stop everything?</h2>
          <p>
            Every run on every server is interrupted, every fault Faultline has injected (runs, agents, the
            CLI's on this host) is reverted, and no run starts until an approver releases the stop.
          </p>
          <label>
            Reason (everyone sees it)
            {/* One line, so Enter confirms (and Escape, the dialog's own, cancels). */}
            <input
              ref={reasonField}
              type="text"
              name="reason"
              maxLength={500}
              autoComplete="off"
              value={reason}
              onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)}
            />
          </label>
          {error && <Failure error={error} />}
          <div class="actions">
            <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
              Cancel
            </button>
            <button type="submit" class="danger" disabled={busy}>
              {busy ? 'Stopping…' : 'Stop everything'}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}

/** For everyone while the stop is raised; Release for approvers. */
export function HaltBanner({ who }: { who: Who }) {
  const { halt } = useHalt();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  if (!halt?.halted) return null;
  const release = async () => {
    setBusy(true);
    setError(undefined);
    try {
      haltChanged(await api.releaseHalt());
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="halt-banner" role="alert">
      <p>
        <strong>Emergency stop raised</strong> by <strong>{halt.by ?? 'someone'}</strong>
        {halt.since && (
          <>
            {' '}
            at <Time at={halt.since} />
          </>
        )}
        {halt.reason && <>: “{halt.reason}”</>}. No run starts until it is released.
      </p>
      {can(who, 'halt.release') && (
        <button type="button" class="secondary" onClick={release} disabled={busy}>
          {busy ? 'Releasing…' : 'Release the stop'}
        </button>
      )}
      {error && <Failure error={error} />}
    </div>
  );
}

/** Whether a start should be offered now, and why not. */
export function useStartBlocked(): string | undefined {
  const { halt } = useHalt();
  return halt?.halted ? `the emergency stop is raised (by ${halt.by ?? 'someone'})` : undefined;
}
