import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';

import { siteName } from '../lib/format';
import { type ContextType, isMissingRoute, projectsApi, type Signal } from '../lib/work';
import { Match } from './Match';
import { ErrorNotice, InfoNotice, Unavailable } from './Notice';

/** Recommendations for a project, task or subtask, with relevant / not relevant buttons. */
export function Recommendations({ type, id, label, list }: { type: ContextType; id: string; label: string; list?: string }) {
  const qc = useQueryClient();
  const key = ['recommendations', type, id, list ?? ''];
  const [marked, setMarked] = useState<ReadonlySet<string>>(() => new Set());
  const recs = useQuery({ queryKey: key, queryFn: () => projectsApi.recommendations(type, id, 10, list) });
  const feedback = useMutation({
    mutationFn: ({ bookmarkId, signal }: { bookmarkId: string; signal: Signal }) =>
      projectsApi.feedback(bookmarkId, signal, { type, id }),
    onMutate: ({ bookmarkId, signal }) => {
      if (signal === 'relevant') setMarked((m) => new Set(m).add(bookmarkId));
      // Not relevant: it leaves the list at once; the server's re-ranked list follows.
      if (signal === 'irrelevant')
        qc.setQueryData<{ items: { bookmark: { id: string } }[] }>(key, (old) =>
          old ? { ...old, items: old.items.filter((r) => r.bookmark.id !== bookmarkId) } : old,
        );
    },
    onSettled: () => qc.invalidateQueries({ queryKey: ['recommendations'] }),
  });

  // Items under the server's relevance floor (weak) are listed apart, after the confident ones.
  const confident = recs.data?.items.filter((r) => !r.weak) ?? [];
  const weaker = recs.data?.items.filter((r) => r.weak) ?? [];

  if (recs.isError && isMissingRoute(recs.error)) return <Unavailable what="Recommendations" />;
  return (
    <section className="recs" aria-label={`Recommendations for ${label}`}>
      <ErrorNotice error={recs.error || feedback.error} />
      {recs.isPending ? <p className="muted" role="status">Finding what helps…</p> : null}
      {recs.isSuccess && confident.length === 0 ? (
        <InfoNotice>Nothing in your library matches this well yet. Save pages about it and they will show up here.</InfoNotice>
      ) : null}
      <ol className="plain rec-list" aria-busy={recs.isFetching}>
        {confident.map((r, i) => {
          const title = r.bookmark.title || r.bookmark.url;
          return (
            <li key={r.bookmark.id} className="rec" data-rank={i + 1}>
              <div className="rec-main">
                <Link
                  to={`/items/${r.bookmark.id}`}
                  className="row-title"
                  onClick={() => projectsApi.feedback(r.bookmark.id, 'opened', { type, id }).catch(() => undefined)}
                >
                  {title}
                </Link>
                <span className="muted small rec-meta">
                  {' '}
                  · {siteName(r.bookmark)} · <Match score={r.score} />
                </span>
                {r.reasons.length ? (
                  <ul className="reasons">
                    {r.reasons.map((reason, j) => (
                      <li key={j}>{reason}</li>
                    ))}
                  </ul>
                ) : null}
              </div>
              <div className="rec-actions" role="group" aria-label={`Feedback on ${title}`}>
                <button
                  type="button"
                  className="small"
                  onClick={() => feedback.mutate({ bookmarkId: r.bookmark.id, signal: 'relevant' })}
                  aria-pressed={marked.has(r.bookmark.id)}
                  aria-label={`Relevant: ${title}`}
                  title="Relevant: show more like this"
                >
                  <span aria-hidden="true">✓</span> Relevant
                </button>
                <button
                  type="button"
                  className="small"
                  onClick={() => feedback.mutate({ bookmarkId: r.bookmark.id, signal: 'irrelevant' })}
                  aria-label={`Not relevant: ${title}`}
                  title="Not relevant: hide it here"
                >
                  <span aria-hidden="true">✕</span> Not relevant
                </button>
              </div>
            </li>
          );
        })}
      </ol>
      {weaker.length > 0 ? (
        <details className="weaker-matches">
          <summary>
            {weaker.length} weaker {weaker.length === 1 ? 'match' : 'matches'}
          </summary>
          <ul className="plain" aria-label={`Weaker matches for ${label}`}>
            {weaker.map((r) => (
              <li key={r.bookmark.id}>
                <Link to={`/items/${r.bookmark.id}`}>{r.bookmark.title || r.bookmark.url}</Link>{' '}
                <span className="muted small">· {siteName(r.bookmark)}</span>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </section>
  );
}
