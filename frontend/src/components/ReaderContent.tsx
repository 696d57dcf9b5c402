import { type ReactNode, useMemo, useState } from 'react';
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

function build(node: Node, key: number): ReactNode {
  if (node.nodeType === Node.TEXT_NODE) return node.textContent;
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const el = node as Element;
  const tag = el.tagName.toLowerCase();
  if (DROP.has(tag)) return null;
  const children = Array.from(el.childNodes, (c, i) => build(c, i));
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

export function SanitizedContent({ html }: { html: string }) {
  const nodes = useMemo(() => {
    const doc = new DOMParser().parseFromString(html, 'text/html');
    return Array.from(doc.body.childNodes, (c, i) => build(c, i));
  }, [html]);
  return <>{nodes}</>;
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

/** The saved content: structured when the server has it, else the plain text's paragraphs. */
export function ReaderContent({ html, text }: { html: string | null | undefined; text: string }) {
  const [size, change] = useReaderSize();
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
      <div className="reader" data-structured={html ? 'true' : 'false'} style={{ fontSize: `${SIZES[size]}rem` }}>
        {html ? <SanitizedContent html={html} /> : text.split(/\n{2,}/).map((p, i) => <p key={i}>{p}</p>)}
      </div>
    </div>
  );
}
