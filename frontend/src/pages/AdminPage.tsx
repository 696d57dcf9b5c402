import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import {
  adminCreateInviteMutation,
  adminGetOverviewOptions,
  adminGetOverviewQueryKey,
  adminListInvitesOptions,
  adminListInvitesQueryKey,
  adminListUsersOptions,
  adminListUsersQueryKey,
  adminRevokeInviteMutation,
  adminUpdateUserMutation,
  usersGetMeOptions,
} from '../client/@tanstack/react-query.gen';
import type { AdminUserOut } from '../client/types.gen';
import { ErrorNotice, ShownOnce } from '../components/Notice';
import { TimeAgo } from '../components/TimeAgo';
import { formatBytes } from '../lib/format';

const SIGNUP: Record<string, string> = {
  open: 'Open: anyone can create an account.',
  invite: 'By invitation: sign-up needs an invite code.',
  closed: 'Closed: only administrators create accounts.',
};

function Overview() {
  const overview = useQuery(adminGetOverviewOptions());
  if (!overview.data) return overview.error ? <ErrorNotice error={overview.error} /> : <p className="muted">Loading…</p>;
  const o = overview.data;
  return (
    <section className="card stack" aria-labelledby="overview-title">
      <h2 id="overview-title">Server</h2>
      <p>{SIGNUP[o.signup]}</p>
      <dl className="admin-figures">
        <div>
          <dt>Accounts</dt>
          <dd>
            {o.users} ({o.admins} admin{o.admins === 1 ? '' : 's'}, {o.disabled_users} disabled)
          </dd>
        </div>
        <div>
          <dt>Saved pages</dt>
          <dd>
            {o.bookmarks} ({o.bookmarks_in_progress} in progress, {o.failed_bookmarks} failed)
          </dd>
        </div>
        <div>
          <dt>Database</dt>
          <dd>{formatBytes(o.database_bytes)}</dd>
        </div>
        <div>
          <dt>Bookmark limit per user</dt>
          <dd>{o.default_bookmark_quota || 'none'}</dd>
        </div>
        {o.queues.map((q) => (
          <div key={q.name}>
            <dt>Queue: {q.name}</dt>
            <dd>
              {q.ready} waiting{q.deferred ? `, ${q.deferred} retrying later` : ''}
            </dd>
          </div>
        ))}
        <div>
          <dt>Workers</dt>
          <dd>
            {o.workers_alive ?? 'unknown'} alive, {o.jobs_in_progress ?? 'unknown'} job(s) running
          </dd>
        </div>
      </dl>
    </section>
  );
}

function Users({ meId }: { meId: string }) {
  const qc = useQueryClient();
  const [q, setQ] = useState('');
  const users = useQuery(adminListUsersOptions({ query: { q: q || undefined, limit: 200 } }));
  const update = useMutation({
    ...adminUpdateUserMutation(),
    // Without the search text: every list of accounts, whatever it was searched for.
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: adminListUsersQueryKey() });
      void qc.invalidateQueries({ queryKey: adminGetOverviewQueryKey() });
    },
  });
  const set = (u: AdminUserOut, body: { disabled?: boolean; is_admin?: boolean }) =>
    update.mutate({ path: { user_id: u.id }, body });

  return (
    <section className="card stack" aria-labelledby="users-title">
      <h2 id="users-title">Accounts</h2>
      <label>
        <span className="visually-hidden">Find an account</span>
        <input type="search" placeholder="Find by username or email" value={q} onChange={(e) => setQ(e.target.value)} />
      </label>
      <ErrorNotice error={users.error || update.error} />
      {users.data ? (
        <table className="table stack" aria-label="Accounts">
          <thead>
            <tr>
              <th scope="col">Account</th>
              <th scope="col">Saved</th>
              <th scope="col">Storage</th>
              <th scope="col">Last seen</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.data.items.map((u) => (
              <tr key={u.id}>
                <td>
                  <strong>{u.username}</strong>
                  {u.is_admin ? <span className="badge badge-pending">admin</span> : null}
                  <div className="muted small">{u.email}</div>
                </td>
                <td data-label="Saved">
                  {u.bookmarks}
                  {u.failed_bookmarks ? <span className="muted small"> ({u.failed_bookmarks} failed)</span> : null}
                </td>
                <td data-label="Storage">{formatBytes(u.storage_bytes)}</td>
                <td data-label="Last seen">{u.last_seen_at ? <TimeAgo iso={u.last_seen_at} /> : 'never'}</td>
                <td data-label="Status">{u.disabled_at ? 'Disabled' : 'Active'}</td>
                <td>
                  <div className="actions">
                    {u.id === meId ? null : u.disabled_at ? (
                      <button type="button" className="small" onClick={() => set(u, { disabled: false })} aria-label={`Enable ${u.username}`}>
                        Enable
                      </button>
                    ) : (
                      <button
                        type="button"
                        className="small danger"
                        onClick={() => {
                          if (window.confirm(`Disable ${u.username}? Every session and API token of theirs stops at once.`)) set(u, { disabled: true });
                        }}
                        aria-label={`Disable ${u.username}`}
                      >
                        Disable
                      </button>
                    )}
                    {u.id === meId ? null : (
                      <button type="button" className="small" onClick={() => set(u, { is_admin: !u.is_admin })} aria-label={`${u.is_admin ? 'Remove admin from' : 'Make admin'} ${u.username}`}>
                        {u.is_admin ? 'Remove admin' : 'Make admin'}
                      </button>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {users.data && users.data.total > users.data.items.length ? (
        <p className="muted small">
          Showing {users.data.items.length} of {users.data.total}; search to find the others.
        </p>
      ) : null}
    </section>
  );
}

function Invites() {
  const qc = useQueryClient();
  const invites = useQuery(adminListInvitesOptions());
  const [code, setCode] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: adminListInvitesQueryKey() });
  const create = useMutation({
    ...adminCreateInviteMutation(),
    onSuccess: (i) => {
      setCode(i.code);
      void refresh();
    },
  });
  const revoke = useMutation({ ...adminRevokeInviteMutation(), onSuccess: refresh });

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const days = Number(f.get('expires_in_days'));
    create.mutate(
      {
        body: {
          max_uses: Math.max(1, Number(f.get('max_uses')) || 1),
          expires_in_days: days > 0 ? days : null,
          note: String(f.get('note')).trim() || null,
        },
      },
      { onSuccess: () => form.reset() },
    );
  }

  return (
    <section className="card stack" aria-labelledby="invites-title">
      <h2 id="invites-title">Invite codes</h2>
      <form className="inline" onSubmit={submit}>
        <label className="grow">
          Note
          <input name="note" maxLength={200} placeholder="e.g. for Sam" />
        </label>
        <label>
          Uses
          <input name="max_uses" type="number" min={1} max={10000} defaultValue={1} />
        </label>
        <label>
          Expires in (days)
          <input name="expires_in_days" type="number" min={1} max={3650} defaultValue={7} />
        </label>
        <button type="submit" disabled={create.isPending}>
          Create invite
        </button>
      </form>
      {code ? <ShownOnce what="code" value={code} testId="new-invite" /> : null}
      <ErrorNotice error={create.error || revoke.error || invites.error} />
      {invites.data?.length ? (
        <table className="table stack" aria-label="Invite codes">
          <thead>
            <tr>
              <th scope="col">Code</th>
              <th scope="col">Note</th>
              <th scope="col">Used</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {invites.data.map((i) => (
              <tr key={i.id}>
                <td>
                  <code>{i.prefix}…</code>
                </td>
                <td data-label="Note">{i.note ?? ''}</td>
                <td data-label="Used">
                  {i.uses} of {i.max_uses}
                </td>
                <td data-label="Expires">{i.expires_at ? new Date(i.expires_at).toLocaleDateString() : 'never'}</td>
                <td data-label="State">{i.state}</td>
                <td>
                  {i.state === 'active' ? (
                    <button type="button" className="small danger" onClick={() => revoke.mutate({ path: { invite_id: i.id } })} aria-label={`Revoke invite ${i.prefix}`}>
                      Revoke
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted small">No invite codes yet.</p>
      )}
    </section>
  );
}

export function AdminPage() {
  const me = useQuery(usersGetMeOptions());
  if (!me.data) return me.error ? <ErrorNotice error={me.error} /> : <p className="muted">Loading…</p>;
  if (!me.data.is_admin) return <p role="alert">Only administrators can see this page.</p>;
  return (
    <section className="page settings" aria-labelledby="admin-title">
      <h1 id="admin-title">Administration</h1>
      <Overview />
      <Users meId={me.data.id} />
      <Invites />
    </section>
  );
}
