import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';

import { searchSearchOptions } from '../client/@tanstack/react-query.gen';
import type { SearchSearchData } from '../client/types.gen';
import { Match } from '../components/Match';
import { ErrorNotice, InfoNotice } from '../components/Notice';
import { StatusBadge } from '../components/StatusBadge';
import { safeHighlight, siteName } from '../lib/format';

type Mode = NonNullable<NonNullable<SearchSearchData['query']>['mode']>;
type ContentType = NonNullable<NonNullable<SearchSearchData['query']>['content_type']>;
const TYPES: ContentType[] = ['article', 'tutorial', 'documentation', 'reference', 'video', 'paper', 'repository', 'discussion', 'news', 'course', 'tool', 'other'];
const MODES: [Mode, string, string][] = [
  ['hybrid', 'Hybrid', 'Meaning and keywords together'],
  ['semantic', 'Meaning', 'Finds pages about the same thing in other words'],
  ['keyword', 'Keywords', 'Exact words, ranked with BM25'],
];

export function SearchPage() {
  const [params, setParams] = useSearchParams();
  const tag = params.get('tag') || undefined;
  const [draft, setDraft] = useState(() => params.get('q') ?? '');
  const [q, setQ] = useState(() => (params.get('q') ?? '').trim());
  const [mode, setMode] = useState<Mode>(() => (params.get('mode') as Mode) || 'hybrid');
  const [type, setType] = useState<ContentType | ''>(() => (params.get('type') as ContentType) || '');
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => input.current?.focus(), []);
  useEffect(() => {
    const t = window.setTimeout(() => setQ(draft.trim()), 300);
    return () => window.clearTimeout(t);
  }, [draft]);
  useEffect(() => {
    // Keep the address shareable without a router navigation, which could land after the user
    // has already moved to another page.
    if (window.location.pathname !== '/search') return;
    const next = new URLSearchParams(window.location.search);
    if (q) next.set('q', q);
    else next.delete('q');
    next.set('mode', mode);
    if (type) next.set('type', type);
    else next.delete('type');
    window.history.replaceState(window.history.state, '', `/search?${next}`);
  }, [q, mode, type]);

  const search = useQuery({
    ...searchSearchOptions({ query: { q, mode, tag, content_type: type || undefined, limit: 30 } }),
    enabled: q.length > 0,
    placeholderData: (prev) => prev,
  });
  // Hits under the server's relevance floor (weak) are listed apart, after the confident ones.
  const confident = search.data?.items.filter((hit) => !hit.weak) ?? [];
  const weaker = search.data?.items.filter((hit) => hit.weak) ?? [];

  return (
    <section className="page" aria-labelledby="search-title">
      <h1 id="search-title">Search</h1>
      <form
        className="search-form"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setQ(draft.trim());
        }}
      >
        <label className="grow">
          <span className="visually-hidden">Search your library</span>
          <input
            ref={input}
            type="search"
            value={draft}
            onChange={(e) => setDraft(e.currentTarget.value)}
            placeholder="Search everything you saved…"
            aria-describedby="search-hint"
          />
        </label>
        <fieldset className="segmented">
          <legend className="visually-hidden">Search mode</legend>
          {MODES.map(([m, label, hint]) => (
            <label key={m} title={hint} className={m === mode ? 'on' : ''}>
              <input type="radio" name="mode" value={m} checked={m === mode} onChange={() => setMode(m)} />
              {label}
            </label>
          ))}
        </fieldset>
        <label className="inline type-filter">
          Type
          <select value={type} onChange={(e) => setType(e.currentTarget.value as ContentType | '')}>
            <option value="">any</option>
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        {tag ? (
          <span className="tag">
            tag: {tag}{' '}
            <button type="button" className="link" onClick={() => { const n = new URLSearchParams(params); n.delete('tag'); setParams(n); }} aria-label={`Remove tag filter ${tag}`}>
              ×
            </button>
          </span>
        ) : null}
      </form>
      <p id="search-hint" className="muted small">
        {MODES.find(([m]) => m === mode)?.[2]}. Press <kbd>/</kbd> anywhere to come here.
      </p>
      <ErrorNotice error={search.error} />
      {q && search.isSuccess && search.data.items.length === 0 ? <InfoNotice>No results for “{q}”.</InfoNotice> : null}
      {q && search.isSuccess && search.data.items.length > 0 && confident.length === 0 ? (
        <InfoNotice>
          Nothing in your library matches this well yet. Save pages about “{q}” and they will show up here.
        </InfoNotice>
      ) : null}
      <ol className="results" aria-label="Search results" aria-busy={search.isFetching}>
        {q
          ? confident.map((hit) => (
              <li key={hit.bookmark.id} className="result card">
                <div className="result-head">
                  <Link to={`/items/${hit.bookmark.id}`} className="row-title">
                    {hit.bookmark.title || hit.bookmark.url}
                  </Link>
                  {hit.bookmark.status !== 'ready' ? <StatusBadge status={hit.bookmark.status} error={hit.bookmark.error_message} /> : null}
                </div>
                <div className="row-meta">
                  <span className="host">{siteName(hit.bookmark)}</span>
                  <span aria-hidden="true">·</span>
                  <Match score={hit.score} />
                  {hit.bookmark.tags.map((t) => (
                    <span className="tag" key={t}>
                      {t}
                    </span>
                  ))}
                </div>
                {hit.highlights.map((h, i) => (
                  <p key={i} className="snippet" dangerouslySetInnerHTML={{ __html: safeHighlight(h) }} />
                ))}
              </li>
            ))
          : null}
      </ol>
      {q && weaker.length > 0 ? (
        <details className="weaker-matches">
          <summary>
            {weaker.length} weaker {weaker.length === 1 ? 'match' : 'matches'}
          </summary>
          <ul className="plain" aria-label="Weaker matches">
            {weaker.map((hit) => (
              <li key={hit.bookmark.id}>
                <Link to={`/items/${hit.bookmark.id}`}>{hit.bookmark.title || hit.bookmark.url}</Link>{' '}
                <span className="muted small">· {siteName(hit.bookmark)}</span>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </section>
  );
}
