import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';

import {
  bookmarksGetBookmarkOptions,
  bookmarksGetBookmarkQueryKey,
  highlightsListBookmarkHighlightsOptions,
  highlightsListBookmarkHighlightsQueryKey,
  searchSimilarOptions,
} from '../client/@tanstack/react-query.gen';
import {
  bookmarksDeleteBookmark,
  bookmarksGetBookmarkFile,
  bookmarksRefreshBookmark,
  bookmarksUpdateBookmark,
  highlightsCreateHighlight,
  highlightsDeleteHighlight,
  highlightsUpdateHighlight,
} from '../client/sdk.gen';
import type { BookmarkDetail } from '../client/types.gen';
import { Archives } from '../components/Archives';
import { DuplicateBadge } from '../components/DuplicateBadge';
import { BookmarkLists } from '../components/BookmarkLists';
import { ErrorNotice, InfoNotice } from '../components/Notice';
import { Highlights } from '../components/Highlights';
import { type Color, ReaderContent, readerText } from '../components/ReaderContent';
import { StatusBadge } from '../components/StatusBadge';
import { TagField } from '../components/TagField';
import { TimeAgo } from '../components/TimeAgo';
import { layout, type Selector } from '../lib/anchor';
import { describeError } from '../lib/api';
import { hostOf, parseTags, siteName } from '../lib/format';
import { useReadingProgress } from '../lib/progress';
import { countOf } from '../lib/plural';

const HIDDEN = new Set(['status', 'error_code', 'error_message', 'model', 'summary', 'suggested_tags', 'analyzed_at', 'analysed_at', 'updated_at', 'created_at']);

function Analysis({
  analysis,
  tags,
  onAddTags,
}: {
  analysis: Record<string, unknown>;
  tags: string[];
  onAddTags: (tags: string[]) => void;
}) {
  const status = typeof analysis.status === 'string' ? analysis.status : 'ready';
  if (status === 'skipped' || status === 'failed' || status === 'pending') {
    const why = typeof analysis.error_message === 'string' ? analysis.error_message : null;
    return (
      <p className="muted" data-analysis={status}>
        {status === 'pending' ? 'Gemini is reading this page…' : why || `No analysis (${status}).`}{' '}
        {analysis.error_code === 'no_gemini_key' ? <Link to="/settings">Add a key in Settings.</Link> : null}
      </p>
    );
  }
  const label = (k: string) => k.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
  const entries = Object.entries(analysis).filter(([k, v]) =>
    HIDDEN.has(k) ? false : Array.isArray(v) ? v.length > 0 : v !== null && v !== '' && typeof v !== 'object',
  );
  const suggested = Array.isArray(analysis.suggested_tags)
    ? (analysis.suggested_tags as unknown[]).map(String).filter((t) => !tags.includes(t))
    : [];
  return (
    <div className="stack">
      {typeof analysis.summary === 'string' ? <p className="summary">{analysis.summary}</p> : null}
      <dl className="analysis">
        {entries.map(([k, v]) => (
          <div key={k}>
            <dt>{label(k)}</dt>
            <dd>
              {Array.isArray(v) ? (
                <span className="tags">
                  {v.map((x, i) => (
                    <span className="tag" key={i}>
                      {String(x)}
                    </span>
                  ))}
                </span>
              ) : (
                String(v)
              )}
            </dd>
          </div>
        ))}
      </dl>
      {suggested.length ? (
        <p className="inline">
          <span className="muted small">Suggested tags:</span>
          {suggested.map((t) => (
            <span className="tag" key={t}>
              {t}
            </span>
          ))}
          <button type="button" className="small" onClick={() => onAddTags(suggested)}>
            Add these tags
          </button>
        </p>
      ) : null}
    </div>
  );
}

const UPLOAD = 'upload://';
const KIND_NAMES: Record<string, string> = { pdf: 'PDF', markdown: 'Markdown file', text: 'Text file' };

/** A PDF, Markdown or text item: what it is ("PDF · 12 pages") and its kept file to download. */
function FileInfo({ b }: { b: BookmarkDetail }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const meta = (b.metadata ?? {}) as Record<string, unknown>;
  const uploaded = b.url.startsWith(UPLOAD);
  const name = uploaded ? decodeURIComponent(b.url.slice(b.url.lastIndexOf('/') + 1)) : null;
  let kind = typeof meta.kind === 'string' ? meta.kind : null;
  // A file that could not be read (a scan, a locked PDF) is still kept.
  if (!kind && b.error_code?.startsWith('pdf_')) kind = 'pdf';
  if (!kind && name) kind = /\.pdf$/i.test(name) ? 'pdf' : /\.(md|markdown)$/i.test(name) ? 'markdown' : 'text';
  if (!kind || !(kind in KIND_NAMES)) return null;
  const pages = typeof meta.pages === 'number' ? meta.pages : null;

  async function download() {
    setError(null);
    setBusy(true);
    try {
      const { data, response } = await bookmarksGetBookmarkFile({ path: { bookmark_id: b.id }, parseAs: 'blob', throwOnError: true });
      const disposition = response.headers.get('content-disposition') ?? '';
      const url = URL.createObjectURL(data as Blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = /filename="([^"]+)"/.exec(disposition)?.[1] ?? name ?? 'file';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <p className="file-info" data-kind={kind}>
      <span>
        {KIND_NAMES[kind]}
        {pages !== null ? ` · ${countOf(pages, 'page')}` : ''}
      </span>
      <button type="button" className="link" onClick={download} disabled={busy}>
        {busy ? 'Downloading…' : `Download ${kind === 'pdf' ? 'the PDF' : 'the file'}`}
      </button>
      {error ? <span className="file-error" role="alert">{error}</span> : null}
    </p>
  );
}

/** The highlights list, knowing which ones the current text no longer has. */
function HighlightPanel({
  html,
  text,
  items,
  ...rest
}: { html: string | null | undefined; text: string } & Omit<Parameters<typeof Highlights>[0], 'lost'>) {
  const lost = useMemo(() => new Set(layout(readerText(html, text), items).lost.map((h) => h.id)), [html, text, items]);
  return <Highlights items={items} lost={lost} {...rest} />;
}

export function BookmarkPage() {
  const { id = '' } = useParams();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const options = { path: { bookmark_id: id } };
  const query = useQuery(bookmarksGetBookmarkOptions(options));
  const b = query.data;
  const similar = useQuery({ ...searchSimilarOptions({ ...options, query: { limit: 8 } }), enabled: b?.status === 'ready' });
  const [editing, setEditing] = useState(false);
  const readerRef = useRef<HTMLDivElement>(null);
  const highlights = useQuery(highlightsListBookmarkHighlightsOptions(options));
  const [active, setActive] = useState<string | null>(null);
  const invalidateHighlights = () =>
    Promise.all([
      qc.invalidateQueries({ queryKey: highlightsListBookmarkHighlightsQueryKey(options) }),
      qc.invalidateQueries({ predicate: (q) => (q.queryKey[0] as { _id?: string })?._id === 'highlightsListHighlights' }),
    ]);
  const createHighlight = useMutation({
    mutationFn: async ({ selector, color }: { selector: Selector; color: Color }) =>
      (await highlightsCreateHighlight({ path: { bookmark_id: id }, body: { ...selector, color }, throwOnError: true })).data,
    onSuccess: async (h) => {
      await invalidateHighlights();
      setActive(h.id);
    },
  });
  const removeHighlight = useMutation({
    mutationFn: async (hid: string) => highlightsDeleteHighlight({ path: { highlight_id: hid }, throwOnError: true }),
    onSuccess: () => invalidateHighlights(),
  });
  async function updateHighlight(hid: string, body: { color?: Color; note?: string }) {
    await highlightsUpdateHighlight({ path: { highlight_id: hid }, body, throwOnError: true });
    await invalidateHighlights();
  }
  function showHighlight(hid: string) {
    setActive(hid);
    document.querySelector(`mark[data-highlight-id="${CSS.escape(hid)}"]`)?.scrollIntoView({ block: 'center' });
  }

  const setDetail = (d: BookmarkDetail) => qc.setQueryData(bookmarksGetBookmarkQueryKey(options), d);
  const invalidateLists = () =>
    qc.invalidateQueries({ predicate: (q) => (q.queryKey[0] as { _id?: string })?._id === 'bookmarksListBookmarks' });

  const update = useMutation({
    mutationFn: async (body: { title?: string | null; notes?: string | null; tags?: string[] }) =>
      (await bookmarksUpdateBookmark({ path: { bookmark_id: id }, body: { ...body, version: b?.version }, throwOnError: true })).data,
    onSuccess: (d) => {
      setDetail(d as BookmarkDetail);
      void invalidateLists();
      setEditing(false);
    },
  });
  // Reading states: no version (they cannot clash with an edit), the answer replaces the page.
  const state = useMutation({
    mutationFn: async (body: { read?: boolean; favorite?: boolean; archived?: boolean }) =>
      (await bookmarksUpdateBookmark({ path: { bookmark_id: id }, body, throwOnError: true })).data,
    onSuccess: (d) => {
      setDetail(d as BookmarkDetail);
      void invalidateLists();
    },
  });
  useReadingProgress(id, b?.progress ?? 0, Boolean(b?.text), readerRef, (progress, readAt) => {
    const current = qc.getQueryData<BookmarkDetail>(bookmarksGetBookmarkQueryKey(options));
    if (current) setDetail({ ...current, progress, read_at: readAt });
    if (readAt && !current?.read_at) void invalidateLists();
  });
  const refresh = useMutation({
    mutationFn: async () => (await bookmarksRefreshBookmark({ path: { bookmark_id: id }, throwOnError: true })).data,
    onSuccess: () => qc.invalidateQueries({ queryKey: bookmarksGetBookmarkQueryKey(options) }),
  });
  const remove = useMutation({
    mutationFn: async () => bookmarksDeleteBookmark({ path: { bookmark_id: id }, throwOnError: true }),
    onSuccess: async () => {
      await invalidateLists();
      navigate('/');
    },
  });

  if (query.isPending) return <p className="muted" role="status">Loading…</p>;
  if (query.isError || !b) return <ErrorNotice error={query.error} />;

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    update.mutate({
      title: String(form.get('title')).trim() || null,
      notes: String(form.get('notes')).trim() || null,
      tags: parseTags(String(form.get('tags'))),
    });
  }

  const analysis = (b.analysis ?? null) as Record<string, unknown> | null;
  const text = b.text ?? '';
  const marked = highlights.data?.items ?? [];
  return (
    <article className="page detail" aria-labelledby="detail-title">
      <p>
        <Link to="/">← Library</Link>
      </p>
      <header className="detail-head">
        <h1 id="detail-title">{b.title || b.url}</h1>
        <StatusBadge status={b.status} error={b.error_message} />
      </header>
      <p className="row-meta">
        {b.url.startsWith(UPLOAD) ? (
          <span>Uploaded: {decodeURIComponent(b.url.slice(b.url.lastIndexOf('/') + 1))}</span>
        ) : (
          <a href={b.url} target="_blank" rel="noreferrer noopener">
            {hostOf(b.url)} ↗
          </a>
        )}
        {b.author ? <span>· {b.author}</span> : null}
        {b.reading_time_minutes ? <span>· {b.reading_time_minutes} min read</span> : null}
        <span>
          · saved <TimeAgo iso={b.saved_at} />
        </span>
        {b.read_at ? <span className="state">read</span> : b.progress > 0 ? <span>· {Math.round(b.progress * 100)}% read</span> : null}
        {b.archived_at ? <span className="state">archived</span> : null}
        <DuplicateBadge bookmarkId={b.id} />
      </p>
      <FileInfo b={b} />
      {b.status === 'failed' ? (
        <ErrorNotice>
          Processing failed{b.error_code ? ` (${b.error_code})` : ''}: {b.error_message || 'no reason given'}.
        </ErrorNotice>
      ) : null}
      {b.status !== 'ready' && b.status !== 'failed' ? (
        <InfoNotice>Fuze is fetching and reading this page ({b.status}); this updates by itself.</InfoNotice>
      ) : null}
      <div className="actions">
        <button type="button" onClick={() => setEditing((v) => !v)} aria-expanded={editing}>
          {editing ? 'Cancel edit' : 'Edit'}
        </button>
        <button type="button" onClick={() => state.mutate({ read: !b.read_at })} disabled={state.isPending}>
          {b.read_at ? 'Mark unread' : 'Mark read'}
        </button>
        <button
          type="button"
          aria-pressed={b.favorite}
          onClick={() => state.mutate({ favorite: !b.favorite })}
          disabled={state.isPending}
        >
          <span aria-hidden="true" className={b.favorite ? 'fav' : undefined}>
            {b.favorite ? '★' : '☆'}
          </span>{' '}
          Favourite
        </button>
        <button type="button" onClick={() => state.mutate({ archived: !b.archived_at })} disabled={state.isPending}>
          {b.archived_at ? 'Unarchive' : 'Archive'}
        </button>
        <button type="button" onClick={() => refresh.mutate()} disabled={refresh.isPending}>
          Process again
        </button>
        <button
          type="button"
          className="danger"
          onClick={() => window.confirm('Delete this item?') && remove.mutate()}
          disabled={remove.isPending}
        >
          Delete
        </button>
      </div>
      <ErrorNotice error={update.error || state.error || refresh.error || remove.error} />
      {editing ? (
        <form className="card stack" onSubmit={submit} aria-label="Edit item">
          <label>
            Title
            <input name="title" defaultValue={b.title ?? ''} />
          </label>
          <label>
            Tags
            <TagField name="tags" label="Tags" defaultValue={b.tags.join(', ')} placeholder="comma, separated" />
          </label>
          <label>
            Notes
            <textarea name="notes" defaultValue={b.notes ?? ''} rows={4} />
          </label>
          <button type="submit" className="primary" disabled={update.isPending}>
            Save changes
          </button>
        </form>
      ) : (
        <div className="card stack">
          <div>
            <h2 className="h-small">Tags</h2>
            {b.tags.length ? (
              <span className="tags">
                {b.tags.map((t) => (
                  <Link key={t} className="tag" to={`/?tag=${encodeURIComponent(t)}`}>
                    {t}
                  </Link>
                ))}
              </span>
            ) : (
              <span className="muted">No tags</span>
            )}
          </div>
          <div>
            <h2 className="h-small">Lists</h2>
            <BookmarkLists bookmarkId={b.id} listIds={b.list_ids ?? []} />
          </div>
          <div>
            <h2 className="h-small">Notes</h2>
            {b.notes ? <p className="notes">{b.notes}</p> : <span className="muted">No notes</span>}
          </div>
        </div>
      )}
      {b.description ? <p className="lead">{b.description}</p> : null}
      {analysis ? (
        <section aria-labelledby="analysis-title">
          <h2 id="analysis-title">Analysis</h2>
          <Analysis analysis={analysis} tags={b.tags} onAddTags={(add) => update.mutate({ tags: [...b.tags, ...add] })} />
        </section>
      ) : null}
      <div className="detail-grid">
        <section aria-labelledby="text-title" className="text-section">
          <h2 id="text-title">Reader {b.word_count ? <span className="muted">({b.word_count.toLocaleString()} words)</span> : null}</h2>
          <div ref={readerRef}>
            {text ? (
              <ReaderContent
                html={b.content_html}
                text={text}
                highlighting={{
                  items: marked,
                  active,
                  onSelect: setActive,
                  onCreate: (selector, color) => createHighlight.mutate({ selector, color }),
                }}
              />
            ) : (
              <p className="muted">No text yet.</p>
            )}
          </div>
          <ErrorNotice error={createHighlight.error || removeHighlight.error || highlights.error} />
        </section>
        <aside aria-label="About this item" className="similar">
          {text ? (
            <HighlightPanel
              bookmarkId={b.id}
              html={b.content_html}
              text={text}
              items={marked}
              active={active}
              onShow={showHighlight}
              onUpdate={updateHighlight}
              onDelete={(hid) => removeHighlight.mutate(hid)}
            />
          ) : null}
          <section aria-labelledby="similar-title">
          <h2 id="similar-title">Similar items</h2>
          {similar.data?.items.length ? (
            <ul className="plain">
              {similar.data.items.map((s) => (
                <li key={s.bookmark.id}>
                  <Link to={`/items/${s.bookmark.id}`}>{s.bookmark.title || s.bookmark.url}</Link>
                  <span className="muted"> · {siteName(s.bookmark)}</span>
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">{b.status === 'ready' ? (similar.isPending ? 'Looking…' : 'Nothing similar yet.') : 'Once it is ready.'}</p>
          )}
          <ErrorNotice error={similar.error} />
          </section>
          {b.url.startsWith(UPLOAD) || typeof (b.metadata as Record<string, unknown> | null)?.kind === 'string' ? null : (
            <Archives bookmarkId={b.id} status={b.status} />
          )}
        </aside>
      </div>
    </article>
  );
}
