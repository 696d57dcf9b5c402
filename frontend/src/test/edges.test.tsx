/**
 * Rough edges of issue 22 that show without a layout engine: the library's delayed filter must
 * not undo a Sort or Status chosen meanwhile, and relative times keep up with the clock.
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
