/**
 * Every highlight across the library: newest first, or the ones that match a query (by
 * words, meaning or both, as search does), filtered by colour; each with its page, its note,
 * and a link back to it in the reader. Export writes them all as Markdown.
 */
import { useInfiniteQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';

import { highlightsListHighlights } from '../client/sdk.gen';
import type { HighlightsListHighlightsData } from '../client/types.gen';
import { downloadMarkdown } from '../components/Highlights';
import { ErrorNotice, InfoNotice } from '../components/Notice';
import { COLORS } from '../components/ReaderContent';
import { TimeAgo } from '../components/TimeAgo';
import { hostOf } from '../lib/format';
import { countOf } from '../lib/plural';

type Query = NonNullable<HighlightsListHighlightsData['query']>;
type Mode = NonNullable<Query['mode']>;
type Color = NonNullable<Query['color']>;
const MODES: [Mode, string][] = [
  ['hybrid', 'Hybrid'],
  ['semantic', 'Meaning'],
  ['keyword', 'Keywords'],
];

export function HighlightsPage() {
  const [params] = useSearchParams();
  const [draft, setDraft] = useState(() => params.get('q') ?? '');
  const [q, setQ] = useState(() => (params.get('q') ?? '').trim());
  const [mode, setMode] = useState<Mode>('hybrid');
  const [color, setColor] = useState<Color | ''>('');
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const t = window.setTimeout(() => setQ(draft.trim()), 300);
    return () => window.clearTimeout(t);
  }, [draft]);

  const list = useInfiniteQuery({
    queryKey: [{ _id: 'highlightsListHighlights', q, mode, color }],
    queryFn: async ({ pageParam }) =>
      (
        await highlightsListHighlights({
          query: { q: q || undefined, mode, color: color || undefined, cursor: pageParam ?? undefined, limit: 50 },
          throwOnError: true,
        })
      ).data,
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    placeholderData: (prev) => prev,
  });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  const total = list.data?.pages[0]?.total ?? 0;

  return (
    <section className="page" aria-labelledby="highlights-page-title">
      <div className="page-head">
        <h1 id="highlights-page-title">Highlights</h1>
        <button type="button" onClick={() => void downloadMarkdown().catch(setError)} disabled={!total && !q}>
          Export all as Markdown
        </button>
      </div>
      <form className="search-form" role="search" onSubmit={(e) => (e.preventDefault(), setQ(draft.trim()))}>
        <label className="grow">
          <span className="visually-hidden">Search your highlights and notes</span>
          <input type="search" value={draft} onChange={(e) => setDraft(e.currentTarget.value)} placeholder="Search your highlights and notes…" />
        </label>
        <fieldset className="segmented">
          <legend className="visually-hidden">Search mode</legend>
          {MODES.map(([m, label]) => (
            <label key={m} className={m === mode ? 'on' : ''}>
              <input type="radio" name="hl-mode" value={m} checked={m === mode} onChange={() => setMode(m)} />
              {label}
            </label>
          ))}
        </fieldset>
        <label className="inline type-filter">
          Colour
          <select value={color} onChange={(e) => setColor(e.currentTarget.value as Color | '')}>
            <option value="">any</option>
            {COLORS.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNotice error={list.error || error} />
      {list.isSuccess ? (
        <p className="muted small" role="status">
          {q ? `${countOf(total, 'highlight')} match “${q}”` : countOf(total, 'highlight')}
        </p>
      ) : null}
      {list.isSuccess && !items.length ? (
        <InfoNotice>
          {q
            ? `None of your highlights or notes matches “${q}” well.`
            : 'No highlights yet. Open a saved page, select text in the reader and pick a colour.'}
        </InfoNotice>
      ) : null}
      <ol className="results" aria-label="Highlights" aria-busy={list.isFetching}>
        {items.map((h) => (
          <li key={h.id} className="result card">
            <blockquote className={`hl-quote hl-border-${h.color}`}>{h.quote}</blockquote>
            {h.note ? <p className="hl-note">{h.note}</p> : null}
            <div className="row-meta">
              <Link to={`/items/${h.bookmark.id}`}>{h.bookmark.title || h.bookmark.url}</Link>
              <span aria-hidden="true">·</span>
              <span className="host">{hostOf(h.bookmark.url)}</span>
              <span aria-hidden="true">·</span>
              <TimeAgo iso={h.created_at} />
            </div>
          </li>
        ))}
      </ol>
      {list.hasNextPage ? (
        <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          {list.isFetchingNextPage ? 'Loading…' : 'More'}
        </button>
      ) : null}
    </section>
  );
}
