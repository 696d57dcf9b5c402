/**
 * The tag field offers the user's own tags as they type (issue 24): the server is asked for
 * the part after the last comma, arrow keys and Enter take one, and a chosen tag replaces
 * only that part.
 */
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { typedPart, withTag } from '../components/TagField';
import { bookmark, json, ME, mockApi, renderApp, signedIn } from './helpers';

// Generous waits: the field asks after a pause in typing, and a loaded machine is slow.
const WAIT = { timeout: 10_000 };

const TAGS = [
  { id: 't1', name: 'machine-learning', count: 40 },
  { id: 't2', name: 'machine vision', count: 3 },
  { id: 't3', name: 'databases', count: 12 },
];

function tagRoutes(asked: string[]) {
  return {
    'GET /api/users/me': () => json(ME),
    'GET /api/bookmarks': () => json({ items: [], next_cursor: null }),
    'GET /api/tags': (_req: Request, url: URL) => {
      const q = (url.searchParams.get('q') ?? '').toLowerCase();
      asked.push(q);
      return json({ items: TAGS.filter((t) => t.name.includes(q)) });
    },
    'POST /api/bookmarks': () => json(bookmark({ status: 'pending' }), 201),
  };
}

describe('typedPart and withTag', () => {
  it('work on the part after the last comma', () => {
    expect(typedPart('react, mach', true)).toBe('mach');
    expect(typedPart('react, mach', false)).toBe('react, mach');
    expect(withTag('react, mach', 'machine-learning', true)).toBe('react, machine-learning, ');
    expect(withTag('Machine-Learning, mach', 'machine-learning', true)).toBe('machine-learning, ');
    expect(withTag('mach', 'machine-learning', false)).toBe('machine-learning');
  });
});

describe('the tag field', () => {
  it('offers the user’s tags for the part being typed, and Enter takes one', async () => {
    signedIn();
    const asked: string[] = [];
    const { calls } = mockApi(tagRoutes(asked));
    renderApp('/');
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText('URL', {}, WAIT), 'https://example.com/post');
    const field = screen.getByRole('combobox', { name: 'Tags' });
    await user.type(field, 'databases, mach');
    const list = await screen.findByRole('listbox', { name: 'Tag suggestions' }, WAIT);
    await waitFor(() => expect(within(list).getAllByRole('option')).toHaveLength(2), WAIT);
    expect(asked.at(-1)).toBe('mach'); // only the part being typed is asked for
    expect(within(list).getAllByRole('option')[0]).toHaveTextContent('machine-learning40');
    await user.keyboard('{ArrowDown}');
    expect(field).toHaveAttribute('aria-activedescendant', within(list).getAllByRole('option')[0].id);
    await user.keyboard('{Enter}');
    expect(field).toHaveValue('databases, machine-learning, ');
    expect(screen.queryByRole('listbox', { name: 'Tag suggestions' })).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByText('Saved. It will be ready in a moment.', {}, WAIT);
    const post = calls.find((c) => c.method === 'POST')!;
    expect(JSON.parse(post.body).tags).toEqual(['databases', 'machine-learning']);
    expect(field).toHaveValue(''); // the form's reset empties it
  });

  it('takes a tag by a click, and Escape closes the list without changing the text', async () => {
    signedIn();
    mockApi(tagRoutes([]));
    renderApp('/');
    const user = userEvent.setup();
    const field = await screen.findByRole('combobox', { name: 'Tags' }, WAIT);
    await user.type(field, 'vis');
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('listbox', { name: 'Tag suggestions' })).toBeNull();
    expect(field).toHaveValue('vis');
    await user.type(field, 'i');
    const option = await screen.findByRole('option', { name: /machine vision/ }, WAIT);
    await user.click(option);
    expect(field).toHaveValue('machine vision, ');
    expect(field).toHaveFocus();
  });
});
