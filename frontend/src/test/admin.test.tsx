import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import type { AdminUserOut, InviteOut } from '../client/types.gen';
import { setTokens } from '../lib/session';
import { apiError, json, ME, mockApi, renderApp, signedIn } from './helpers';

const ADMIN = { ...ME, id: 'u-admin', is_admin: true };
const now = new Date().toISOString();

function account(over: Partial<AdminUserOut>): AdminUserOut {
  return {
    id: 'u-x',
    username: 'x',
    email: 'x@example.com',
    display_name: null,
    created_at: now,
    is_admin: false,
    disabled_at: null,
    bookmarks: 0,
    failed_bookmarks: 0,
    storage_bytes: 0,
    last_seen_at: null,
    bookmark_quota: null,
    archive_quota_bytes: null,
    ...over,
  };
}

const OVERVIEW = {
  signup: 'invite',
  default_bookmark_quota: 0,
  default_archive_quota_bytes: 0,
  users: 2,
  admins: 1,
  disabled_users: 0,
  bookmarks: 12,
  bookmarks_in_progress: 3,
  failed_bookmarks: 1,
  database_bytes: 5 * 1024 * 1024,
  queues: [
    { name: 'pipeline', ready: 3, deferred: 1 },
    { name: 'imports', ready: 0, deferred: 0 },
  ],
  jobs_in_progress: 2,
  workers_alive: 1,
};

function invite(over: Partial<InviteOut>): InviteOut {
  return { id: 'i1', prefix: 'fzi_abcdef', note: null, max_uses: 1, uses: 0, created_at: now, expires_at: null, revoked_at: null, state: 'active', ...over };
}

describe('the admin page', () => {
  it('is linked only for administrators', async () => {
    signedIn();
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/bookmarks': () => json({ items: [], next_cursor: null }),
    });
    renderApp('/');
    await screen.findByText(/Nothing saved yet/);
    expect(screen.queryByRole('link', { name: 'Administration' })).toBeNull();
  });

  it('shows accounts, storage and queues; disables an account; creates and revokes invites', async () => {
    signedIn();
    let users = [
      account({ id: ADMIN.id, username: 'ada', is_admin: true, bookmarks: 2, storage_bytes: 2048, last_seen_at: now }),
      account({ id: 'u-bob', username: 'bob', bookmarks: 10, failed_bookmarks: 1, storage_bytes: 3 * 1024 * 1024 }),
    ];
    let invites = [invite({ id: 'i-old', prefix: 'fzi_oldone', uses: 1, state: 'used' })];
    const { calls } = mockApi({
      'GET /api/users/me': () => json(ADMIN),
      'GET /api/admin/overview': () => json(OVERVIEW),
      'GET /api/admin/users': () => json({ items: users, total: users.length }),
      'PATCH /api/admin/users/:id': async (req) => {
        const body = await req.json();
        users = users.map((u) => (u.id === 'u-bob' ? { ...u, disabled_at: body.disabled ? now : null } : u));
        return json(users[1]);
      },
      'GET /api/admin/invites': () => json(invites),
      'POST /api/admin/invites': () => {
        const made = invite({ id: 'i-new', prefix: 'fzi_newone' });
        invites = [made, ...invites];
        return json({ ...made, code: 'fzi_newone-secret' }, 201);
      },
      'DELETE /api/admin/invites/:id': () => {
        invites = invites.map((i) => (i.id === 'i-new' ? { ...i, state: 'revoked' as const, revoked_at: now } : i));
        return new Response(null, { status: 204 });
      },
      'GET /api/bookmarks': () => json({ items: [], next_cursor: null }),
    });
    window.confirm = vi.fn(() => true);
    renderApp('/admin');
    const user = userEvent.setup();

    expect(await screen.findByText('By invitation: sign-up needs an invite code.')).toBeInTheDocument();
    expect(screen.getByText('3 waiting, 1 retrying later')).toBeInTheDocument();
    expect(screen.getByText('5.0 MB')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Administration' })).toBeInTheDocument();

    const table = await screen.findByRole('table', { name: 'Accounts' });
    const bobRow = within(table).getByText('bob').closest('tr')!;
    expect(within(bobRow).getByText('3.0 MB')).toBeInTheDocument();
    // No buttons to lock yourself out.
    expect(screen.queryByRole('button', { name: 'Disable ada' })).toBeNull();
    await user.click(within(bobRow).getByRole('button', { name: 'Disable bob' }));
    expect(await within(table).findByRole('button', { name: 'Enable bob' })).toBeInTheDocument();
    const patch = calls.find((c) => c.method === 'PATCH')!;
    expect(patch.path).toBe('/api/admin/users/u-bob');
    expect(JSON.parse(patch.body)).toEqual({ disabled: true });

    await user.type(screen.getByLabelText('Note'), 'for sam');
    await user.click(screen.getByRole('button', { name: 'Create invite' }));
    expect(await screen.findByTestId('new-invite')).toHaveTextContent('fzi_newone-secret');
    const post = calls.find((c) => c.method === 'POST' && c.path === '/api/admin/invites')!;
    expect(JSON.parse(post.body)).toEqual({ max_uses: 1, expires_in_days: 7, note: 'for sam' });
    await user.click(await screen.findByRole('button', { name: 'Revoke invite fzi_newone' }));
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Revoke invite fzi_newone' })).toBeNull());
    expect(within(screen.getByRole('table', { name: 'Invite codes' })).getAllByText('revoked')).toHaveLength(1);
  });

  it('tells a non-administrator the page is not for them', async () => {
    signedIn();
    mockApi({ 'GET /api/users/me': () => json(ME), 'GET /api/admin/overview': () => apiError(403, 'admin_only', 'Only an administrator may do this.') });
    renderApp('/admin');
    expect(await screen.findByText('Only administrators can see this page.')).toBeInTheDocument();
  });
});

describe('signing up under the server’s policy', () => {
  beforeEach(() => setTokens(null));

  it('asks for an invite code when sign-up is by invitation, and sends it', async () => {
    const { calls } = mockApi({
      'GET /api/auth/config': () => json({ signup: 'invite', first_account: false }),
      'POST /api/auth/register': () => apiError(403, 'invalid_invite', 'This invite code is not valid: wrong, expired, revoked or used up.'),
    });
    renderApp('/signup');
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('Invite code'), 'fzi_code');
    await user.type(screen.getByLabelText('Username'), 'sam');
    await user.type(screen.getByLabelText('Email'), 'sam@example.com');
    await user.type(screen.getByLabelText('Password'), 'long enough password');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('This invite code is not valid');
    expect(JSON.parse(calls.find((c) => c.path === '/api/auth/register')!.body).invite_code).toBe('fzi_code');
  });

  it('needs no code for the server’s first account, and says it will be the administrator', async () => {
    mockApi({ 'GET /api/auth/config': () => json({ signup: 'closed', first_account: true }) });
    renderApp('/signup');
    expect(await screen.findByText(/first account: it will be the administrator/)).toBeInTheDocument();
    expect(screen.queryByLabelText('Invite code')).toBeNull();
    expect(screen.queryByText(/Sign-up is closed/)).toBeNull();
  });
});
