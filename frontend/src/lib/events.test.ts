import { QueryClient } from '@tanstack/react-query';

import { bookmarksListBookmarksInfiniteQueryKey } from '../client/@tanstack/react-query.gen';
import { bookmark } from '../test/helpers';
import { applyStatusEvent } from './events';

describe('applyStatusEvent', () => {
  it('updates the badge of the matching item in every cached list page', () => {
    const qc = new QueryClient();
    const a = bookmark({ status: 'pending', title: null });
    const b = bookmark({ status: 'pending' });
    const key = bookmarksListBookmarksInfiniteQueryKey({ query: { sort: '-saved_at' } });
    qc.setQueryData(key, { pages: [{ items: [b] }, { items: [a] }], pageParams: [null, 'c1'] });
    applyStatusEvent(qc, { id: a.id, status: 'failed', error_code: 'http_404', error_message: 'HTTP 404', title: 'Gone' });
    const data = qc.getQueryData(key) as { pages: { items: typeof a[] }[] };
    expect(data.pages[1].items[0]).toMatchObject({ status: 'failed', error_message: 'HTTP 404', title: 'Gone' });
    expect(data.pages[0].items[0]).toBe(b); // untouched
  });

  it('says when no loaded list holds the item (saved elsewhere)', () => {
    const qc = new QueryClient();
    const key = bookmarksListBookmarksInfiniteQueryKey({ query: { sort: '-saved_at' } });
    qc.setQueryData(key, { pages: [{ items: [bookmark()] }], pageParams: [null] });
    expect(applyStatusEvent(qc, { id: 'elsewhere', status: 'pending', error_code: null, error_message: null, title: null })).toBe(false);
  });
});
