import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import type { ImportOut } from '../client/types.gen';
import { returnTo } from '../lib/returnTo';
import { setTokens } from '../lib/session';
import { apiError, bookmark, json, ME, mockApi, renderApp, signedIn } from './helpers';

const now = new Date().toISOString();
const EMPTY = { items: [], next_cursor: null };
const TOKENS = { access_token: 'a', refresh_token: 'r', token_type: 'bearer', expires_in: 900 };
const PROJECT = {
  id: 'p1',
  title: 'Search app',
  description: null,
  technologies: [],
  status: 'active',
  intent: null,
  intent_status: 'skipped',
  intent_error: null,
  created_at: now,
  updated_at: now,
};

describe('an empty library', () => {
  it('shows four first steps, each a link to where it is done', async () => {
    signedIn();
    mockApi({ 'GET /api/users/me': () => json(ME), 'GET /api/bookmarks': () => json(EMPTY) });
    renderApp('/');
    const panel = await screen.findByRole('region', { name: /Nothing saved yet/ });
    const links = within(panel).getAllByRole('link');
    expect(links.map((a) => [a.textContent, a.getAttribute('href')])).toEqual([
      ['Save a page', '#save-url'],
      ['Import your bookmarks', '/import'],
      ['Install the browser extension', '/extension'],
      ['Add an AI key', '/settings#gemini-title'],
    ]);
    const user = userEvent.setup();
    await user.click(links[0]);
    expect(screen.getByLabelText('URL')).toHaveFocus();
  });

  it('links to how to install the extension, with this server’s address', async () => {
    signedIn();
    mockApi({ 'GET /api/users/me': () => json(ME), 'GET /api/bookmarks': () => json(EMPTY) });
    renderApp('/');
    await userEvent.setup().click(await screen.findByRole('link', { name: 'Install the browser extension' }));
    expect(await screen.findByRole('heading', { name: 'Browser extension' })).toBeInTheDocument();
    expect(screen.getByText('cd extension && npm ci && npm run build')).toBeInTheDocument();
    expect(screen.getByText(window.location.origin, { selector: 'code' })).toBeInTheDocument();
  });

  it('marks the AI key done once one is set', async () => {
    signedIn();
    mockApi({ 'GET /api/users/me': () => json({ ...ME, has_gemini_key: true }), 'GET /api/bookmarks': () => json(EMPTY) });
    renderApp('/');
    expect(await screen.findByRole('link', { name: 'Your AI key is set' })).toHaveAttribute('href', '/settings#gemini-title');
  });

  it('is not shown for filters that match nothing, and is gone once the library has bookmarks', async () => {
    signedIn();
    let items: ReturnType<typeof bookmark>[] = [];
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/bookmarks': (_req, url) => json({ items: url.searchParams.get('tag') ? [] : items, next_cursor: null }),
      'POST /api/bookmarks': () => {
        items = [bookmark({ title: 'First page', status: 'pending' })];
        return json(items[0], 201);
      },
    });
    renderApp('/?tag=nope');
    await screen.findByText('Nothing matches these filters.');
    expect(screen.queryByRole('region', { name: /Nothing saved yet/ })).toBeNull();
    const user = userEvent.setup();
    await user.click(screen.getByRole('link', { name: 'Library' }));
    await screen.findByRole('region', { name: /Nothing saved yet/ });
    await user.type(screen.getByLabelText('URL'), 'https://example.com/first');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByText('First page');
    expect(screen.queryByRole('region', { name: /Nothing saved yet/ })).toBeNull();
    expect(screen.queryByRole('link', { name: 'Import your bookmarks' })).toBeNull();
  });
});

describe('an unknown address', () => {
  it('shows a 404 page with a way home', async () => {
    signedIn();
    mockApi({ 'GET /api/users/me': () => json(ME), 'GET /api/bookmarks': () => json(EMPTY) });
    renderApp('/no/such/page');
    expect(await screen.findByRole('heading', { name: 'Page not found' })).toBeInTheDocument();
    expect(screen.getByText('/no/such/page')).toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole('link', { name: 'Go to your library' }));
    expect(await screen.findByRole('heading', { name: 'Library' })).toBeInTheDocument();
  });
});

describe('signing in', () => {
  beforeEach(() => setTokens(null));

  const routes = {
    'POST /api/auth/login': () => json(TOKENS),
    'POST /api/auth/register': () => json(ME, 201),
    'GET /api/users/me': () => json(ME),
    'GET /api/bookmarks': () => json(EMPTY),
    'GET /api/projects/p1': () => json(PROJECT),
    'GET /api/projects/p1/tasks': () => json(EMPTY),
    'GET /api/projects/p1/recommendations': () => json({ items: [] }),
  };

  it('returns to the page that asked for it', async () => {
    mockApi(routes);
    renderApp('/projects/p1?tab=x');
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('Username or email'), 'ada');
    await user.type(screen.getByLabelText('Password'), 'long enough password');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { name: /Search app/ })).toBeInTheDocument();
    expect(screen.queryByRole('heading', { name: 'Library' })).toBeNull();
  });

  it('returns there after creating an account too', async () => {
    mockApi(routes);
    renderApp('/projects/p1');
    const user = userEvent.setup();
    await user.click(await screen.findByRole('link', { name: 'Create an account' }));
    await user.type(await screen.findByLabelText('Username'), 'ada');
    await user.type(screen.getByLabelText('Email'), 'ada@example.com');
    await user.type(screen.getByLabelText('Password'), 'long enough password');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByRole('heading', { name: /Search app/ })).toBeInTheDocument();
  });

  it('returns there when the session ended on its own and the user signs in again', async () => {
    signedIn('old', 'refresh-old');
    let signedInAgain = false;
    const gate = (handler: () => Response) => () => (signedInAgain ? handler() : apiError(401, 'token_expired', 'Your session expired.'));
    mockApi({
      ...routes,
      'POST /api/auth/login': () => {
        signedInAgain = true;
        return json(TOKENS);
      },
      'POST /api/auth/refresh': () => apiError(401, 'invalid_token', 'This session has ended.'),
      'GET /api/users/me': gate(() => json(ME)),
      'GET /api/projects/p1': gate(() => json(PROJECT)),
      'GET /api/projects/p1/tasks': gate(() => json(EMPTY)),
      'GET /api/projects/p1/recommendations': gate(() => json({ items: [] })),
    });
    renderApp('/projects/p1');
    expect(await screen.findByText('Your session has ended. Sign in again.')).toBeInTheDocument();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Username or email'), 'ada');
    await user.type(screen.getByLabelText('Password'), 'long enough password');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { name: /Search app/ })).toBeInTheDocument();
  });

  it('goes only to pages of this app', () => {
    expect(returnTo({ from: '/projects/p1?x=1#t' })).toBe('/projects/p1?x=1#t');
    expect(returnTo({ from: '//evil.example/x' })).toBe('/');
    expect(returnTo({ from: '/\\evil.example' })).toBe('/');
    expect(returnTo({ from: 'https://evil.example/' })).toBe('/');
    expect(returnTo({ from: '/signin' })).toBe('/');
    expect(returnTo({ from: '/signup?x' })).toBe('/');
    expect(returnTo({ from: '/signing-things' })).toBe('/signing-things');
    expect(returnTo(null)).toBe('/');
  });
});

function imp(over: Partial<ImportOut>): ImportOut {
  return {
    id: 'imp1',
    filename: 'omnivore.zip',
    format: 'omnivore_zip',
    format_name: 'Omnivore export (ZIP)',
    status: 'done',
    size_bytes: 100,
    total: 1,
    parsed: 1,
    imported: 0,
    duplicates: 1,
    invalid: 0,
    pending: 0,
    ready: 0,
    failed: 0,
    processed: 1,
    error_code: null,
    error_message: null,
    created_at: now,
    started_at: now,
    parsed_at: now,
    finished_at: now,
    ...over,
  };
}

describe('the import page', () => {
  it('accepts any file (Omnivore’s .zip, Chrome’s Bookmarks), empties the picker after the upload, and counts in words', async () => {
    signedIn();
    const earlier = imp({ id: 'imp0', filename: 'pocket.csv', total: 3, processed: 3, duplicates: 2, imported: 1, ready: 1 });
    const { calls } = mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/imports': () => json({ items: [earlier], next_cursor: null }),
      'POST /api/imports': () => json(imp({ status: 'queued' }), 202),
      'GET /api/imports/imp1': () => json(imp({})),
      'GET /api/imports/imp0': () => json(earlier),
    });
    renderApp('/import');
    const input = (await screen.findByLabelText('File')) as HTMLInputElement;
    // A browser's picker hides what `accept` does not list: a .zip, or a file with no extension.
    expect(input.hasAttribute('accept')).toBe(false);
    const user = userEvent.setup({ applyAccept: true });
    await user.upload(input, new File(['{"roots":{}}'], 'Bookmarks', { type: '' }));
    expect(input.files).toHaveLength(1);
    await user.upload(input, new File(['PK\x03\x04'], 'omnivore.zip', { type: 'application/zip' }));
    expect(input.files?.[0].name).toBe('omnivore.zip');
    await user.click(screen.getByRole('button', { name: 'Import' }));
    const status = await screen.findByText(/of 1 entry/);
    expect(status).toHaveTextContent('1 of 1 entry · 0 new · 1 duplicate · 0 ready · 0 processing · 0 failed');
    await waitFor(() => expect(input.files).toHaveLength(0));
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(1);
    expect(screen.getByText(/of 3 entries/)).toHaveTextContent('3 of 3 entries · 1 new · 2 duplicates · 1 ready');
  });
});

describe('the AI breakdown of a project', () => {
  it('shows the proposed subtasks, lets the user edit and drop tasks and subtasks, and adds only what is kept', async () => {
    signedIn();
    const proposal = {
      project_id: 'p1',
      model: 'gemini',
      tasks: [
        { title: 'Design the search index', description: 'Pick the columns.', subtasks: [{ title: 'Add a tsvector column' }, { title: 'Create a GIN index' }] },
        { title: 'Rank results', description: null, subtasks: [{ title: 'Try ts_rank' }] },
        { title: 'Write a blog post', description: null, subtasks: [] },
      ],
    };
    const { calls } = mockApi({
      'GET /api/users/me': () => json({ ...ME, has_gemini_key: true }),
      'GET /api/projects/p1': () => json(PROJECT),
      'GET /api/projects/p1/tasks': () => json(EMPTY),
      'GET /api/projects/p1/recommendations': () => json({ items: [] }),
      'POST /api/projects/p1/breakdown': () => json(proposal),
      'POST /api/projects/p1/breakdown/accept': () => json({ items: [] }, 201),
    });
    renderApp('/projects/p1');
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Break it down with AI' }));
    const review = await screen.findByRole('region', { name: 'Proposed tasks' });
    // Every subtask is shown, not only a count.
    expect(within(review).getByDisplayValue('Add a tsvector column')).toBeInTheDocument();
    expect(within(review).getByDisplayValue('Try ts_rank')).toBeInTheDocument();
    expect(within(review).getByText('3 tasks with 3 subtasks will be added.')).toBeInTheDocument();

    const title = within(review).getByLabelText('Task 1 title');
    await user.clear(title);
    await user.type(title, 'Design the index');
    await user.clear(within(review).getByLabelText('Subtask 1.2 title'));
    await user.type(within(review).getByLabelText('Subtask 1.2 title'), 'Create a GIN index on it');
    await user.click(within(review).getByLabelText('Keep subtask 1.1'));
    await user.click(within(review).getByLabelText('Keep task 3'));
    expect(within(review).getByText('2 tasks with 2 subtasks will be added.')).toBeInTheDocument();
    // Dropping a task drops its subtasks with it.
    await user.click(within(review).getByLabelText('Keep task 2'));
    expect(within(review).getByLabelText('Keep subtask 2.1')).not.toBeChecked();
    expect(within(review).getByText('1 task with 1 subtask will be added.')).toBeInTheDocument();

    await user.click(within(review).getByRole('button', { name: 'Add these tasks' }));
    await waitFor(() => expect(screen.queryByRole('region', { name: 'Proposed tasks' })).toBeNull());
    const accept = calls.find((c) => c.path === '/api/projects/p1/breakdown/accept')!;
    expect(JSON.parse(accept.body)).toEqual({
      tasks: [{ title: 'Design the index', description: 'Pick the columns.', subtasks: [{ title: 'Create a GIN index on it' }] }],
    });
  });

  it('cannot add nothing, nor a task without a title', async () => {
    signedIn();
    mockApi({
      'GET /api/users/me': () => json({ ...ME, has_gemini_key: true }),
      'GET /api/projects/p1': () => json(PROJECT),
      'GET /api/projects/p1/tasks': () => json(EMPTY),
      'GET /api/projects/p1/recommendations': () => json({ items: [] }),
      'POST /api/projects/p1/breakdown': () => json({ project_id: 'p1', model: 'g', tasks: [{ title: 'Only one', description: null, subtasks: [] }] }),
    });
    renderApp('/projects/p1');
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Break it down with AI' }));
    const review = await screen.findByRole('region', { name: 'Proposed tasks' });
    const add = within(review).getByRole('button', { name: 'Add these tasks' });
    await user.clear(within(review).getByLabelText('Task 1 title'));
    expect(add).toBeDisabled();
    expect(within(review).getByText('Give each task you keep a title.')).toBeInTheDocument();
    await user.type(within(review).getByLabelText('Task 1 title'), 'Renamed');
    expect(add).toBeEnabled();
    await user.click(within(review).getByLabelText('Keep task 1'));
    expect(add).toBeDisabled();
  });
});
