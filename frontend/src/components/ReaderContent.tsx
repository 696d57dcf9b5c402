import { type MouseEvent, type ReactNode, useEffect, useMemo, useRef, useState } from 'react';

import type { HighlightOut } from '../client/types.gen';
import { describe, layout, type Range, type Selector } from '../lib/anchor';
import { archiveImageUrl } from '../lib/archiveImages';

/**
 * The reader view of a saved page: its main content with its structure.
 *
 * The server sends sanitised HTML (`content_html`, nh3 with an allow-list). It is still never
 * handed to innerHTML here: it is parsed by DOMParser into an inert document (its scripts
 * never run, its images never load) and rebuilt as React elements from the same allow-list,
 * with only href (http, https, mailto), src (http, https, archived images) and alt kept. Whatever the server
 * sent, nothing but these tags and attributes reaches the page.
 */

const TAGS = new Set([
  'p', 'br', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li', 'blockquote', 'pre', 'code',
  'em', 'strong', 'del', 'sub', 'sup', 'mark', 'a', 'img', 'table', 'thead', 'tbody', 'tfoot',
  'tr', 'td', 'th', 'caption', 'dl', 'dt', 'dd',
]);
const VOID = new Set(['br', 'img']);
// Not allowed, and their content is not text to show either.
const DROP = new Set(['script', 'style', 'template', 'noscript', 'svg', 'math', 'iframe', 'object', 'textarea', 'title']);

function safeUrl(value: string | null, schemes: string[]): string | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return schemes.includes(url.protocol) ? url.href : undefined;
  } catch {
    return undefined;
  }
}

type Placed = Range & { item: HighlightOut };

/** Cuts the text nodes into plain runs and <mark>s as they are built, counting characters in
 * the order they appear (the reader's text: see lib/anchor.ts). */
class Marker {
  offset = 0;
  constructor(
    private placed: Placed[],
    private active: string | null,
  ) {}

  text(value: string, key: number): ReactNode {
    const from = this.offset;
    const to = from + value.length;
    this.offset = to;
    const parts: ReactNode[] = [];
    let at = from;
    for (const p of this.placed) {
      if (p.end <= at || p.start >= to) continue;
      const start = Math.max(p.start, at);
      const end = Math.min(p.end, to);
      if (start > at) parts.push(value.slice(at - from, start - from));
      parts.push(
        <mark
          key={`${key}-${start}`}
          className={`hl hl-${p.item.color}${p.item.id === this.active ? ' hl-active' : ''}`}
          data-highlight-id={p.item.id}
          title={p.item.note ?? undefined}
        >
          {value.slice(start - from, end - from)}
        </mark>,
      );
      at = end;
    }
    if (!parts.length) return value;
    if (at < to) parts.push(value.slice(at - from));
    return <span key={key}>{parts}</span>;
  }
}

/** The reader's text: the characters of the text nodes that are shown, in order. */
export function readerText(html: string | null | undefined, text: string): string {
  if (!html) return paragraphs(text).join('');
  const doc = new DOMParser().parseFromString(html, 'text/html');
  const out: string[] = [];
  const walk = (node: Node) => {
    if (node.nodeType === Node.TEXT_NODE) out.push(node.textContent ?? '');
    else if (node.nodeType === Node.ELEMENT_NODE && !DROP.has((node as Element).tagName.toLowerCase()))
      node.childNodes.forEach(walk);
  };
  doc.body.childNodes.forEach(walk);
  return out.join('');
}

function paragraphs(text: string): string[] {
  return text.split(/\n{2,}/);
}

function build(node: Node, key: number, marker: Marker): ReactNode {
  if (node.nodeType === Node.TEXT_NODE) return marker.text(node.textContent ?? '', key);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const el = node as Element;
  const tag = el.tagName.toLowerCase();
  if (DROP.has(tag)) return null;
  const children = Array.from(el.childNodes, (c, i) => build(c, i, marker));
  if (!TAGS.has(tag)) return children.length ? <span key={key}>{children}</span> : null;
  if (tag === 'img') {
    const src = archiveImageUrl(el.getAttribute('src')) ?? safeUrl(el.getAttribute('src'), ['http:', 'https:']);
    const alt = el.getAttribute('alt') ?? '';
    return src ? <img key={key} src={src} alt={alt} loading="lazy" referrerPolicy="no-referrer" /> : null;
  }
  if (tag === 'a') {
    const href = safeUrl(el.getAttribute('href'), ['http:', 'https:', 'mailto:']);
    return href ? (
      <a key={key} href={href} rel="noopener noreferrer nofollow" target="_blank">
        {children}
      </a>
    ) : (
      <span key={key}>{children}</span>
    );
  }
  const Tag = tag as 'p';
  if (VOID.has(tag)) return <Tag key={key} />;
  if (tag === 'table') {
    // wide tables scroll on their own, not the page
    return (
      <div key={key} className="table-scroll">
        <table>{children}</table>
      </div>
    );
  }
  return <Tag key={key}>{children}</Tag>;
}

export function SanitizedContent({ html, placed = [], active = null }: { html: string; placed?: Placed[]; active?: string | null }) {
  const doc = useMemo(() => new DOMParser().parseFromString(html, 'text/html'), [html]);
  const nodes = useMemo(() => {
    const marker = new Marker(placed, active);
    return Array.from(doc.body.childNodes, (c, i) => build(c, i, marker));
  }, [doc, placed, active]);
  return <>{nodes}</>;
}

function PlainContent({ text, placed, active }: { text: string; placed: Placed[]; active: string | null }) {
  const marker = new Marker(placed, active);
  return (
    <>
      {paragraphs(text).map((p, i) => (
        <p key={i}>{marker.text(p, i)}</p>
      ))}
    </>
  );
}

const SIZES = [0.875, 1, 1.125, 1.25, 1.375, 1.5];
const SIZE_KEY = 'fuze.readerSize';

function storedSize(): number {
  try {
    const raw = localStorage.getItem(SIZE_KEY);
    const i = raw === null ? 1 : Number(raw);
    return Number.isInteger(i) && i >= 0 && i < SIZES.length ? i : 1;
  } catch {
    return 1;
  }
}

/** Text size of the reader, remembered on this device. */
function useReaderSize(): [number, (step: number) => void] {
  const [index, setIndex] = useState(storedSize);
  function change(step: number) {
    setIndex((i) => {
      const next = Math.min(SIZES.length - 1, Math.max(0, i + step));
      try {
        localStorage.setItem(SIZE_KEY, String(next));
      } catch {
        // not kept
      }
      return next;
    });
  }
  return [index, change];
}

/** Offsets of a selection within `root`'s text (the same count as readerText()). */
function selectionIn(root: HTMLElement): { start: number; end: number } | null {
  const sel = window.getSelection();
  if (!sel || sel.isCollapsed || sel.rangeCount === 0) return null;
  const range = sel.getRangeAt(0);
  if (!root.contains(range.commonAncestorContainer)) return null;
  const before = document.createRange();
  before.selectNodeContents(root);
  before.setEnd(range.startContainer, range.startOffset);
  const start = before.toString().length;
  const end = start + range.toString().length;
  return end > start ? { start, end } : null;
}

export const COLORS = ['yellow', 'green', 'blue', 'pink', 'purple'] as const;
export type Color = (typeof COLORS)[number];

export type Highlighting = {
  items: HighlightOut[];
  active: string | null;
  onSelect: (id: string | null) => void;
  onCreate: (selector: Selector, color: Color) => void;
};

/** The saved content: structured when the server has it, else the plain text's paragraphs;
 * with the user's highlights marked in it, and a bar to highlight what is selected. */
export function ReaderContent({ html, text, highlighting }: { html: string | null | undefined; text: string; highlighting?: Highlighting }) {
  const [size, change] = useReaderSize();
  const full = useMemo(() => readerText(html, text), [html, text]);
  const items = highlighting?.items;
  const placed = useMemo(() => (items ? layout(full, items).placed : []), [full, items]);
  const active = highlighting?.active ?? null;
  const ref = useRef<HTMLDivElement>(null);
  const [selected, setSelected] = useState<{ start: number; end: number } | null>(null);

  useEffect(() => {
    if (!highlighting) return;
    const onChange = () => {
      const root = ref.current;
      setSelected(root ? selectionIn(root) : null);
    };
    document.addEventListener('selectionchange', onChange);
    return () => document.removeEventListener('selectionchange', onChange);
  }, [highlighting]);

  function onClick(e: MouseEvent) {
    const mark = (e.target as Element).closest?.('mark[data-highlight-id]');
    if (mark && highlighting && window.getSelection()?.isCollapsed !== false) {
      highlighting.onSelect(mark.getAttribute('data-highlight-id'));
    }
  }

  function create(color: Color) {
    if (!selected || !highlighting) return;
    // The selection's edges may fall in white space between blocks: trim them off.
    let { start, end } = selected;
    while (start < end && /\s/.test(full[start])) start++;
    while (end > start && /\s/.test(full[end - 1])) end--;
    if (end <= start) return;
    highlighting.onCreate(describe(full, start, end), color);
    window.getSelection()?.removeAllRanges();
    setSelected(null);
  }

  return (
    <div className="reader-wrap">
      <div className="reader-tools" role="group" aria-label="Text size">
        <button type="button" className="small" onClick={() => change(-1)} disabled={size === 0} title="Smaller text">
          <span aria-hidden="true">A−</span>
          <span className="visually-hidden">Smaller text</span>
        </button>
        <button
          type="button"
          className="small"
          onClick={() => change(1)}
          disabled={size === SIZES.length - 1}
          title="Larger text"
        >
          <span aria-hidden="true">A+</span>
          <span className="visually-hidden">Larger text</span>
        </button>
      </div>
      <div
        ref={ref}
        className="reader"
        data-structured={html ? 'true' : 'false'}
        style={{ fontSize: `${SIZES[size]}rem` }}
        onClick={onClick}
      >
        {html ? <SanitizedContent html={html} placed={placed} active={active} /> : <PlainContent text={text} placed={placed} active={active} />}
      </div>
      {highlighting && selected ? (
        <div className="highlight-bar" role="toolbar" aria-label="Highlight the selected text">
          <span className="small">Highlight</span>
          {COLORS.map((c) => (
            <button
              key={c}
              type="button"
              className={`swatch hl-${c}`}
              // Keep the selection: a button takes the focus (and on some browsers the selection) on mousedown.
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => create(c)}
              title={`Highlight in ${c}`}
            >
              <span className="visually-hidden">Highlight in {c}</span>
            </button>
          ))}
        </div>
      ) : null}
    </div>
  );
}
