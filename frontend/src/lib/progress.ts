/**
 * Reading progress in the reader: how far the bottom of the window has reached through the
 * saved text (0 to 1), kept on the server as you scroll (PUT /api/bookmarks/{id}/progress,
 * which marks the page read at the end) and restored when the page is opened again.
 */
import { type RefObject, useEffect, useRef } from 'react';

import { bookmarksSetProgress } from '../client/sdk.gen';

// At most one save this often while scrolling; the last position is saved on leaving.
const SAVE_EVERY_MS = 2000;

/** What scrolls `el`: its nearest scrolling ancestor (the app's main area on a wide screen),
 * else the page. */
function scrollerOf(el: HTMLElement): HTMLElement | null {
  for (let node = el.parentElement; node; node = node.parentElement) {
    const { overflowY } = getComputedStyle(node);
    if ((overflowY === 'auto' || overflowY === 'scroll') && node.scrollHeight > node.clientHeight) return node;
  }
  return null;
}

/** The bottom of what can be seen, in the window's coordinates. */
function visibleBottom(scroller: HTMLElement | null): number {
  return scroller ? Math.min(scroller.getBoundingClientRect().bottom, window.innerHeight) : window.innerHeight;
}

/** How far through `el` the bottom of what can be seen is, 0 to 1. */
export function progressOf(el: HTMLElement): number {
  const rect = el.getBoundingClientRect();
  if (rect.height <= 0) return 0;
  const seen = visibleBottom(scrollerOf(el)) - rect.top;
  return Math.min(1, Math.max(0, seen / rect.height));
}

export function useReadingProgress(
  id: string,
  saved: number,
  ready: boolean,
  readerRef: RefObject<HTMLElement | null>,
  onSaved: (progress: number, readAt: string | null) => void,
) {
  const last = useRef(saved);
  const onSavedRef = useRef(onSaved);
  onSavedRef.current = onSaved;
  const restored = useRef<string | null>(null);

  // Back where the reader left off, once per page opened, when its text is there (not for a
  // page read to the end: that one starts again at the top).
  useEffect(() => {
    const el = readerRef.current;
    if (!ready || !el || restored.current === id) return;
    restored.current = id;
    last.current = saved;
    if (saved <= 0 || saved >= 0.97) return;
    const scroller = scrollerOf(el);
    const rect = el.getBoundingClientRect();
    // How far to scroll for the saved point of the text to be at the bottom of the view.
    const by = rect.top + saved * rect.height - visibleBottom(scroller);
    if (by > 0) (scroller ?? window).scrollBy({ top: by, behavior: 'auto' });
  }, [id, ready, saved, readerRef]);

  useEffect(() => {
    let timer: number | undefined;
    let pending = false;

    async function save() {
      const el = readerRef.current;
      if (!el || restored.current !== id) return;
      const progress = Math.round(progressOf(el) * 1000) / 1000;
      // Only forward: scrolling back to look at something does not undo reading.
      if (progress <= last.current + 0.005) return;
      last.current = progress;
      const r = await bookmarksSetProgress({ path: { bookmark_id: id }, body: { progress } });
      if (r.data) onSavedRef.current(r.data.progress, r.data.read_at ?? null);
    }

    function onScroll() {
      if (timer !== undefined) {
        pending = true;
        return;
      }
      void save();
      timer = window.setTimeout(() => {
        timer = undefined;
        if (pending) {
          pending = false;
          void save();
        }
      }, SAVE_EVERY_MS);
    }

    // Scroll events do not bubble: listen while they go down (the main area's, or the page's).
    document.addEventListener('scroll', onScroll, { passive: true, capture: true });
    return () => {
      document.removeEventListener('scroll', onScroll, { capture: true });
      window.clearTimeout(timer);
      if (pending) void save();
    };
  }, [id, readerRef]);
}
