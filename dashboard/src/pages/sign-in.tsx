/**
 * The sign-in page: shown in place of whatever page the URL names whenever the API answers 401, so
 * signing in returns to that page (the URL never changed). A wrong name or password, or too many
 * attempts, is the server's own sentence; the password field is emptied and focused to try again.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, session } from '../api.js';

export function SignInPage({ ended }: { ended: boolean }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  const nameRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    nameRef.current?.focus();
  }, []);

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      // On success the app replaces this page with the one the URL names.
      await session.signIn(name, password);
    } catch (err) {
      setError(err instanceof ApiFailure ? err : new ApiFailure(0, 'client', String(err)));
      setPassword('');
      setBusy(false);
      passwordRef.current?.focus();
    }
  };

  return (
    <section class="sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      {ended && (
        <p class="state empty" role="status">
          Your session has ended (signed out, expired, or your user was changed). Sign in again to go on where
          you were.
        </p>
      )}
      <form class="sign-in" onSubmit={onSubmit}>
        <label>
          Name
          <input
            ref={nameRef}
            type="text"
            name="username"
            value={name}
            onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
            autoComplete="username"
            autoCapitalize="none"
            spellcheck={false}
            required
          />
        </label>
        <label>
          Password
          <input
            ref={passwordRef}
            type="password"
            name="password"
            value={password}
            onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)}
            autoComplete="current-password"
            required
          />
        </label>
        <div class="actions">
          <button type="submit" aria-disabled={busy ? 'true' : undefined}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
        {error && (
          <div class="state failure" role="alert">
            <p>
              <strong>Not signed in.</strong> {error.message}
            </p>
          </div>
        )}
      </form>
      <p class="hint">
        An admin adds people with <code>faultline serve user add NAME --role ROLE</code>.
      </p>
    </section>
  );
}
