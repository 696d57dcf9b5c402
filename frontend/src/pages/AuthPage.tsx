import { type FormEvent, useEffect, useState } from 'react';
import { Link, useLocation, useNavigate } from 'react-router';

import { authConfig } from '../client/sdk.gen';
import type { AuthConfig } from '../client/types.gen';
import { ErrorNotice, InfoNotice } from '../components/Notice';
import { ApiError } from '../lib/api';
import { signIn, signUp } from '../lib/auth';
import { returnTo, type SignInState } from '../lib/returnTo';

/** The form field a 422 from the server is about ("email", "username"...), if it names one. */
function invalidField(error: unknown): string | null {
  if (!(error instanceof ApiError) || error.status !== 422 || !Array.isArray(error.details)) return null;
  const loc = (error.details[0] as { loc?: unknown[] } | undefined)?.loc;
  return Array.isArray(loc) && loc[0] === 'body' && typeof loc[1] === 'string' ? loc[1] : null;
}

export function AuthPage({ mode }: { mode: 'signin' | 'signup' }) {
  const navigate = useNavigate();
  const state = useLocation().state as SignInState | null;
  const expired = Boolean(state?.expired);
  // Kept when switching between sign-in and sign-up, so either returns to the page that asked.
  const from: SignInState = { from: state?.from };
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const signup = mode === 'signup';
  // The server's sign-up policy; its first account can always be made (its administrator).
  // Read here rather than through the query cache, which the app empties while signed out.
  const [config, setConfig] = useState<AuthConfig | null>(null);
  useEffect(() => {
    if (!signup) return;
    let live = true;
    authConfig().then(({ data }) => {
      if (live && data) setConfig(data);
    }, () => undefined);
    return () => {
      live = false;
    };
  }, [signup]);
  const policy = config && !config.first_account ? config.signup : 'open';
  // The server's sentence is shown above the form and tied to the field it is about.
  const badField = invalidField(error);
  const fieldError = (name: string) =>
    badField === name ? { 'aria-invalid': true, 'aria-describedby': 'auth-error' } : {};

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      if (signup) {
        const invite = String(form.get('invite_code') ?? '').trim();
        await signUp(String(form.get('username')), String(form.get('email')), String(form.get('password')), invite || undefined);
      } else {
        await signIn(String(form.get('login')), String(form.get('password')));
      }
      navigate(returnTo(state), { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth-page">
      <form className="card auth-card" onSubmit={submit} aria-labelledby="auth-title">
        <div className="brand auth-brand">
          <span className="brand-mark" aria-hidden="true">◆</span> Fuze
        </div>
        <h1 id="auth-title">{signup ? 'Create your account' : 'Sign in'}</h1>
        {expired && !error ? <InfoNotice>Your session has ended. Sign in again.</InfoNotice> : null}
        <div id="auth-error">
          <ErrorNotice error={error} />
        </div>
        {signup && config?.first_account ? (
          <InfoNotice>This is the server’s first account: it will be the administrator.</InfoNotice>
        ) : null}
        {signup && policy === 'closed' ? (
          <InfoNotice>Sign-up is closed on this server: ask an administrator to create your account.</InfoNotice>
        ) : null}
        {signup ? (
          <>
            <label>
              Username
              <input name="username" autoComplete="username" required minLength={3} maxLength={32} {...fieldError('username')} />
            </label>
            <label>
              Email
              <input name="email" type="email" autoComplete="email" required {...fieldError('email')} />
            </label>
            {policy === 'invite' ? (
              <label>
                Invite code
                <input name="invite_code" autoComplete="off" required maxLength={100} />
              </label>
            ) : null}
          </>
        ) : (
          <label>
            Username or email
            <input name="login" autoComplete="username" required />
          </label>
        )}
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete={signup ? 'new-password' : 'current-password'}
            required
            minLength={signup ? 8 : 1}
          />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Please wait…' : signup ? 'Create account' : 'Sign in'}
        </button>
        <p className="muted">
          {signup ? (
            <>
              Already have an account? <Link to="/signin" state={from}>
                Sign in
              </Link>
            </>
          ) : (
            <>
              New here? <Link to="/signup" state={from}>
                Create an account
              </Link>
            </>
          )}
        </p>
      </form>
    </main>
  );
}
