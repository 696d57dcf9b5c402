import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, renderHook, waitFor } from '@testing-library/react';
import { createElement, type ReactNode } from 'react';

import { bookmarksListBookmarksInfiniteQueryKey } from '../client/@tanstack/react-query.gen';
import { bookmark, json, mockApi, testQueryClient } from '../test/helpers';
import { applyStatusEvent, useLiveEvents } from './events';
import { setTokens } from './session';

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

class FakeEventSource extends EventTarget {
  static opened: FakeEventSource[] = [];
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    super();
    FakeEventSource.opened.push(this);
  }
  close() {
    this.closed = true;
  }
}

const jwtExpiringIn = (seconds: number) =>
  `h.${btoa(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + seconds }))}.s`;

describe('useLiveEvents', () => {
  beforeEach(() => {
    FakeEventSource.opened = [];
    vi.stubGlobal('EventSource', FakeEventSource);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
    setTokens(null);
  });

  it('opens the stream with a single-use ticket, never a token in the URL, and reconnects with a new one when the server ends it', async () => {
    const access = jwtExpiringIn(900);
    setTokens({ access_token: access, refresh_token: 'refresh-1' });
    let n = 0;
    const api = mockApi({ 'POST /api/events/ticket': () => json({ ticket: `fzt_${++n}`, expires_in: 60 }) });
    const qc = testQueryClient();
    const wrapper = ({ children }: { children: ReactNode }) => createElement(QueryClientProvider, { client: qc }, children);
    const { result, unmount } = renderHook(() => useLiveEvents(), { wrapper });

    await waitFor(() => expect(FakeEventSource.opened).toHaveLength(1));
    const first = FakeEventSource.opened[0];
    expect(first.url).toBe('/api/events?ticket=fzt_1');
    expect(first.url).not.toContain(access);
    expect(api.calls.find((c) => c.path === '/api/events/ticket')?.auth).toBe(`Bearer ${access}`);
    await act(async () => first.onopen?.());
    await waitFor(() => expect(result.current).toBe('live'));

    // The stream lived its access token's life; the server ends it and a new ticket opens the next.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 60_000);
    await act(async () => {
      first.dispatchEvent(new MessageEvent('session.ended', { data: '{"reason":"expired"}' }));
    });
    expect(first.closed).toBe(true);
    await waitFor(() => expect(FakeEventSource.opened).toHaveLength(2));
    expect(FakeEventSource.opened[1].url).toBe('/api/events?ticket=fzt_2');
    unmount();
    expect(FakeEventSource.opened[1].closed).toBe(true);
  });
});
