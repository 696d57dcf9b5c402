import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';

import { bookmarksListBookmarksInfiniteOptions } from '../client/@tanstack/react-query.gen';
import { bookmarksDeleteBookmark, bookmarksUpdateBookmark } from '../client/sdk.gen';
import type { BookmarkOut, BookmarksListBookmarksData } from '../client/types.gen';
import { BookmarkGrid } from '../components/BookmarkGrid';
import { BookmarkList } from '../components/BookmarkList';
import { FirstSteps } from '../components/FirstSteps';
import { ErrorNotice, InfoNotice } from '../components/Notice';
import { SaveForm } from '../components/SaveForm';
import { clearUnseenItems, forgetUnseen, useUnseenItems } from '../lib/events';
import { mapLimit, parseTags } from '../lib/format';
import { useLibraryView } from '../lib/libraryView';

type Query = NonNullable<BookmarksListBookmarksData['query']>;
type Status = NonNullable<Query['status']>;
type Sort = NonNullable<Query['sort']>;

const STATUSES: [Status | '', string][] = [
  ['', 'Any status'],
  ['pending', 'Pending'],
  ['fetching', 'Fetching'],
  ['extracting', 'Extracting'],
  ['embedding', 'Embedding'],
  ['ready', 'Ready'],
  ['failed', 'Failed'],
];
const SORTS: [Sort, string][] = [
  ['-saved_at', 'Newest first'],
  ['saved_at', 'Oldest first'],
  ['title', 'Title A–Z'],
  ['-title', 'Title Z–A'],
  ['-quality', 'Best quality'],
  ['-progress', 'Most read first'],
];
// What the library shows by reading state (the `show` parameter), as the API's filters.
type Show = 'library' | 'unread' | 'read' | 'favorites' | 'archive' | 'all';
const SHOWS: [Show, string, Pick<Query, 'shelf' | 'read' | 'favorite'>][] = [
  ['library', 'Library', { shelf: 'library' }],
  ['unread', 'Unread', { shelf: 'library', read: false }],
  ['read', 'Read', { shelf: 'library', read: true }],
  ['favorites', 'Favourites', { shelf: 'all', favorite: true }],
  ['archive', 'Archive', { shelf: 'archive' }],
  ['all', 'Everything', { shelf: 'all' }],
];

export const PAGE_SIZE = 200;

export function LibraryPage() {
  const [params, setParams] = useSearchParams();
  const qc = useQueryClient();
  const tag = params.get('tag') || undefined;
  const status = (params.get('status') as Status) || undefined;
  const sort = (params.get('sort') as Sort) || '-saved_at';
  const q = params.get('q') || undefined;
  const show = SHOWS.find(([v]) => v === params.get('show')) ?? SHOWS[0];
  const [view, setView] = useLibraryView();

  const query = useInfiniteQuery({
    ...bookmarksListBookmarksInfiniteOptions({ query: { tag, status, sort, q, ...show[2], limit: PAGE_SIZE } }),
    initialPageParam: { query: {} },
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const items = useMemo(() => query.data?.pages.flatMap((p) => p.items) ?? [], [query.data]);

  const unseen = useUnseenItems();
  useEffect(() => {
    if (unseen > 0) forgetUnseen(items.map((b) => b.id));
  }, [items, unseen]);
  const [selected, setSelected] = useState<Set<string>>(() => new Set());
  const anchor = useRef<string | null>(null);
  const debounce = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(debounce.current), []);
  const itemsRef = useRef(items);
  itemsRef.current = items;
  const toggle = useCallback((id: string, shift: boolean) => {
    setSelected((prev) => {
      const next = new Set(prev);
      const list = itemsRef.current;
      if (shift && anchor.current) {
        const a = list.findIndex((b) => b.id === anchor.current);
        const z = list.findIndex((b) => b.id === id);
        if (a >= 0 && z >= 0) {
          for (let i = Math.min(a, z); i <= Math.max(a, z); i++) next.add(list[i].id);
          return next;
        }
      }
      if (next.has(id)) next.delete(id);
      else next.add(id);
      anchor.current = id;
      return next;
    });
  }, []);

  const [bulk, setBulk] = useState<{ label: string; done: number; total: number } | null>(null);
  const [bulkError, setBulkError] = useState<string | null>(null);
  const { fetchNextPage } = query;
  const loadMore = useCallback(() => void fetchNextPage(), [fetchNextPage]);

  // The filter box calls setParam 250 ms after the last key: by then Sort or Status may have
  // changed, so it must start from the address as it is then, not as it was when typed.
  const latest = useRef({ params, setParams });
  latest.current = { params, setParams };
  function setParam(name: string, value: string | undefined) {
    const next = new URLSearchParams(latest.current.params);
    if (value) next.set(name, value);
    else next.delete(name);
    latest.current.setParams(next, { replace: true });
    setSelected(new Set());
  }

  const refresh = () =>
    qc.invalidateQueries({ predicate: (qq) => (qq.queryKey[0] as { _id?: string })?._id === 'bookmarksListBookmarks' });

  async function runBulk(label: string, fn: (b: BookmarkOut) => Promise<unknown>) {
    const targets = items.filter((b) => selected.has(b.id));
    setBulkError(null);
    setBulk({ label, done: 0, total: targets.length });
    const results = await mapLimit(targets, 6, fn, (done) => setBulk({ label, done, total: targets.length }));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed) setBulkError(`${failed} of ${targets.length} could not be changed.`);
    setBulk(null);
    setSelected(new Set());
    await refresh();
  }

  function bulkTag(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const input = e.currentTarget.elements.namedItem('bulk-tags') as HTMLInputElement;
    const add = parseTags(input.value);
    if (!add.length) return;
    input.value = '';
    void runBulk('Tagging', (b) =>
      bookmarksUpdateBookmark({
        path: { bookmark_id: b.id },
        body: { tags: [...new Set([...b.tags, ...add])] },
        throwOnError: true,
      }),
    );
  }

  function bulkState(label: string, body: { read?: boolean; archived?: boolean; favorite?: boolean }) {
    void runBulk(label, (b) => bookmarksUpdateBookmark({ path: { bookmark_id: b.id }, body, throwOnError: true }));
  }

  function bulkDelete() {
    if (!window.confirm(`Delete ${selected.size} item${selected.size === 1 ? '' : 's'}? This cannot be undone.`)) return;
    void runBulk('Deleting', (b) => bookmarksDeleteBookmark({ path: { bookmark_id: b.id }, throwOnError: true }));
  }

  const allSelected = items.length > 0 && selected.size === items.length;
  return (
    <section className="page library" aria-labelledby="library-title">
      <div className="page-head">
        <h1 id="library-title">Library</h1>
        <span className="muted count" aria-live="polite">
          {query.isSuccess ? `${items.length.toLocaleString()}${query.hasNextPage ? '+' : ''} item${items.length === 1 ? '' : 's'}` : ''}
        </span>
        <div className="view-toggle" role="group" aria-label="View">
          <button type="button" aria-pressed={view === 'list'} onClick={() => setView('list')}>
            <span aria-hidden="true">☰</span> List
          </button>
          <button type="button" aria-pressed={view === 'grid'} onClick={() => setView('grid')}>
            <span aria-hidden="true">▦</span> Grid
          </button>
        </div>
      </div>
      <SaveForm />
      <form className="filters" role="search" aria-label="Filter the library" onSubmit={(e) => e.preventDefault()}>
        <label>
          Filter
          <input
            type="search"
            defaultValue={q}
            placeholder="Title or URL"
            onChange={(e) => {
              const v = e.currentTarget.value;
              window.clearTimeout(debounce.current);
              debounce.current = window.setTimeout(() => {
                if (window.location.pathname === '/') setParam('q', v.trim() || undefined); // not after leaving
              }, 250);
            }}
          />
        </label>
        <label>
          Tag
          <input
            defaultValue={tag}
            key={tag ?? ''}
            placeholder="any"
            onKeyDown={(e) => {
              if (e.key === 'Enter') setParam('tag', e.currentTarget.value.trim() || undefined);
            }}
            onBlur={(e) => setParam('tag', e.currentTarget.value.trim() || undefined)}
          />
        </label>
        <label>
          Show
          <select value={show[0]} onChange={(e) => setParam('show', e.currentTarget.value === 'library' ? undefined : e.currentTarget.value)}>
            {SHOWS.map(([v, l]) => (
              <option key={v} value={v}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={status ?? ''} onChange={(e) => setParam('status', e.currentTarget.value || undefined)}>
            {STATUSES.map(([v, l]) => (
              <option key={v} value={v}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Sort
          <select value={sort} onChange={(e) => setParam('sort', e.currentTarget.value === '-saved_at' ? undefined : e.currentTarget.value)}>
            {SORTS.map(([v, l]) => (
              <option key={v} value={v}>
                {l}
              </option>
            ))}
          </select>
        </label>
      </form>
      <div className="bulkbar" role="toolbar" aria-label="Selection">
        <label className="inline">
          <input
            type="checkbox"
            checked={allSelected}
            ref={(el) => {
              if (el) el.indeterminate = selected.size > 0 && !allSelected;
            }}
            onChange={() => setSelected(allSelected ? new Set() : new Set(items.map((b) => b.id)))}
            disabled={!items.length}
          />
          {selected.size ? `${selected.size.toLocaleString()} selected` : 'Select all loaded'}
        </label>
        {selected.size > 0 ? (
          <>
            <form className="inline" onSubmit={bulkTag}>
              <label className="visually-hidden" htmlFor="bulk-tags">
                Tags to add to the selected items
              </label>
              <input id="bulk-tags" name="bulk-tags" placeholder="add tags" />
              <button type="submit" disabled={Boolean(bulk)}>
                Add tags
              </button>
            </form>
            <button type="button" onClick={() => bulkState('Marking read', { read: true })} disabled={Boolean(bulk)}>
              Mark read
            </button>
            {show[0] === 'archive' ? (
              <button type="button" onClick={() => bulkState('Restoring', { archived: false })} disabled={Boolean(bulk)}>
                Unarchive
              </button>
            ) : (
              <button type="button" onClick={() => bulkState('Archiving', { archived: true })} disabled={Boolean(bulk)}>
                Archive
              </button>
            )}
            <button type="button" className="danger" onClick={bulkDelete} disabled={Boolean(bulk)}>
              Delete selected
            </button>
          </>
        ) : null}
        {bulk ? (
          <span className="inline" role="status">
            {bulk.label} {bulk.done}/{bulk.total}
            <progress max={bulk.total} value={bulk.done} aria-label={`${bulk.label} progress`} />
          </span>
        ) : null}
      </div>
      {unseen > 0 ? (
        <button
          type="button"
          className="new-items"
          onClick={() => {
            clearUnseenItems();
            // Back to the first page, with what was saved meanwhile.
            void qc.resetQueries({ predicate: (qq) => (qq.queryKey[0] as { _id?: string })?._id === 'bookmarksListBookmarks' });
          }}
        >
          Show {unseen.toLocaleString()} new item{unseen === 1 ? '' : 's'}
        </button>
      ) : null}
      {bulkError ? <ErrorNotice>{bulkError}</ErrorNotice> : null}
      <ErrorNotice error={query.error} />
      {query.isSuccess && items.length === 0 ? (
        tag || status || q || show[0] !== 'library' ? (
          <InfoNotice>{show[0] === 'archive' && !tag && !status && !q ? 'Nothing archived yet.' : 'Nothing matches these filters.'}</InfoNotice>
        ) : (
          <FirstSteps />
        )
      ) : null}
      {query.isPending ? <p className="muted" role="status">Loading…</p> : null}
      {items.length > 0 ? (
        view === 'grid' ? (
          <BookmarkGrid
            items={items}
            hasMore={Boolean(query.hasNextPage)}
            loadingMore={query.isFetchingNextPage}
            loadMore={loadMore}
            selected={selected}
            toggle={toggle}
          />
        ) : (
          <BookmarkList
            items={items}
            hasMore={Boolean(query.hasNextPage)}
            loadingMore={query.isFetchingNextPage}
            loadMore={loadMore}
            selected={selected}
            toggle={toggle}
          />
        )
      ) : null}
    </section>
  );
}
