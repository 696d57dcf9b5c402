/**
 * Lists: the tree of the user's lists (collections) with how many items each holds; make one
 * (at the top or inside another), rename, move under another list, delete (its items stay in
 * the library; its sub-lists move up). Each list opens its own page (ListPage).
 */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link } from 'react-router';

import { listsCreateList, listsDeleteList, listsUpdateList } from '../client/sdk.gen';
import type { ListOut } from '../client/types.gen';
import { ErrorNotice, InfoNotice } from '../components/Notice';
import { listLabel, refreshLists, useLists } from '../lib/lists';
import { countOf } from '../lib/plural';

/** The lists a list may move under: not itself, nor anything under it. */
function targets(all: ListOut[], moving: ListOut): ListOut[] {
  const below = new Set([moving.id]);
  for (const l of all) if (l.parent_id && below.has(l.parent_id)) below.add(l.id); // tree order
  return all.filter((l) => !below.has(l.id));
}

export function ListsPage() {
  const qc = useQueryClient();
  const lists = useLists();
  const all = lists.data?.items ?? [];
  const [editing, setEditing] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const change = useMutation({
    mutationFn: async (run: () => Promise<string>) => run(),
    onSuccess: (message) => {
      setEditing(null);
      setDone(message);
      void refreshLists(qc);
    },
  });

  function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const name = String(data.get('name') ?? '').trim();
    const parent = String(data.get('parent') ?? '') || null;
    if (!name) return;
    change.mutate(async () => {
      const { data: made } = await listsCreateList({ body: { name, parent_id: parent }, throwOnError: true });
      form.reset();
      return `Made “${listLabel(made)}”.`;
    });
  }

  function save(e: FormEvent<HTMLFormElement>, l: ListOut) {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const name = String(data.get('name') ?? '').trim();
    const parent = String(data.get('parent') ?? '') || null;
    const body: { name?: string; parent_id?: string | null } = {};
    if (name && name !== l.name) body.name = name;
    if (parent !== l.parent_id) body.parent_id = parent;
    if (!Object.keys(body).length) return setEditing(null);
    change.mutate(async () => {
      const { data: moved } = await listsUpdateList({ path: { list_id: l.id }, body, throwOnError: true });
      return `Saved “${listLabel(moved)}”.`;
    });
  }

  function remove(l: ListOut) {
    const subs = all.filter((x) => x.parent_id === l.id).length;
    const more = subs ? ` Its ${countOf(subs, 'sub-list')} will move up a level.` : '';
    if (!window.confirm(`Delete the list “${l.name}”? Its ${countOf(l.count, 'item')} stay in your library.${more}`)) return;
    change.mutate(async () => {
      await listsDeleteList({ path: { list_id: l.id }, throwOnError: true });
      return `Deleted “${l.name}”; its items are still in your library.`;
    });
  }

  return (
    <section className="page" aria-labelledby="lists-title">
      <h1 id="lists-title">Lists</h1>
      <p className="muted">
        Collections of your items. An item can be in several lists; deleting a list never deletes its items. Add items from the
        Library’s selection bar or an item’s page.
      </p>
      {done ? <InfoNotice>{done}</InfoNotice> : null}
      <ErrorNotice error={lists.error || change.error} />
      <form className="card inline new-list" onSubmit={create} aria-label="Make a list">
        <label className="grow">
          Name
          <input name="name" required maxLength={100} placeholder="e.g. Reading for work" />
        </label>
        <label>
          Inside
          <select name="parent" defaultValue="">
            <option value="">(top level)</option>
            {all.map((l) => (
              <option key={l.id} value={l.id}>
                {listLabel(l)}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary" disabled={change.isPending}>
          Make list
        </button>
      </form>
      <ul className="plain list-rows" aria-label="Your lists">
        {all.map((l) => (
          <li key={l.id} className="list-row" style={{ paddingLeft: `${0.5 + l.depth * 1.25}rem` }}>
            {editing === l.id ? (
              <form className="inline grow" onSubmit={(e) => save(e, l)} aria-label={`Edit ${l.name}`}>
                <input name="name" defaultValue={l.name} maxLength={100} autoFocus aria-label="Name" required />
                <label className="inline">
                  Inside
                  <select name="parent" defaultValue={l.parent_id ?? ''} aria-label="Move inside">
                    <option value="">(top level)</option>
                    {targets(all, l).map((t) => (
                      <option key={t.id} value={t.id}>
                        {listLabel(t)}
                      </option>
                    ))}
                  </select>
                </label>
                <button type="submit" className="small primary" disabled={change.isPending}>
                  Save
                </button>
                <button type="button" className="small" onClick={() => setEditing(null)}>
                  Cancel
                </button>
              </form>
            ) : (
              <>
                <span className="list-icon" aria-hidden="true">
                  {l.depth ? '└' : '▤'}
                </span>
                <Link to={`/lists/${l.id}`} className="list-name">
                  {l.name}
                </Link>
                <span className="muted small grow">
                  {countOf(l.count, 'item')}
                  {l.total !== l.count ? ` · ${l.total} with sub-lists` : ''}
                </span>
                <button type="button" className="small" onClick={() => setEditing(l.id)} aria-label={`Rename / move ${l.name}`}>
                  Rename / move
                </button>
                <button type="button" className="small danger" onClick={() => remove(l)} aria-label={`Delete ${l.name}`}>
                  Delete
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      {lists.isSuccess && !all.length ? <p className="muted">No lists yet. Imported bookmark folders become lists too.</p> : null}
    </section>
  );
}
