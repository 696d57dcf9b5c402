/**
 * Rough edges of issue 22 that show without a layout engine: the library's delayed filter must
 * not undo a Sort or Status chosen meanwhile, relative times keep up with the clock, and
 * search results and recommendations name the site and show a match, not a raw score.
 */
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, vi } from 'vitest';

import { bookmark, json, ME, mockApi, renderApp, signedIn } from './helpers';

afterEach(() => {
  vi.useRealTimers();
});

describe('the library filter', () => {
  for (const [label, option, param] of [
    ['Sort', 'title', 'sort'],
    ['Status', 'failed', 'status'],
  ] as const) {
    it(`keeps a ${label} chosen while the filter text is still waiting to apply`, async () => {
      signedIn();
      const seen: Record<string, string>[] = [];
      mockApi({
        'GET /api/users/me': () => json(ME),
        'GET /api/bookmarks': (_req, url) => {
          seen.push(Object.fromEntries(url.searchParams));
          return json({ items: [bookmark({ title: 'Sourdough starter' })], next_cursor: null });
        },
      });
      renderApp('/');
      await screen.findByRole('link', { name: 'Sourdough starter' });
      const user = userEvent.setup();
      await user.type(screen.getByRole('searchbox', { name: 'Filter' }), 'sour');
      // Within the filter's 250 ms wait.
      await user.selectOptions(screen.getByRole('combobox', { name: label }), option);
      await waitFor(() => expect(seen.some((q) => q.q === 'sour')).toBe(true), { timeout: 5000 });
      expect(seen.at(-1)).toMatchObject({ q: 'sour', [param]: option });
      expect(screen.getByRole('combobox', { name: label })).toHaveValue(option);
    });
  }
});

describe('relative times', () => {
  it('move on as time passes, without a reload', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true, toFake: ['setInterval', 'clearInterval', 'Date'] });
    signedIn();
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/bookmarks': () =>
        json({ items: [bookmark({ title: 'Just saved', saved_at: new Date(Date.now() - 2000).toISOString() })], next_cursor: null }),
    });
    renderApp('/');
    const row = (await screen.findByRole('link', { name: 'Just saved' })).closest('.row') as HTMLElement;
    expect(within(row).getByText(/^2 seconds ago$/)).toBeInTheDocument();
    await act(async () => {
      vi.advanceTimersByTime(90_000);
    });
    expect(within(row).getByText(/^(1|2) minutes? ago$/)).toBeInTheDocument();
    await act(async () => {
      vi.advanceTimersByTime(2 * 3600_000);
    });
    expect(within(row).getByText(/^2 hours ago$/)).toBeInTheDocument();
  });
});

describe('match and site', () => {
  it('search results name the site and show a labelled match, the score only in a tooltip', async () => {
    signedIn();
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/search': () =>
        json({
          items: [
            {
              bookmark: bookmark({ title: 'Named', url: 'https://www.seriouseats.com/a', site_name: 'Serious Eats' }),
              score: 0.70634,
              highlights: [],
              semantic_rank: 1,
              keyword_rank: 1,
            },
            { bookmark: bookmark({ title: 'Unnamed', url: 'https://www.example.org/b' }), score: 0.2, highlights: [], semantic_rank: 2, keyword_rank: null },
          ],
          next_cursor: null,
        }),
    });
    renderApp('/search?q=bread');
    const results = await screen.findByRole('list', { name: 'Search results' });
    const [named, unnamed] = await within(results).findAllByRole('listitem');
    expect(within(named).getByText('Serious Eats')).toBeInTheDocument();
    expect(within(unnamed).getByText('example.org')).toBeInTheDocument();
    expect(results.textContent).not.toMatch(/0\.70|0\.2\b|seriouseats\.com/);
    expect(within(named).getByRole('img', { name: '71% match' }).closest('[title]')).toHaveAttribute('title', expect.stringContaining('0.706'));
  });

  it('recommendations do the same', async () => {
    signedIn();
    const project = { id: 'p1', title: 'Bread', description: null, technologies: [], status: 'active', created_at: '', updated_at: '' };
    mockApi({
      'GET /api/users/me': () => json(ME),
      'GET /api/projects/p1': () => json(project),
      'GET /api/projects/p1/tasks': () => json({ items: [], next_cursor: null }),
      'GET /api/projects/p1/recommendations': () =>
        json({ items: [{ bookmark: bookmark({ title: 'Rye', url: 'https://www.kingarthurbaking.com/r', site_name: 'King Arthur Baking' }), score: 0.62, reasons: [] }] }),
    });
    renderApp('/projects/p1');
    const rec = (await screen.findByRole('link', { name: 'Rye' })).closest('.rec') as HTMLElement;
    expect(within(rec).getByText(/King Arthur Baking/)).toBeInTheDocument();
    expect(rec.textContent).not.toMatch(/score|0\.62|kingarthurbaking\.com/);
    expect(within(rec).getByRole('img', { name: '62% match' })).toBeInTheDocument();
  });
});
