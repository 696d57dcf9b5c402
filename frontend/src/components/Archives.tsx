/**
 * A saved page's archived copies (newest first): when each was made, its size, what could not
 * be kept and why, a button that opens it in a new tab (through a two-minute link: a tab
 * cannot send the session's token), and delete. The copy is served sandboxed: nothing in it
 * runs or reaches Fuze (docs/web-app.md#archives).
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { archivesListArchivesOptions, archivesListArchivesQueryKey } from '../client/@tanstack/react-query.gen';
import { archivesArchiveLink, archivesDeleteArchive } from '../client/sdk.gen';
import type { ArchiveOut } from '../client/types.gen';
import { ErrorNotice } from './Notice';
import { TimeAgo } from './TimeAgo';

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function Copy({ a, bookmarkId }: { a: ArchiveOut; bookmarkId: string }) {
  const qc = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const remove = useMutation({
    mutationFn: async () => archivesDeleteArchive({ path: { archive_id: a.id }, throwOnError: true }),
    onSuccess: () => qc.invalidateQueries({ queryKey: archivesListArchivesQueryKey({ path: { bookmark_id: bookmarkId } }) }),
  });
  async function open() {
    setError(null);
    // Opened at once (a popup blocker allows it: it follows the click), pointed at the copy
    // when its link arrives.
    const tab = window.open('about:blank', '_blank');
    try {
      const { data } = await archivesArchiveLink({ path: { archive_id: a.id }, throwOnError: true });
      if (tab) tab.location.href = new URL(data.url, window.location.origin).href;
    } catch (e) {
      tab?.close();
      setError(e);
    }
  }
  const failed = a.failures.length;
  return (
    <li className="archive">
      <div>
        <strong>
          <TimeAgo iso={a.created_at} />
        </strong>{' '}
        {a.status === 'ready' ? (
          <span className="muted small">
            · {size(a.size_bytes)} ({size(a.stored_bytes)} stored) · {a.assets} {a.assets === 1 ? 'file' : 'files'} kept
            {failed ? ` · ${failed} could not be kept` : ''}
          </span>
        ) : (
          <span className="muted small">· {a.status}: {a.error}</span>
        )}
      </div>
      {failed ? (
        <details className="small">
          <summary>What is missing</summary>
          <ul className="plain">
            {a.failures.map((f) => (
              <li key={f.url}>
                <code>{f.url}</code>: {f.reason}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
      <div className="actions">
        {a.status === 'ready' ? (
          <button type="button" className="small" onClick={() => void open()}>
            Open archived copy
          </button>
        ) : null}
        <button
          type="button"
          className="small danger"
          onClick={() => window.confirm('Delete this archived copy?') && remove.mutate()}
          disabled={remove.isPending}
        >
          Delete copy
        </button>
      </div>
      <ErrorNotice error={error || remove.error} />
    </li>
  );
}

export function Archives({ bookmarkId, status }: { bookmarkId: string; status: string }) {
  const query = useQuery({
    ...archivesListArchivesOptions({ path: { bookmark_id: bookmarkId } }),
    // Made by the worker after the text: look again until the first copy is there.
    refetchInterval: (q) => (status === 'ready' && (q.state.data?.items.length ?? 0) === 0 ? 3000 : false),
  });
  const items = query.data?.items ?? [];
  return (
    <section aria-labelledby="archives-title" className="archives">
      <h2 id="archives-title" className="h-small">
        Archived copies
      </h2>
      <ErrorNotice error={query.error} />
      {items.length ? (
        <ul className="plain" aria-label="Archived copies">
          {items.map((a) => (
            <Copy key={a.id} a={a} bookmarkId={bookmarkId} />
          ))}
        </ul>
      ) : (
        <p className="muted small">{status === 'ready' ? 'Making a copy of the page…' : 'A copy is made once the page is read.'}</p>
      )}
    </section>
  );
}
