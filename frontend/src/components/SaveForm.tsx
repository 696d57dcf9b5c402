import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import { bookmarksCreateBookmarkMutation } from '../client/@tanstack/react-query.gen';
import type { BookmarkOut } from '../client/types.gen';
import { markSeen } from '../lib/events';
import { parseTags } from '../lib/format';
import { ErrorNotice } from './Notice';

export function SaveForm({ onSaved }: { onSaved?: (b: BookmarkOut, created: boolean) => void }) {
  const qc = useQueryClient();
  const [message, setMessage] = useState<string | null>(null);
  const save = useMutation({
    ...bookmarksCreateBookmarkMutation(),
    onSuccess: () => qc.invalidateQueries({ predicate: (q) => (q.queryKey[0] as { _id?: string })?._id === 'bookmarksListBookmarks' }),
  });

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    const url = String(form.get('url')).trim();
    const tags = parseTags(String(form.get('tags') ?? ''));
    const notes = String(form.get('notes') ?? '').trim();
    setMessage(null);
    const before = Date.now();
    const saved = await save.mutateAsync({ body: { url, tags, notes: notes || null } }).catch(() => null);
    if (!saved) return;
    markSeen(saved.id);
    const created = new Date(saved.saved_at).getTime() >= before - 60_000 && saved.status === 'pending';
    setMessage(created ? 'Saved. It will be ready in a moment.' : 'Already in your library.');
    formEl.reset();
    formEl.querySelector<HTMLInputElement>('input[name=url]')?.focus();
    onSaved?.(saved, created);
  }

  return (
    <form className="save-form" onSubmit={submit} aria-label="Save a page">
      <label className="grow">
        URL
        <input name="url" type="url" required placeholder="https://…" inputMode="url" autoComplete="off" />
      </label>
      <label>
        Tags
        <input name="tags" placeholder="comma, separated" autoComplete="off" />
      </label>
      <label className="grow">
        Notes
        <input name="notes" placeholder="Why it matters" autoComplete="off" />
      </label>
      <button type="submit" className="primary" disabled={save.isPending}>
        {save.isPending ? 'Saving…' : 'Save'}
      </button>
      <div className="save-feedback" aria-live="polite">
        {message ? <span className="muted">{message}</span> : null}
      </div>
      <ErrorNotice error={save.error} />
    </form>
  );
}
