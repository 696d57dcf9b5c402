/**
 * The library as a virtualised grid of cards: each card shows the page's picture (the small
 * WebP the worker made, GET /api/bookmarks/{id}/thumbnail) or, without one, a placeholder in
 * a colour of its site with the site's initial; its favicon, site, title, reading time, state,
 * tags and how far it has been read. Only the rows of cards on screen (plus a few) are in the
 * DOM, and every row has the same height (the picture box has a fixed 16:9 shape), so 50,000
 * items scroll as the list does and nothing moves when a picture arrives.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { createContext, type KeyboardEvent, memo, useContext, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { Link } from 'react-router';

import type { BookmarkOut } from '../client/types.gen';
import { initialOf, siteHue, thumbnailUrl, webUrl } from '../lib/cards';
import { siteName } from '../lib/format';
import { StatusBadge } from './StatusBadge';

const MIN_CARD = 220; // px: narrower and the grid has one column fewer
const GAP = 14;
const PAD = 12; // above the first row and below the last
const PAD_X = 3; // beside the cards: room for their shadow and focus ring, in line with the page
const INFO_HEIGHT = 136; // the text under the picture (fixed: rows must be of one height)

interface Props {
  items: BookmarkOut[];
  hasMore: boolean;
  loadingMore: boolean;
  loadMore: () => void;
  selected: ReadonlySet<string>;
  toggle: (id: string, shift: boolean) => void;
}

// Whether the grid is scrolling, read by a card when it mounts (a ref: no re-render of every
// card when scrolling starts or stops).
const Scrolling = createContext<{ current: boolean }>({ current: false });
// A card mounted while scrolling asks for its picture after this long on (or near) the screen:
// a fling past thousands of cards asks for none of theirs (each would be a request, and the
// per-address rate limit counts them), while at reading speed the rows mounted ahead of the
// screen have theirs before they are seen.
const SETTLE_MS = 150;

export function layout(width: number): { columns: number; cardWidth: number; rowHeight: number } {
  const inner = Math.max(0, width - 2 * PAD_X);
  const columns = Math.max(1, Math.floor((inner + GAP) / (MIN_CARD + GAP)));
  const cardWidth = (inner - GAP * (columns - 1)) / columns;
  return { columns, cardWidth, rowHeight: Math.round((cardWidth * 9) / 16 + INFO_HEIGHT + GAP) };
}

function Placeholder({ site }: { site: string }) {
  return (
    <div className="card-placeholder" style={{ ['--site-hue' as string]: siteHue(site) }} aria-hidden="true">
      <span>{initialOf(site)}</span>
    </div>
  );
}

function Favicon({ b, site }: { b: BookmarkOut; site: string }) {
  const src = webUrl(b.favicon_url);
  const [failed, setFailed] = useState<string | null>(null);
  if (!src || failed === src) {
    return (
      <span className="card-favicon card-favicon-letter" style={{ ['--site-hue' as string]: siteHue(site) }} aria-hidden="true">
        {initialOf(site)}
      </span>
    );
  }
  return (
    <img
      className="card-favicon"
      src={src}
      alt=""
      width={16}
      height={16}
      loading="lazy"
      decoding="async"
      referrerPolicy="no-referrer"
      onError={() => setFailed(src)}
    />
  );
}

const Card = memo(function Card({
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
  const site = siteName(b);
  const scrolling = useContext(Scrolling);
  const [settled, setSettled] = useState(() => !scrolling.current);
  useEffect(() => {
    if (settled) return;
    const timer = window.setTimeout(() => setSettled(true), SETTLE_MS);
    return () => window.clearTimeout(timer);
  }, [settled]);
  const picture = settled ? thumbnailUrl(b.thumbnail_url) : undefined;
  // A picture that fails to load (gone, expired address, offline) shows the placeholder.
  const [broken, setBroken] = useState<string | null>(null);
  const read = Math.round(b.progress * 100);
  const titleId = `card-title-${b.id}`;
  return (
    <article
      className={`item-card${checked ? ' selected' : ''}${b.read_at ? ' is-read' : ''}`}
      role="listitem"
      aria-setsize={count}
      aria-posinset={index + 1}
      aria-labelledby={titleId}
    >
      <div className="card-picture">
        {/* The title is the card's link for keyboards and screen readers; this one is for the pointer. */}
        <Link to={`/items/${b.id}`} tabIndex={-1} aria-hidden="true">
          {picture && broken !== picture ? (
            <img src={picture} alt="" width={480} height={270} loading="lazy" decoding="async" onError={() => setBroken(picture)} />
          ) : (
            <Placeholder site={site} />
          )}
        </Link>
        {read > 0 && !b.read_at ? (
          <div
            className="card-progress"
            role="progressbar"
            aria-label={`Read ${read}%`}
            aria-valuenow={read}
            aria-valuemin={0}
            aria-valuemax={100}
            style={{ width: `${read}%` }}
          />
        ) : null}
      </div>
      <input
        type="checkbox"
        className="card-check"
        checked={checked}
        onChange={(e) => toggle(b.id, (e.nativeEvent as MouseEvent).shiftKey)}
        aria-label={`Select ${title}`}
      />
      <div className="card-body">
        <div className="card-site">
          <Favicon b={b} site={site} />
          <span className="host">{site}</span>
        </div>
        <Link id={titleId} to={`/items/${b.id}`} className="card-title" data-card-link={index} title={title}>
          {title}
        </Link>
        <div className="card-meta">
          {/* A status while it is not ready first: on a narrow card the reading time is what gets cut. */}
          {b.status !== 'ready' ? <StatusBadge status={b.status} error={b.error_message} /> : null}
          {b.favorite ? (
            <span className="fav" title="Favourite">
              <span aria-hidden="true">★</span>
              <span className="visually-hidden">Favourite</span>
            </span>
          ) : null}
          <span className="state">{b.read_at ? 'Read' : 'Unread'}</span>
          {b.archived_at ? <span className="state">Archived</span> : null}
          {b.reading_time_minutes ? <span>{b.reading_time_minutes} min read</span> : null}
        </div>
        {b.tags.length ? (
          <div className="card-tags">
            {b.tags.slice(0, 3).map((t) => (
              <span key={t} className="tag">
                {t}
              </span>
            ))}
            {b.tags.length > 3 ? <span className="tag more">+{b.tags.length - 3}</span> : null}
          </div>
        ) : null}
      </div>
    </article>
  );
});

export function BookmarkGrid({ items, hasMore, loadingMore, loadMore, selected, toggle }: Props) {
  const parentRef = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(1000);
  useLayoutEffect(() => {
    const el = parentRef.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const { columns, rowHeight } = layout(width);
  const rows = Math.ceil(items.length / columns);
  const virtualizer = useVirtualizer({
    count: rows + (hasMore ? 1 : 0),
    getScrollElement: () => parentRef.current,
    estimateSize: () => rowHeight,
    overscan: 3,
    paddingStart: PAD,
    paddingEnd: PAD,
    initialRect: { width: 1000, height: 600 },
  });
  // A new width gives new row heights: lay the rows out again.
  useEffect(() => virtualizer.measure(), [virtualizer, rowHeight]);
  const scrolling = useRef(false);
  scrolling.current = virtualizer.isScrolling;
  const virtualRows = virtualizer.getVirtualItems();
  const last = virtualRows[virtualRows.length - 1];

  useEffect(() => {
    if (last && hasMore && !loadingMore && (last.index + 1) * columns >= items.length - 25) loadMore();
  }, [last?.index, columns, hasMore, loadingMore, items.length, loadMore]);

  // Arrow keys move between cards (up and down by a row), scrolling as needed.
  function onKeyDown(e: KeyboardEvent<HTMLDivElement>) {
    const target = e.target as HTMLElement;
    const at = target.closest('.item-card')?.querySelector<HTMLElement>('[data-card-link]');
    if (!at) return;
    const index = Number(at.dataset.cardLink);
    const end = items.length - 1;
    let next = index;
    if (e.key === 'ArrowRight' || e.key === 'l') next = Math.min(index + 1, end);
    else if (e.key === 'ArrowLeft' || e.key === 'h') next = Math.max(index - 1, 0);
    else if (e.key === 'ArrowDown' || e.key === 'j') next = Math.min(index + columns, end);
    else if (e.key === 'ArrowUp' || e.key === 'k') next = Math.max(index - columns, 0);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = end;
    else if (e.key === 'x' || e.key === ' ') {
      if (target.tagName !== 'INPUT') {
        e.preventDefault();
        toggle(items[index].id, e.shiftKey);
      }
      return;
    } else return;
    e.preventDefault();
    virtualizer.scrollToIndex(Math.floor(next / columns), { align: 'auto' });
    requestAnimationFrame(() =>
      requestAnimationFrame(() => parentRef.current?.querySelector<HTMLElement>(`[data-card-link="${next}"]`)?.focus()),
    );
  }

  return (
    <Scrolling.Provider value={scrolling}>
      <div ref={parentRef} className="list-scroll grid-scroll" onKeyDown={onKeyDown} data-testid="library-grid">
        <div role="list" aria-label="Saved items" style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualRows.map((v) => {
            const start = v.index * columns;
            const cards = items.slice(start, start + columns);
            return (
              <div
                key={v.key}
                className="card-row"
                style={{
                  transform: `translateY(${v.start}px)`,
                  height: rowHeight - GAP,
                  gridTemplateColumns: `repeat(${columns}, minmax(0, 1fr))`,
                  gap: GAP,
                  left: PAD_X,
                  right: PAD_X,
                }}
              >
                {cards.length ? (
                  cards.map((b, k) => (
                    <Card key={b.id} b={b} checked={selected.has(b.id)} toggle={toggle} index={start + k} count={items.length} />
                  ))
                ) : (
                  <div className="card-loading" role="listitem" aria-busy="true">
                    Loading more…
                  </div>
                )}
              </div>
            );
          })}
        </div>
      </div>
    </Scrolling.Provider>
  );
}
