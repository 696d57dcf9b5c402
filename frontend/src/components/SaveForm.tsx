import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ChangeEvent, type FormEvent, useRef, useState } from 'react';

import { bookmarksCreateBookmarkMutation } from '../client/@tanstack/react-query.gen';
import { bookmarksUploadBookmark } from '../client/sdk.gen';
import type { BookmarkOut } from '../client/types.gen';
import { markSeen } from '../lib/events';
import { parseTags } from '../lib/format';
import { ErrorNotice } from './Notice';
import { TagField } from './TagField';

/** What the file picker offers: what the server reads (a PDF is known by its bytes). */
export const UPLOAD_ACCEPT = '.pdf,.md,.markdown,.txt,application/pdf,text/markdown,text/plain';

export function SaveForm({ onSaved }: { onSaved?: (b: BookmarkOut, created: boolean) => void }) {
  const qc = useQueryClient();
  const [message, setMessage] = useState<string | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const invalidateLists = () =>
    qc.invalidateQueries({ predicate: (q) => (q.queryKey[0] as { _id?: string })?._id === 'bookmarksListBookmarks' });
  const save = useMutation({ ...bookmarksCreateBookmarkMutation(), onSuccess: invalidateLists });
  // The server answers 201 for a new item and 200 for a file it already has.
  const upload = useMutation({
    mutationFn: async (body: { file: File; tags: string[]; notes: string }) => {
      const { data, response } = await bookmarksUploadBookmark({
        body: { file: body.file, tags: body.tags.join(',') || null, notes: body.notes || null },
        throwOnError: true,
      });
      return { saved: data, created: response.status === 201 };
    },
    onSuccess: invalidateLists,
  });
  const busy = save.isPending || upload.isPending;

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    const url = String(form.get('url')).trim();
    const tags = parseTags(String(form.get('tags') ?? ''));
    const notes = String(form.get('notes') ?? '').trim();
    setMessage(null);
    const before = Date.now();
    // One key per press of Save: a retry of this request (the API client's, or the load
    // balancer's on another replica) gets the first answer again (docs/api.md).
    const saved = await save
      .mutateAsync({ body: { url, tags, notes: notes || null }, headers: { 'Idempotency-Key': crypto.randomUUID() } })
      .catch(() => null);
    if (!saved) return;
    markSeen(saved.id);
    const created = new Date(saved.saved_at).getTime() >= before - 60_000 && saved.status === 'pending';
    setMessage(created ? 'Saved. It will be ready in a moment.' : 'Already in your library.');
    formEl.reset();
    formEl.querySelector<HTMLInputElement>('input[name=url]')?.focus();
    onSaved?.(saved, created);
  }

  /** A file chosen in the picker is uploaded at once, with the tags and notes typed above. */
  async function uploadFile(e: ChangeEvent<HTMLInputElement>) {
    const input = e.currentTarget;
    const file = input.files?.[0];
    const formEl = formRef.current;
    if (!file || !formEl) return;
    const form = new FormData(formEl);
    setMessage(null);
    save.reset();
    const result = await upload
      .mutateAsync({
        file,
        tags: parseTags(String(form.get('tags') ?? '')),
        notes: String(form.get('notes') ?? '').trim(),
      })
      .catch(() => null);
    input.value = ''; // the same file can be chosen again after an error
    if (!result) return;
    markSeen(result.saved.id);
    setMessage(
      result.created ? `Uploaded ${file.name}. It will be ready in a moment.` : `${file.name} is already in your library.`,
    );
    formEl.reset();
    onSaved?.(result.saved, result.created);
  }

  return (
    <form className="save-form" onSubmit={submit} aria-label="Save a page" ref={formRef}>
      <label className="grow">
        URL
        <input name="url" type="url" required placeholder="https://…" inputMode="url" autoComplete="off" />
      </label>
      <label>
        Tags
        <TagField name="tags" label="Tags" placeholder="comma, separated" />
      </label>
      <label className="grow">
        Notes
        <input name="notes" placeholder="Why it matters" autoComplete="off" />
      </label>
      <button type="submit" className="primary" disabled={busy}>
        {save.isPending ? 'Saving…' : 'Save'}
      </button>
      <button
        type="button"
        className="upload-button"
        disabled={busy}
        onClick={() => fileRef.current?.click()}
        title="A PDF, Markdown (.md) or text (.txt) file"
      >
        {upload.isPending ? 'Uploading…' : 'Upload a file'}
      </button>
      <input
        ref={fileRef}
        type="file"
        accept={UPLOAD_ACCEPT}
        className="visually-hidden"
        tabIndex={-1}
        aria-label="Upload a PDF, Markdown or text file"
        onChange={uploadFile}
      />
      <div className="save-feedback" aria-live="polite">
        {message ? <span className="muted">{message}</span> : null}
      </div>
      <ErrorNotice error={save.error ?? upload.error} />
    </form>
  );
}
