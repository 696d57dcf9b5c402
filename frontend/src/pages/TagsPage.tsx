/**
 * Tags: every tag with how many items have it (filter by name), rename in place (to another
 * tag's name: a merge), delete, select several and merge them into one, and suggestions:
 * tags that are one spelled differently, abbreviations, close in meaning, and tags used
 * once. Each change can be undone from the notice it leaves.
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link } from 'react-router';

import { tagsListTagsOptions, tagsTagSuggestionsOptions } from '../client/@tanstack/react-query.gen';
import { tagsDeleteTag, tagsMergeTags, tagsRenameTag, tagsUndoTags } from '../client/sdk.gen';
import type { Changed, TagCount, Undo } from '../client/types.gen';
import { ErrorNotice } from '../components/Notice';
import { countOf } from '../lib/plural';

type Done = { message: string; undo: Undo };

export function TagsPage() {
  const qc = useQueryClient();
  const [q, setQ] = useState('');
  const tags = useQuery(tagsListTagsOptions({ query: { limit: 20000 } }));
  const suggestions = useQuery(tagsTagSuggestionsOptions());
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [done, setDone] = useState<Done | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const refresh = () =>
    qc.invalidateQueries({ predicate: (x) => ['tagsListTags', 'tagsTagSuggestions', 'bookmarksListBookmarks'].includes((x.queryKey[0] as { _id?: string })?._id ?? '') });

  const change = useMutation({
    mutationFn: async (run: () => Promise<Changed>) => run(),
    onSuccess: (c) => {
      setPicked(new Set());
      setEditing(null);
      void refresh();
      const what = c.tag ? `“${c.tag.name}” now on ${countOf(c.tag.count, 'item')}` : `Deleted; ${countOf(c.bookmarks, 'item')} lost the tag`;
      setDone({ message: what, undo: c.undo });
    },
  });
  const undo = useMutation({
    mutationFn: async (u: Undo) => tagsUndoTags({ body: u, throwOnError: true }),
    onSuccess: () => {
      setDone(null);
      void refresh();
    },
  });
  const merge = (ids: string[], into: string) => change.mutate(async () => (await tagsMergeTags({ body: { tags: ids, into }, throwOnError: true })).data);
  const rename = (id: string, name: string) => change.mutate(async () => (await tagsRenameTag({ path: { tag_id: id }, body: { name }, throwOnError: true })).data);
  const remove = (t: TagCount) =>
    window.confirm(`Delete the tag “${t.name}”? Its items stay.`) &&
    change.mutate(async () => (await tagsDeleteTag({ path: { tag_id: t.id }, throwOnError: true })).data);

  const shown = (tags.data?.items ?? []).filter((t) => !q || t.name.toLowerCase().includes(q.toLowerCase()));
  function toggle(id: string) {
    setPicked((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  }
  function submitMerge(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const into = String(new FormData(e.currentTarget).get('into')).trim();
    if (into) merge([...picked], into);
  }
  function submitRename(e: FormEvent<HTMLFormElement>, t: TagCount) {
    e.preventDefault();
    const name = String(new FormData(e.currentTarget).get('name')).trim();
    if (name && name !== t.name) rename(t.id, name);
    else setEditing(null);
  }

  return (
    <section className="page" aria-labelledby="tags-title">
      <h1 id="tags-title">Tags</h1>
      {done ? (
        <div className="notice notice-info" role="status">
          {done.message}.{' '}
          <button type="button" className="small" onClick={() => undo.mutate(done.undo)} disabled={undo.isPending}>
            Undo
          </button>
        </div>
      ) : null}
      <ErrorNotice error={tags.error || change.error || undo.error} />
      {suggestions.data?.merge.length ? (
        <section className="card stack" aria-labelledby="tag-suggestions-title">
          <h2 id="tag-suggestions-title" className="h-small">
            These look like one tag
          </h2>
          <ul className="plain stack">
            {suggestions.data.merge.map((s) => (
              <li key={s.tags.map((t) => t.id).join()} className="inline">
                <span>
                  {s.tags.map((t) => `${t.name} (${t.count})`).join(', ')} <span className="muted small">· {s.why}</span>
                </span>
                <button type="button" className="small" onClick={() => merge(s.tags.map((t) => t.id), s.into)} disabled={change.isPending}>
                  Merge into “{s.into}”
                </button>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <div className="inline">
        <label className="grow">
          <span className="visually-hidden">Find a tag</span>
          <input type="search" value={q} onChange={(e) => setQ(e.currentTarget.value)} placeholder="Find a tag…" />
        </label>
        <span className="muted small" role="status">
          {tags.data ? countOf(tags.data.items.length, 'tag') : ''}
          {suggestions.data?.once.length ? ` · ${suggestions.data.once.length} used once` : ''}
        </span>
      </div>
      {picked.size ? (
        <form className="inline card" onSubmit={submitMerge} aria-label="Merge the selected tags">
          <span>{countOf(picked.size, 'tag')} selected</span>
          <label>
            Merge into
            <input name="into" required maxLength={64} list="tag-names" />
          </label>
          <datalist id="tag-names">
            {(tags.data?.items ?? []).slice(0, 500).map((t) => (
              <option key={t.id} value={t.name} />
            ))}
          </datalist>
          <button type="submit" className="primary small" disabled={change.isPending}>
            Merge
          </button>
        </form>
      ) : null}
      <ul className="plain tag-rows" aria-label="Your tags">
        {shown.map((t) => (
          <li key={t.id} className="tag-row">
            <input type="checkbox" checked={picked.has(t.id)} onChange={() => toggle(t.id)} aria-label={`Select ${t.name}`} />
            {editing === t.id ? (
              <form className="inline grow" onSubmit={(e) => submitRename(e, t)} aria-label={`Rename ${t.name}`}>
                <input name="name" defaultValue={t.name} maxLength={64} autoFocus aria-label="New name" />
                <button type="submit" className="small primary">
                  Save
                </button>
                <button type="button" className="small" onClick={() => setEditing(null)}>
                  Cancel
                </button>
              </form>
            ) : (
              <>
                <Link to={`/?tag=${encodeURIComponent(t.name)}`} className="tag">
                  {t.name}
                </Link>
                <span className="muted small grow">
                  {countOf(t.count, 'item')}
                  {t.count === 1 ? ' · used once' : ''}
                </span>
                <button type="button" className="small" onClick={() => setEditing(t.id)}>
                  Rename
                </button>
                <button type="button" className="small danger" onClick={() => remove(t)}>
                  Delete
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      {tags.isSuccess && !tags.data.items.length ? <p className="muted">No tags yet: add them when you save, or on an item's page.</p> : null}
    </section>
  );
}
