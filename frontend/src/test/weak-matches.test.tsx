/**
 * Only what truly matches (issue 27): search lists the hits under the server's relevance floor
 * apart, as weaker matches, and says so when nothing clears it; recommendations, which drop
 * such items, say the same when none is left.
 */
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { bookmark, json, ME, mockApi, renderApp, signedIn } from './helpers';

const hit = (title: string, weak: boolean, score: number) => ({
  bookmark: bookmark({ title }),
  score,
  highlights: [],
  semantic_rank: 1,
  keyword_rank: null,
  weak,
});

describe('weaker matches', () => {
  it('a query nothing matches well says so and lists the weaker matches apart', async () => {
    signedIn();
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/search': () =>
        json({ items: [hit('Sourdough bread at home', true, 0.1), hit('Cats', true, 0.08)], next_cursor: null, mode: 'hybrid' }),
    });
    renderApp('/search?q=zzqx%20blorf');
    expect(await screen.findByText(/Nothing in your library matches this well yet/)).toHaveTextContent(
      'Save pages about “zzqx blorf”',
    );
    const results = screen.getByRole('list', { name: 'Search results' });
    expect(within(results).queryAllByRole('listitem')).toHaveLength(0);
    const summary = screen.getByText('2 weaker matches');
    expect(screen.getByRole('link', { name: 'Sourdough bread at home', hidden: true })).not.toBeVisible();
    await userEvent.setup().click(summary);
    expect(within(screen.getByRole('list', { name: 'Weaker matches' })).getAllByRole('link')).toHaveLength(2);
  });

  it('confident matches are the results; the weaker ones follow, folded', async () => {
    signedIn();
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/search': () =>
        json({ items: [hit('Tuning PostgreSQL indexes', false, 0.8), hit('Cats', true, 0.1)], next_cursor: null, mode: 'hybrid' }),
    });
    renderApp('/search?q=postgres');
    const results = await screen.findByRole('list', { name: 'Search results' });
    expect(await within(results).findByRole('link', { name: 'Tuning PostgreSQL indexes' })).toBeInTheDocument();
    expect(within(results).queryByRole('link', { name: 'Cats' })).toBeNull();
    expect(screen.getByText('1 weaker match')).toBeInTheDocument();
    expect(screen.queryByText(/Nothing in your library matches this well yet/)).toBeNull();
  });

  it('recommendations with nothing above the floor say nothing matches well yet', async () => {
    signedIn();
    const project = { id: 'p1', title: 'Apollo missions', description: null, technologies: [], status: 'active', created_at: '', updated_at: '' };
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/projects/p1': () => json(project),
      'GET /api/projects/p1/tasks': () => json({ items: [], next_cursor: null }),
      'GET /api/projects/p1/recommendations': () => json({ items: [] }),
    });
    renderApp('/projects/p1');
    expect(await screen.findByText(/Nothing in your library matches this well yet/)).toHaveTextContent('Save pages about it');
  });
});

describe('weaker recommendations', () => {
  it('an off-topic project says nothing matches well yet and folds its weaker items apart', async () => {
    signedIn();
    const project = { id: 'p1', title: 'Apollo missions', description: null, technologies: [], status: 'active', created_at: '', updated_at: '' };
    const weak = { bookmark: bookmark({ title: '2024 Mazda CX-5 review' }), score: 0.2, reasons: ['Among your saved items closest to this project.'], weak: true };
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/projects/p1': () => json(project),
      'GET /api/projects/p1/tasks': () => json({ items: [], next_cursor: null }),
      'GET /api/projects/p1/recommendations': () => json({ items: [weak] }),
    });
    renderApp('/projects/p1');
    expect(await screen.findByText(/Nothing in your library matches this well yet/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Relevant: 2024 Mazda/ })).toBeNull();
    expect(screen.getByText('1 weaker match')).toBeInTheDocument();
  });
});
