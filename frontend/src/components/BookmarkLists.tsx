import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';

import { listsRemoveFromList } from '../client/sdk.gen';
import { describeError } from '../lib/api';
import { listLabel, refreshLists, useLists } from '../lib/lists';
import { AddToList } from './AddToList';

/** A bookmark's lists as chips (each opens the list; × takes the item out), and a picker to add it to another. */
export function BookmarkLists({ bookmarkId, listIds }: { bookmarkId: string; listIds: string[] }) {
  const qc = useQueryClient();
  const lists = useLists();
  const [error, setError] = useState<string | null>(null);
  const byId = new Map((lists.data?.items ?? []).map((l) => [l.id, l]));
  const held = listIds.map((id) => byId.get(id)).filter((l) => l !== undefined);

  async function takeOut(listId: string) {
    setError(null);
    try {
      await listsRemoveFromList({ path: { list_id: listId }, body: { bookmark_ids: [bookmarkId] }, throwOnError: true });
      await refreshLists(qc);
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <div className="list-chips">
      {held.length ? (
        <ul className="tags plain" aria-label="In these lists">
          {held.map((l) => (
            <li key={l.id} className="tag list-chip">
              <Link to={`/lists/${l.id}`} title={listLabel(l)}>
                {l.name}
              </Link>
              <button type="button" onClick={() => void takeOut(l.id)} aria-label={`Remove from ${l.name}`} title="Remove from this list">
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <span className="muted">In no list</span>
      )}{' '}
      <AddToList ids={[bookmarkId]} exclude={listIds} label="Add" />
      {error ? (
        <span className="error-text" role="alert">
          {error}
        </span>
      ) : null}
    </div>
  );
}
