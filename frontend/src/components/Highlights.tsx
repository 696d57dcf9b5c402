/**
 * A saved page's highlights and notes, in reading order: each with its colour, its note
 * (added or changed in place), a button that shows it in the text, and delete. Those whose
 * words are no longer in the page's text (it changed when processed again) are listed with
 * a word saying so. Export writes them as Markdown (docs/web-app.md#highlights).
 */
import { useEffect, useRef, useState } from 'react';

import { highlightsExportHighlights } from '../client/sdk.gen';
import type { HighlightOut } from '../client/types.gen';
import { ErrorNotice } from './Notice';
import { type Color, COLORS } from './ReaderContent';

export async function downloadMarkdown(bookmarkId?: string) {
  const { data } = await highlightsExportHighlights({
    query: bookmarkId ? { bookmark_id: bookmarkId } : undefined,
    parseAs: 'text',
    throwOnError: true,
  });
  const url = URL.createObjectURL(new Blob([data as unknown as string], { type: 'text/markdown' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = 'fuze-highlights.md';
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

export function ColorPicker({ value, onChange, label }: { value: string; onChange: (c: Color) => void; label: string }) {
  return (
    <span className="swatches" role="group" aria-label={label}>
      {COLORS.map((c) => (
        <button
          key={c}
          type="button"
          className={`swatch hl-${c}`}
          aria-pressed={c === value}
          onClick={() => onChange(c)}
          title={c}
        >
          <span className="visually-hidden">{c}</span>
        </button>
      ))}
    </span>
  );
}

function Item({
  h,
  lost,
  active,
  onShow,
  onUpdate,
  onDelete,
}: {
  h: HighlightOut;
  lost: boolean;
  active: boolean;
  onShow: () => void;
  onUpdate: (body: { color?: Color; note?: string }) => Promise<unknown>;
  onDelete: () => void;
}) {
  const [editing, setEditing] = useState(false);
  const [note, setNote] = useState(h.note ?? '');
  const [error, setError] = useState<unknown>(null);
  const ref = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (active) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [active]);

  async function save() {
    setError(null);
    try {
      await onUpdate({ note });
      setEditing(false);
    } catch (e) {
      setError(e);
    }
  }

  return (
    <li ref={ref} className={`highlight-item${active ? ' active' : ''}`} data-highlight-id={h.id}>
      <blockquote className={`hl-quote hl-border-${h.color}`}>{h.quote}</blockquote>
      {lost ? <p className="muted small">Not in the page’s current text.</p> : null}
      {editing ? (
        <div className="stack">
          <label>
            Note
            <textarea value={note} onChange={(e) => setNote(e.target.value)} rows={3} maxLength={10000} autoFocus />
          </label>
          <div className="actions">
            <button type="button" className="small primary" onClick={() => void save()}>
              Save note
            </button>
            <button type="button" className="small" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </div>
      ) : h.note ? (
        <p className="hl-note">{h.note}</p>
      ) : null}
      <div className="actions">
        <ColorPicker value={h.color} onChange={(color) => void onUpdate({ color }).catch(setError)} label="Colour" />
        {editing ? null : (
          <button
            type="button"
            className="small"
            onClick={() => {
              setNote(h.note ?? '');
              setEditing(true);
            }}
          >
            {h.note ? 'Edit note' : 'Add note'}
          </button>
        )}
        {lost ? null : (
          <button type="button" className="small" onClick={onShow}>
            Show in text
          </button>
        )}
        <button type="button" className="small danger" onClick={() => window.confirm('Delete this highlight?') && onDelete()}>
          Delete
        </button>
      </div>
      <ErrorNotice error={error} />
    </li>
  );
}

export function Highlights({
  bookmarkId,
  items,
  lost,
  active,
  onShow,
  onUpdate,
  onDelete,
}: {
  bookmarkId: string;
  items: HighlightOut[];
  lost: Set<string>;
  active: string | null;
  onShow: (id: string) => void;
  onUpdate: (id: string, body: { color?: Color; note?: string }) => Promise<unknown>;
  onDelete: (id: string) => void;
}) {
  const [error, setError] = useState<unknown>(null);
  return (
    <section aria-labelledby="highlights-title" className="highlights">
      <h2 id="highlights-title">
        Highlights {items.length ? <span className="muted">({items.length})</span> : null}
      </h2>
      {items.length ? (
        <>
          <ul className="plain highlight-list">
            {items.map((h) => (
              <Item
                key={h.id}
                h={h}
                lost={lost.has(h.id)}
                active={h.id === active}
                onShow={() => onShow(h.id)}
                onUpdate={(body) => onUpdate(h.id, body)}
                onDelete={() => onDelete(h.id)}
              />
            ))}
          </ul>
          <button type="button" className="small" onClick={() => void downloadMarkdown(bookmarkId).catch(setError)}>
            Export as Markdown
          </button>
        </>
      ) : (
        <p className="muted">Select text in the reader to highlight it.</p>
      )}
      <ErrorNotice error={error} />
    </section>
  );
}
