import { useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link } from 'react-router';

import { listsAddToList } from '../client/sdk.gen';
import { describeError } from '../lib/api';
import { listLabel, refreshLists, useLists } from '../lib/lists';

/** A list picker and a button that puts these bookmarks in the chosen list (one request). */
export function AddToList({
  ids,
  exclude = [],
  label = 'Add to list',
  onDone,
}: {
  ids: string[];
  exclude?: string[];
  label?: string;
  onDone?: (message: string) => void;
}) {
  const qc = useQueryClient();
  const lists = useLists();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const choices = (lists.data?.items ?? []).filter((l) => !exclude.includes(l.id));
  if (lists.isSuccess && !lists.data.items.length)
    return (
      <Link className="button-link" to="/lists">
        Make a list
      </Link>
    );

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const listId = String(new FormData(e.currentTarget).get('list') ?? '');
    if (!listId || !ids.length) return;
    setBusy(true);
    setError(null);
    try {
      const { data } = await listsAddToList({ path: { list_id: listId }, body: { bookmark_ids: ids }, throwOnError: true });
      await refreshLists(qc);
      onDone?.(`${data.changed} added to ${listLabel(data.list)}.`);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="inline add-to-list" onSubmit={submit}>
      <label className="visually-hidden" htmlFor={`add-to-list-${ids.length === 1 ? ids[0] : 'bulk'}`}>
        List to add to
      </label>
      <select id={`add-to-list-${ids.length === 1 ? ids[0] : 'bulk'}`} name="list" defaultValue="" required>
        <option value="" disabled>
          Choose a list…
        </option>
        {choices.map((l) => (
          <option key={l.id} value={l.id}>
            {'\u00a0\u00a0'.repeat(l.depth)}
            {l.name}
          </option>
        ))}
      </select>
      <button type="submit" disabled={busy || !choices.length}>
        {busy ? 'Adding…' : label}
      </button>
      {error ? (
        <span className="error-text" role="alert">
          {error}
        </span>
      ) : null}
    </form>
  );
}
