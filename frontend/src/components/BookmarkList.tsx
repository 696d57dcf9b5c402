/**
 * The library as a virtualised list: only the rows on screen (plus a few) are in the DOM, so
 * 50,000 items scroll as smoothly as 50. Rows have a fixed height; the next cursor page is
 * fetched when the visible window nears the end of what is loaded.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { type KeyboardEvent, memo, useEffect, useRef } from 'react';
import { Link } from 'react-router';

import type { BookmarkOut } from '../client/types.gen';
import { siteName } from '../lib/format';
import { StatusBadge } from './StatusBadge';
import { TimeAgo } from './TimeAgo';

export const ROW_HEIGHT = 68;

interface Props {
  items: BookmarkOut[];
  total?: number;
  hasMore: boolean;
  loadingMore: boolean;
  loadMore: () => void;
  selected: ReadonlySet<string>;
  toggle: (id: string, shift: boolean) => void;
  height?: number | string;
}

const Row = memo(function Row({
  b,
  checked,
  toggle,
  index,
  count,
}: {
  b: BookmarkOut;
  checked: boolean;
  toggle: (id: string, shift: boolean) => void;
  index: number;
  count: number;
}) {
  const title = b.title || b.url;
  const read = Math.round(b.progress * 100);
  return (
    <div
      className={`row${checked ? ' selected' : ''}${b.read_at ? ' is-read' : ''}`}
      role="listitem"
      aria-setsize={count}
      aria-posinset={index + 1}
    >
      <input
        type="checkbox"
        checked={checked}
        onChange={(e) => toggle(b.id, (e.nativeEvent as MouseEvent).shiftKey)}
        aria-label={`Select ${title}`}
      />
      <div className="row-main">
        <Link to={`/items/${b.id}`} className="row-title" data-row-link={index}>
          {title}
        </Link>
        <div className="row-meta">
          {b.favorite ? (
            <span className="fav" title="Favourite">
              <span aria-hidden="true">★</span>
              <span className="visually-hidden">Favourite</span>
            </span>
          ) : null}
          {/* States first: on a narrow row the host and time are what gets cut. */}
          {b.read_at ? <span className="state">read</span> : null}
          {b.archived_at ? <span className="state">archived</span> : null}
          <span className="host">{siteName(b)}</span>
          <span aria-hidden="true">·</span>
          <TimeAgo iso={b.saved_at} />
          {b.archive_status === 'ready' ? (
            <span className="copy-state" title="An archived copy of the page is kept: it opens with the site gone.">
              Copy kept
            </span>
          ) : b.archive_status === 'failed' || b.archive_status === 'skipped' ? (
            <span className="copy-state copy-missing" title="The newest archived copy could not be made; see the item page.">
              {b.archive_status === 'failed' ? 'Copy failed' : 'No copy: storage full'}
            </span>
          ) : null}
          {b.status === 'failed' && b.error_message ? (
            <span className="row-error" title={b.error_message}>
              {b.error_message}
            </span>
          ) : null}
          {b.tags.length ? (
            <span className="tags">
              {b.tags.slice(0, 4).map((t) => (
                <span key={t} className="tag">
                  {t}
                </span>
              ))}
              {b.tags.length > 4 ? <span className="tag more">+{b.tags.length - 4}</span> : null}
            </span>
          ) : null}
        </div>
      </div>
      <StatusBadge status={b.status} error={b.error_message} />
      {read > 0 && !b.read_at ? (
        <div
          className="row-progress"
          role="progressbar"
          aria-label={`Read ${read}%`}
          aria-valuenow={read}
          aria-valuemin={0}
          aria-valuemax={100}
          style={{ width: `${read}%` }}
        />
      ) : null}
    </div>
  );
});

export function BookmarkList({ items, hasMore, loadingMore, loadMore, selected, toggle, height = '100%' }: Props) {
  const parentRef = useRef<HTMLDivElement>(null);
  const count = items.length + (hasMore ? 1 : 0);
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => parentRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 8,
    getItemKey: (i) => items[i]?.id ?? `loader-${i}`,
    initialRect: { width: 800, height: 600 },
  });
  const virtualItems = virtualizer.getVirtualItems();
  const last = virtualItems[virtualItems.length - 1];

  useEffect(() => {
    if (last && hasMore && !loadingMore && last.index >= items.length - 25) loadMore();
  }, [last?.index, hasMore, loadingMore, items.length, loadMore]);

  // Arrow keys move between rows, scrolling the list as needed.
  function onKeyDown(e: KeyboardEvent<HTMLDivElement>) {
    const target = e.target as HTMLElement;
    const at = target.closest('.row')?.querySelector<HTMLElement>('[data-row-link]');
    if (!at) return;
    const index = Number(at.dataset.rowLink);
    let next = index;
    if (e.key === 'ArrowDown' || e.key === 'j') next = Math.min(index + 1, items.length - 1);
    else if (e.key === 'ArrowUp' || e.key === 'k') next = Math.max(index - 1, 0);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = items.length - 1;
    else if (e.key === 'x' || e.key === ' ') {
      if (target.tagName !== 'INPUT') {
        e.preventDefault();
        toggle(items[index].id, e.shiftKey);
      }
      return;
    } else return;
    e.preventDefault();
    virtualizer.scrollToIndex(next, { align: 'auto' });
    requestAnimationFrame(() =>
      requestAnimationFrame(() => parentRef.current?.querySelector<HTMLElement>(`[data-row-link="${next}"]`)?.focus()),
    );
  }

  return (
    <div
      ref={parentRef}
      className="list-scroll"
      style={{ height }}
      onKeyDown={onKeyDown}
      data-testid="library-list"
    >
      <div role="list" aria-label="Saved items" style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
        {virtualItems.map((v) => {
          const b = items[v.index];
          return (
            <div
              key={v.key}
              className="row-slot"
              style={{ position: 'absolute', top: 0, left: 0, right: 0, height: v.size, transform: `translateY(${v.start}px)` }}
            >
              {b ? (
                <Row b={b} checked={selected.has(b.id)} toggle={toggle} index={v.index} count={items.length} />
              ) : (
                <div className="row loading-row" role="listitem" aria-busy="true">
                  Loading more…
                </div>
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
}
