import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useLocation, useSearchParams } from 'react-router';

import { bookmarksListBookmarksInfiniteOptions } from '../client/@tanstack/react-query.gen';
import { bookmarksDeleteBookmark, bookmarksUpdateBookmark, listsRemoveFromList } from '../client/sdk.gen';
import type { BookmarkOut, BookmarksListBookmarksData, ListOut } from '../client/types.gen';
import { AddToList } from '../components/AddToList';
import { BookmarkGrid } from '../components/BookmarkGrid';
import { BookmarkList } from '../components/BookmarkList';
import { FirstSteps } from '../components/FirstSteps';
import { ErrorNotice, InfoNotice } from '../components/Notice';
import { SaveForm } from '../components/SaveForm';
import { TagField } from '../components/TagField';
import { clearUnseenItems, forgetUnseen, useUnseenItems } from '../lib/events';
import { mapLimit, parseTags } from '../lib/format';
import { useLibraryView } from '../lib/libraryView';
import { refreshLists } from '../lib/lists';
import { type ExportFormat, fetchExport } from '../lib/work';

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

/** The library, or with `list` one list's items (ListPage), with the same filters and selection. */
export function LibraryPage({ list }: { list?: ListOut } = {}) {
  const [params, setParams] = useSearchParams();
  const { pathname } = useLocation();
  const sublists = Boolean(list) && params.get('sublists') === '1';
  // The box shows a click at once: the address it follows changes in a transition, during
  // which a box bound to it alone would flip back until the list has loaded.
  const [sublistsBox, setSublistsBox] = useState(sublists);
  useEffect(() => setSublistsBox(sublists), [sublists]);
  const qc = useQueryClient();
  const tag = params.get('tag') || undefined;
  const status = (params.get('status') as Status) || undefined;
  const sort = (params.get('sort') as Sort) || '-saved_at';
  const q = params.get('q') || undefined;
  const show = SHOWS.find(([v]) => v === params.get('show')) ?? SHOWS[0];
  const [view, setView] = useLibraryView();

  const query = useInfiniteQuery({
    ...bookmarksListBookmarksInfiniteOptions({
      query: { tag, status, sort, q, ...show[2], limit: PAGE_SIZE, ...(list ? { list: list.id, sublists } : {}) },
    }),
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
  const [bulkDone, setBulkDone] = useState<string | null>(null);
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
    const form = e.currentTarget;
    const add = parseTags(String(new FormData(form).get('bulk-tags') ?? ''));
    if (!add.length) return;
    form.reset();
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

  async function removeFromList() {
    if (!list) return;
    setBulkError(null);
    try {
      const { data } = await listsRemoveFromList({ path: { list_id: list.id }, body: { bookmark_ids: [...selected] }, throwOnError: true });
      setBulkDone(`${data.changed} taken out of ${list.name}; they are still in your library.`);
      setSelected(new Set());
      await refreshLists(qc);
    } catch (err) {
      setBulkError(err instanceof Error ? err.message : 'They could not be taken out of the list.');
    }
  }

  const [exporting, setExporting] = useState(false);
  async function exportList(format: ExportFormat) {
    if (!list) return;
    setExporting(true);
    try {
      const blob = await fetchExport(format, { list: list.id, sublists });
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `fuze-${list.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.${format}`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setBulkError(err instanceof Error ? err.message : 'The export failed.');
    } finally {
      setExporting(false);
    }
  }

  function bulkDelete() {
    if (!window.confirm(`Delete ${selected.size} item${selected.size === 1 ? '' : 's'}? This cannot be undone.`)) return;
    void runBulk('Deleting', (b) => bookmarksDeleteBookmark({ path: { bookmark_id: b.id }, throwOnError: true }));
  }

  const allSelected = items.length > 0 && selected.size === items.length;
  // What the list and the grid show alike.
  const shown = {
    items,
    hasMore: Boolean(query.hasNextPage),
    loadingMore: query.isFetchingNextPage,
    loadMore,
    selected,
    toggle,
  };
  return (
    <section className="page library" aria-labelledby="library-title">
      {list && list.path.length > 1 ? (
        <nav className="crumbs small" aria-label="Parent lists">
          <Link to="/lists">Lists</Link>
          {list.path.slice(0, -1).map((name, i) => (
            <span key={`${i}-${name}`}> / {name}</span>
          ))}
        </nav>
      ) : null}
      <div className="page-head">
        <h1 id="library-title">{list ? list.name : 'Library'}</h1>
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
      {list ? (
        <div className="inline list-tools" role="group" aria-label="This list">
          {list.total !== list.count ? (
            <label className="inline">
              <input
                type="checkbox"
                checked={sublistsBox}
                onChange={(e) => {
                  const on = e.currentTarget.checked;
                  setSublistsBox(on);
                  setParam('sublists', on ? '1' : undefined);
                }}
              />
              Include sub-lists ({list.total})
            </label>
          ) : null}
          <span className="muted small">Export:</span>
          {(['html', 'json', 'csv'] as const).map((f) => (
            <button key={f} type="button" className="small" onClick={() => void exportList(f)} disabled={exporting}>
              {f.toUpperCase()}
            </button>
          ))}
          <Link className="small" to="/lists">
            Manage lists
          </Link>
        </div>
      ) : (
        <SaveForm />
      )}
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
                if (window.location.pathname === pathname) setParam('q', v.trim() || undefined); // not after leaving
              }, 250);
            }}
          />
        </label>
        <label>
          Tag
          <TagField
            name="tag"
            label="Tag"
            multiple={false}
            defaultValue={tag ?? ''}
            key={tag ?? ''}
            placeholder="any"
            onChoose={(v) => setParam('tag', v.trim() || undefined)}
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
              <TagField id="bulk-tags" name="bulk-tags" label="Tags to add to the selected items" placeholder="add tags" />
              <button type="submit" disabled={Boolean(bulk)}>
                Add tags
              </button>
            </form>
            <AddToList ids={[...selected]} exclude={list ? [list.id] : []} onDone={(m) => { setBulkDone(m); setSelected(new Set()); }} />
            {list ? (
              <button type="button" onClick={() => void removeFromList()} disabled={Boolean(bulk)}>
                Remove from list
              </button>
            ) : null}
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
      {bulkDone ? <InfoNotice>{bulkDone}</InfoNotice> : null}
      <ErrorNotice error={query.error} />
      {query.isSuccess && items.length === 0 ? (
        list && !tag && !status && !q && show[0] === 'library' ? (
          <InfoNotice>Nothing in this list yet. Select items in the Library and choose “Add to list”.</InfoNotice>
        ) : tag || status || q || show[0] !== 'library' || list ? (
          <InfoNotice>{show[0] === 'archive' && !tag && !status && !q ? 'Nothing archived yet.' : 'Nothing matches these filters.'}</InfoNotice>
        ) : (
          <FirstSteps />
        )
      ) : null}
      {query.isPending ? <p className="muted" role="status">Loading…</p> : null}
      {items.length > 0 ? (
        view === 'grid' ? (
          <BookmarkGrid {...shown} />
        ) : (
          <BookmarkList {...shown} />
        )
      ) : null}
    </section>
  );
}
