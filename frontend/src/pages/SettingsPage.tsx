import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import {
  usersCreateTokenMutation,
  usersDeleteGeminiKeyMutation,
  usersDeleteTokenMutation,
  usersGetMeOptions,
  usersGetMeQueryKey,
  usersListTokensOptions,
  usersListTokensQueryKey,
  usersPutGeminiKeyMutation,
  usersTestGeminiKeyMutation,
  usersUpdateMeMutation,
} from '../client/@tanstack/react-query.gen';
import { usersUpdateMe } from '../client/sdk.gen';
import type { GeminiKeySaved } from '../client/types.gen';
import { AIProvider } from '../components/AIProvider';
import { ErrorNotice, ShownOnce } from '../components/Notice';
import { TimeAgo } from '../components/TimeAgo';
import { Webhooks } from '../components/Webhooks';
import { signIn } from '../lib/auth';
import { type Theme, useTheme } from '../lib/theme';

type KeyMessage = { tone: 'ok' | 'info' | 'error'; text: string };

/** What storing a key did: Google's verdict, then the pass over the pages saved before it. */
export function keySavedMessage(saved: GeminiKeySaved): KeyMessage {
  const n = saved.analysing;
  const next =
    n > 0
      ? ` Analysing your ${n} saved ${n === 1 ? 'page' : 'pages'}…`
      : ' New pages are analysed as you save them.';
  if (saved.key_check.state === 'ok') return { tone: 'ok', text: `Key checked with Google: it works.${next}` };
  // Stored unchecked (Google unreachable, slow or rate-limited): the server says why.
  return { tone: 'info', text: `${saved.key_check.message}${next}` };
}

function Saved({ show }: { show: boolean }) {
  return show ? (
    <span className="ok" role="status">
      Saved
    </span>
  ) : null;
}

export function SettingsPage() {
  const qc = useQueryClient();
  const me = useQuery(usersGetMeOptions());
  const tokens = useQuery(usersListTokensOptions());
  const [theme, setTheme] = useTheme();
  const [newToken, setNewToken] = useState<string | null>(null);
  const [keyMessage, setKeyMessage] = useState<KeyMessage | null>(null);
  const refreshMe = () => qc.invalidateQueries({ queryKey: usersGetMeQueryKey() });

  const profile = useMutation({ ...usersUpdateMeMutation(), onSuccess: refreshMe });
  const password = useMutation({
    mutationFn: async (v: { username: string; current: string; next: string }) => {
      await usersUpdateMe({ body: { current_password: v.current, new_password: v.next }, throwOnError: true });
      // A new password signs every session out, this one included: sign in again with it.
      await signIn(v.username, v.next);
    },
  });
  const putKey = useMutation({
    ...usersPutGeminiKeyMutation(),
    onSuccess: (saved) => {
      setKeyMessage(keySavedMessage(saved));
      return refreshMe();
    },
  });
  const testKey = useMutation({
    ...usersTestGeminiKeyMutation(),
    onSuccess: (r) => setKeyMessage({ tone: r.valid ? 'ok' : 'error', text: r.message }),
  });
  const delKey = useMutation({ ...usersDeleteGeminiKeyMutation(), onSuccess: refreshMe });
  const createToken = useMutation({
    ...usersCreateTokenMutation(),
    onSuccess: (t) => {
      setNewToken(t.token);
      void qc.invalidateQueries({ queryKey: usersListTokensQueryKey() });
    },
  });
  const delToken = useMutation({
    ...usersDeleteTokenMutation(),
    onSuccess: () => qc.invalidateQueries({ queryKey: usersListTokensQueryKey() }),
  });

  if (!me.data) return me.error ? <ErrorNotice error={me.error} /> : <p className="muted">Loading…</p>;
  const user = me.data;

  function submitProfile(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const email = String(f.get('email')).trim();
    const changed = email !== user.email;
    profile.mutate({
      body: {
        display_name: String(f.get('display_name')).trim() || null,
        ...(changed ? { email, current_password: String(f.get('profile_password')) } : {}),
      },
    });
  }
  function submitPassword(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    password.mutate(
      { username: user.username, current: String(f.get('current_password')), next: String(f.get('new_password')) },
      { onSuccess: () => form.reset() },
    );
  }
  function submitKey(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const key = String(new FormData(form).get('api_key')).trim();
    setKeyMessage(null);
    testKey.reset();
    putKey.mutate({ body: { api_key: key } }, { onSuccess: () => form.reset() });
  }
  function submitToken(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const days = Number(f.get('expires_in_days'));
    const scope = String(f.get('scope')) as 'read' | 'write' | 'full';
    createToken.mutate({ body: { name: String(f.get('name')).trim(), expires_in_days: days > 0 ? days : null, scope } }, { onSuccess: () => form.reset() });
  }

  return (
    <section className="page settings" aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>

      <form className="card stack" onSubmit={submitProfile} aria-labelledby="profile-title">
        <h2 id="profile-title">Profile</h2>
        <p className="muted small">
          Signed in as <strong>{user.username}</strong> since {new Date(user.created_at).toLocaleDateString()}.
        </p>
        <label>
          Display name
          <input name="display_name" defaultValue={user.display_name ?? ''} maxLength={100} />
        </label>
        <label>
          Email
          <input name="email" type="email" defaultValue={user.email} required />
        </label>
        <label>
          <span>
            Current password <span className="muted small">(only to change your email)</span>
          </span>
          <input name="profile_password" type="password" autoComplete="current-password" />
        </label>
        <div className="actions">
          <button type="submit" className="primary" disabled={profile.isPending}>
            Save profile
          </button>
          <Saved show={profile.isSuccess} />
        </div>
        <ErrorNotice error={profile.error} />
      </form>

      <form className="card stack" onSubmit={submitPassword} aria-labelledby="password-title">
        <h2 id="password-title">Password</h2>
        <p className="muted small">Changing it signs you out everywhere else; personal API tokens keep working.</p>
        <label>
          Current password
          <input name="current_password" type="password" autoComplete="current-password" required />
        </label>
        <label>
          New password
          <input name="new_password" type="password" autoComplete="new-password" required minLength={8} />
        </label>
        <div className="actions">
          <button type="submit" className="primary" disabled={password.isPending}>
            Change password
          </button>
          <Saved show={password.isSuccess} />
        </div>
        <ErrorNotice error={password.error} />
      </form>

      <section className="card stack" aria-labelledby="gemini-title">
        <h2 id="gemini-title">Gemini API key</h2>
        <p className="muted small">
          Your own key powers summaries, tags and project breakdowns. It is stored encrypted and never shown again.
        </p>
        <p>
          {user.has_gemini_key ? (
            <>
              A key ending in <code>…{user.gemini_key_last4}</code> is set.
            </>
          ) : (
            'No key set: everything works, without AI analysis.'
          )}
        </p>
        <form className="inline" onSubmit={submitKey}>
          <label className="grow">
            <span className="visually-hidden">Gemini API key</span>
            <input name="api_key" type="password" autoComplete="off" placeholder={user.has_gemini_key ? 'Replace the key' : 'Paste your key'} required />
          </label>
          <button type="submit" disabled={putKey.isPending}>
            {putKey.isPending ? 'Checking with Google…' : user.has_gemini_key ? 'Replace key' : 'Set key'}
          </button>
        </form>
        {user.has_gemini_key ? (
          <div className="actions">
            <button type="button" onClick={() => { setKeyMessage(null); putKey.reset(); testKey.mutate({}); }} disabled={testKey.isPending}>
              {testKey.isPending ? 'Testing…' : 'Test key'}
            </button>
            <button type="button" className="danger" onClick={() => delKey.mutate({})} disabled={delKey.isPending}>
              Remove key
            </button>
          </div>
        ) : null}
        {keyMessage ? (
          <div className={`notice notice-${keyMessage.tone}`} role="status" data-testid="key-message">
            {keyMessage.tone === 'ok' ? '✓ ' : ''}
            {keyMessage.text}
          </div>
        ) : null}
        <ErrorNotice error={putKey.error || testKey.error || delKey.error} />
      </section>

      {me.data ? <AIProvider me={me.data} /> : null}

      <section className="card stack" aria-labelledby="tokens-title">
        <h2 id="tokens-title">API tokens</h2>
        <p className="muted small">
          For the browser extension, scripts, assistants (MCP) and other apps. Send it as <code>Authorization: Bearer …</code>. <em>Read only</em> looks
          and changes nothing; <em>Read and write</em> saves and changes but never deletes; <em>Full</em> can do everything, your account's settings
          included.
        </p>
        <form className="inline" onSubmit={submitToken}>
          <label className="grow">
            Name
            <input name="name" required maxLength={100} placeholder="e.g. Laptop extension" />
          </label>
          <label>
            Access
            <select name="scope" defaultValue="full">
              <option value="read">Read only</option>
              <option value="write">Read and write</option>
              <option value="full">Full</option>
            </select>
          </label>
          <label>
            Expires in (days)
            <input name="expires_in_days" type="number" min={1} max={3650} placeholder="never" />
          </label>
          <button type="submit" disabled={createToken.isPending}>
            Create token
          </button>
        </form>
        {newToken ? <ShownOnce what="token" value={newToken} testId="new-token" /> : null}
        <ErrorNotice error={createToken.error || delToken.error || tokens.error} />
        {tokens.data?.length ? (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Token</th>
                <th scope="col">Access</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td>
                    <code>{t.prefix}…</code>
                  </td>
                  <td>{{ read: 'read only', write: 'read and write', full: 'full' }[t.scope]}</td>
                  <td>{t.last_used_at ? <TimeAgo iso={t.last_used_at} /> : 'never'}</td>
                  <td>{t.expires_at ? new Date(t.expires_at).toLocaleDateString() : 'never'}</td>
                  <td>
                    <button type="button" className="small danger" onClick={() => delToken.mutate({ path: { token_id: t.id } })} aria-label={`Revoke token ${t.name}`}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="muted small">No tokens yet.</p>
        )}
      </section>

      <Webhooks />

      <section className="card stack" aria-labelledby="assistants-title">
        <h2 id="assistants-title">Assistants (MCP)</h2>
        <p className="muted small">
          Claude Desktop and other assistants can search what you saved and ask which items help a project. Give them a token from above (read only
          is enough to search and get recommendations) and this server's MCP address:
        </p>
        <p>
          <code data-testid="mcp-url">{`${window.location.origin}/mcp`}</code>
        </p>
        <details className="small">
          <summary>An assistant that starts a command (stdio)</summary>
          <pre className="config">{JSON.stringify(
            { mcpServers: { fuze: { command: 'fuze', args: ['mcp'], env: { FUZE_SERVER: window.location.origin, FUZE_TOKEN: 'fza_…' } } } },
            null,
            2,
          )}</pre>
        </details>
      </section>

      <section className="card stack" aria-labelledby="appearance-title">
        <h2 id="appearance-title">Appearance</h2>
        <fieldset className="segmented">
          <legend className="visually-hidden">Theme</legend>
          {(['system', 'light', 'dark'] as Theme[]).map((t) => (
            <label key={t} className={t === theme ? 'on' : ''}>
              <input type="radio" name="theme" value={t} checked={t === theme} onChange={() => setTheme(t)} />
              {t[0].toUpperCase() + t.slice(1)}
            </label>
          ))}
        </fieldset>
      </section>
    </section>
  );
}
