import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { BookmarkList } from '../components/BookmarkList';
import { StatusBadge } from '../components/StatusBadge';
import { getTokens } from '../lib/session';
import { apiError, bookmark, json, ME, mockApi, renderApp, renderWithRouter, signedIn } from './helpers';

describe('signing in', () => {
  it('shows the sign-in page when signed out, and the server’s reason when sign-in fails', async () => {
    mockApi({ 'POST /api/auth/login': () => apiError(401, 'invalid_credentials', 'Wrong username or password.') });
    renderApp('/');
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('Username or email'), 'ada');
    await user.type(screen.getByLabelText('Password'), 'nope');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Wrong username or password.');
    expect(getTokens()).toBeNull();
  });

  it('signs up, signs in and opens the library', async () => {
    const { calls } = mockApi({
      'POST /api/auth/register': () => json(ME, 201),
      'POST /api/auth/login': () => json({ access_token: 'a', refresh_token: 'r', token_type: 'bearer', expires_in: 900 }),
      'GET /api/users/me': () => json(ME),
      'GET /api/bookmarks': () => json({ items: [], next_cursor: null }),
    });
    renderApp('/signup');
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('Username'), 'ada');
    await user.type(screen.getByLabelText('Email'), 'ada@example.com');
    await user.type(screen.getByLabelText('Password'), 'long enough password');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByText(/Nothing saved yet/)).toBeInTheDocument();
    expect(getTokens()).toEqual({ access_token: 'a', refresh_token: 'r' });
    expect(JSON.parse(calls.find((c) => c.path === '/api/auth/register')!.body)).toEqual({
      username: 'ada',
      email: 'ada@example.com',
      password: 'long enough password',
    });
  });
});

describe('the library', () => {
  it('lists items with their status, and deletes the selected ones', async () => {
    signedIn();
    const items = [
      bookmark({ title: 'Alpha', status: 'ready', tags: ['db'] }),
      bookmark({ title: 'Beta', status: 'fetching' }),
      bookmark({ title: 'Gamma', status: 'failed', error_message: 'HTTP 404' }),
    ];
    let listed = items;
    const { calls } = mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/bookmarks': () => json({ items: listed, next_cursor: null }),
      'DELETE /api/bookmarks/:id': (req) => {
        const id = new URL(req.url).pathname.split('/').pop();
        listed = listed.filter((b) => b.id !== id);
        return new Response(null, { status: 204 });
      },
    });
    window.confirm = vi.fn(() => true);
    renderApp('/');
    const list = await screen.findByRole('list', { name: 'Saved items' });
    const rows = within(list).getAllByRole('listitem');
    expect(rows.map((r) => r.querySelector('.row-title')?.textContent)).toEqual(['Alpha', 'Beta', 'Gamma']);
    expect(within(rows[1]).getByText('Processing')).toBeInTheDocument();
    expect(within(rows[2]).getByText('HTTP 404', { selector: '.row-error' })).toBeInTheDocument();

    const user = userEvent.setup();
    await user.click(screen.getByLabelText('Select Alpha'));
    await user.click(screen.getByLabelText('Select Gamma'));
    expect(screen.getByText('2 selected')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Delete selected' }));
    await waitFor(() => expect(within(list).getAllByRole('listitem')).toHaveLength(1));
    expect(calls.filter((c) => c.method === 'DELETE').map((c) => c.path).sort()).toEqual(
      [`/api/bookmarks/${items[0].id}`, `/api/bookmarks/${items[2].id}`].sort(),
    );
  });

  it('adds tags to the selected items, keeping the tags they had', async () => {
    signedIn();
    const a = bookmark({ title: 'Alpha', tags: ['db'] });
    const { calls } = mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/bookmarks': () => json({ items: [a, bookmark({ title: 'Beta' })], next_cursor: null }),
      'PATCH /api/bookmarks/:id': () => json(a),
    });
    renderApp('/');
    const user = userEvent.setup();
    await user.click(await screen.findByLabelText('Select Alpha'));
    await user.type(screen.getByLabelText('Tags to add to the selected items'), 'search, db');
    await user.click(screen.getByRole('button', { name: 'Add tags' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'PATCH')).toHaveLength(1));
    expect(JSON.parse(calls.find((c) => c.method === 'PATCH')!.body)).toEqual({ tags: ['db', 'search'] });
  });

  it('sends the filters and sort to the API', async () => {
    signedIn();
    const seen: URLSearchParams[] = [];
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/bookmarks': (_req, url) => {
        seen.push(url.searchParams);
        return json({ items: [], next_cursor: null });
      },
    });
    renderApp('/?tag=db&status=failed&sort=title');
    await screen.findByText('Nothing matches these filters.');
    expect(Object.fromEntries(seen[0])).toMatchObject({ tag: 'db', status: 'failed', sort: 'title', limit: '200' });
  });

  it('saves a URL with tags and notes', async () => {
    signedIn();
    const { calls } = mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/bookmarks': () => json({ items: [], next_cursor: null }),
      'POST /api/bookmarks': () => json(bookmark({ status: 'pending' }), 201),
    });
    renderApp('/');
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('URL'), 'https://example.com/post');
    await user.type(screen.getByLabelText('Tags'), 'a, b');
    await user.type(screen.getByLabelText('Notes'), 'read later');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('Saved. It will be ready in a moment.')).toBeInTheDocument();
    const post = calls.find((c) => c.method === 'POST')!;
    expect(JSON.parse(post.body)).toEqual({
      url: 'https://example.com/post',
      tags: ['a', 'b'],
      notes: 'read later',
    });
    // A random key per press of Save, so a retried save gets the first answer (docs/api.md).
    expect(post.headers.get('Idempotency-Key')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('shows a banner when the server cannot be reached', async () => {
    signedIn();
    const { configureClient } = await import('../lib/api');
    configureClient((async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch);
    renderApp('/');
    expect(await screen.findByText(/Can't reach the Fuze server/, { selector: '.banner' })).toBeInTheDocument();
  });
});

describe('the virtualised list', () => {
  it('renders a window of rows, not 50,000', () => {
    const items = Array.from({ length: 50_000 }, (_, i) => bookmark({ title: `Row ${i}` }));
    renderWithRouter(
      <div style={{ height: 600 }}>
        <BookmarkList items={items} hasMore={false} loadingMore={false} loadMore={() => {}} selected={new Set()} toggle={() => {}} />
      </div>,
    );
    const rows = screen.getAllByRole('listitem');
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.length).toBeLessThan(40);
    expect(screen.getByText('Row 0')).toBeInTheDocument();
    expect(rows[0]).toHaveAttribute('aria-setsize', '50000');
  });

  it('asks for the next page when the end of what is loaded is on screen', () => {
    const loadMore = vi.fn();
    renderWithRouter(
      <BookmarkList items={[bookmark(), bookmark()]} hasMore loadingMore={false} loadMore={loadMore} selected={new Set()} toggle={() => {}} />,
    );
    expect(loadMore).toHaveBeenCalled();
  });
});

describe('search', () => {
  it('shows highlighted snippets and switches modes', async () => {
    signedIn();
    const modes: string[] = [];
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/search': (_req, url) => {
        modes.push(url.searchParams.get('mode') ?? '');
        return json({
          items: [
            {
              bookmark: bookmark({ title: 'Sourdough' }),
              score: 0.8,
              highlights: ['feed the <mark>starter</mark> &lt;b&gt;daily&lt;/b&gt; <script>x</script>'],
              semantic_rank: 1,
              keyword_rank: 1,
            },
          ],
          next_cursor: null,
        });
      },
    });
    renderApp('/search?q=starter');
    const results = await screen.findByRole('list', { name: 'Search results' });
    const snippet = await within(results).findByText((_, el) => el?.classList.contains('snippet') ?? false);
    expect(snippet.querySelector('mark')?.textContent).toBe('starter');
    expect(snippet.querySelector('script')).toBeNull();
    expect(snippet.textContent).toContain('<b>daily</b>');
    await userEvent.setup().click(screen.getByLabelText('Keywords'));
    await waitFor(() => expect(modes).toContain('keyword'));
    expect(modes[0]).toBe('hybrid');
  });
});

describe('projects', () => {
  it('says projects are not available when the server has no such route', async () => {
    signedIn();
    mockApi({ 'GET /api/users/me': () => json(ME) });
    renderApp('/projects');
    expect(await screen.findByTestId('unavailable')).toHaveTextContent('Projects are not available on this server yet.');
  });

  it('drops an item marked not relevant from the recommendations at once', async () => {
    signedIn();
    const project = { id: 'p1', title: 'Search app', description: null, technologies: ['PostgreSQL'], status: 'active', created_at: '', updated_at: '' };
    const recs = [
      { bookmark: bookmark({ title: 'GIN indexes' }), score: 0.9, reasons: ['Mentions postgresql.'] },
      { bookmark: bookmark({ title: 'Sourdough' }), score: 0.1, reasons: [] },
    ];
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const { calls } = mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/projects/p1': () => json(project),
      'GET /api/projects/p1/tasks': () => json({ items: [], next_cursor: null }),
      'GET /api/projects/p1/recommendations': () => json({ items: recs }),
      'POST /api/feedback': async () => {
        await slow;
        return json({ ok: true }, 201);
      },
    });
    renderApp('/projects/p1');
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Not relevant: Sourdough' }));
    await waitFor(() => expect(screen.queryByRole('link', { name: 'Sourdough' })).toBeNull());
    expect(screen.getByRole('link', { name: 'GIN indexes' })).toBeInTheDocument();
    expect(screen.getByText('Mentions postgresql.')).toBeInTheDocument();
    expect(JSON.parse(calls.find((c) => c.path === '/api/feedback')!.body)).toEqual({
      bookmark_id: recs[1].bookmark.id,
      signal: 'irrelevant',
      context: { type: 'project', id: 'p1' },
    });
    release();
  });
});

describe('StatusBadge', () => {
  it('says why an item failed', () => {
    render(<StatusBadge status="failed" error="HTTP 404" />);
    expect(screen.getByText('Failed')).toHaveAttribute('title', 'Failed: HTTP 404');
  });
});

describe('settings', () => {
  it('signs this tab in again after a password change, which signs every session out', async () => {
    signedIn('access-old', 'refresh-old');
    const { calls } = mockApi({
      'GET /api/users/me': () => json(ME),
      'PATCH /api/users/me': () => json(ME),
      'GET /api/users/me/tokens': () => json([]),
      'POST /api/auth/login': () => json({ access_token: 'access-new', refresh_token: 'refresh-new', token_type: 'bearer', expires_in: 900 }),
    });
    renderApp('/settings');
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('Current password'), 'old password');
    await user.type(screen.getByLabelText('New password'), 'a brand new password');
    await user.click(screen.getByRole('button', { name: 'Change password' }));
    await waitFor(() => expect(getTokens()).toEqual({ access_token: 'access-new', refresh_token: 'refresh-new' }));
    expect(JSON.parse(calls.find((c) => c.path === '/api/users/me' && c.method === 'PATCH')!.body)).toEqual({
      current_password: 'old password',
      new_password: 'a brand new password',
    });
    expect(JSON.parse(calls.find((c) => c.path === '/api/auth/login')!.body)).toEqual({ login: 'ada', password: 'a brand new password' });
  });
});
