/**
 * Highlights anchored in the reader's text the way the W3C Web Annotation selectors do it:
 * a TextQuoteSelector (the exact text, with a few characters before and after) and a
 * TextPositionSelector (its offsets in the text). The reader's text is the characters of its
 * text nodes in order, the same whether counted from the server's HTML (before rendering) or
 * from the rendered page (a selection), so one offset means the same place in both.
 *
 * Finding a highlight again: at its offsets if the quote is still there; else the occurrence
 * of the quote whose surroundings match best (nearest the old offsets on a tie); else the
 * same words with their white space changed (a page extracted anew). Else it is not shown in
 * the text, and the page lists it apart.
 */

export type Selector = { quote: string; prefix: string; suffix: string; start?: number | null; end?: number | null };
export type Range = { start: number; end: number };

export const CONTEXT = 32;

/** The selector of text[start, end). */
export function describe(text: string, start: number, end: number): Selector {
  return {
    quote: text.slice(start, end),
    prefix: text.slice(Math.max(0, start - CONTEXT), start),
    suffix: text.slice(end, end + CONTEXT),
    start,
    end,
  };
}

function commonSuffix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[a.length - 1 - n] === b[b.length - 1 - n]) n++;
  return n;
}

function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function best(text: string, quote: string, s: Selector): Range | null {
  let found: Range | null = null;
  let score = -Infinity;
  for (let i = text.indexOf(quote); i !== -1; i = text.indexOf(quote, i + 1)) {
    const end = i + quote.length;
    const context =
      commonSuffix(text.slice(Math.max(0, i - s.prefix.length), i), s.prefix) +
      commonPrefix(text.slice(end, end + s.suffix.length), s.suffix);
    // Surroundings first; the distance from the old offsets only breaks ties.
    const distance = s.start != null ? Math.abs(i - s.start) / (text.length + 1) : 0;
    const value = context - distance;
    if (value > score) {
      score = value;
      found = { start: i, end };
    }
  }
  return found;
}

/** The text with its runs of white space made one space, and where each character came from. */
function squeezed(text: string): { text: string; at: number[] } {
  const out: string[] = [];
  const at: number[] = [];
  let space = false;
  for (let i = 0; i < text.length; i++) {
    if (/\s/.test(text[i])) {
      if (!space && out.length) {
        out.push(' ');
        at.push(i);
      }
      space = true;
    } else {
      out.push(text[i]);
      at.push(i);
      space = false;
    }
  }
  return { text: out.join(''), at };
}

export function anchor(text: string, s: Selector): Range | null {
  if (!s.quote) return null;
  if (s.start != null && s.end != null && text.slice(s.start, s.end) === s.quote) {
    return { start: s.start, end: s.end };
  }
  const exact = best(text, s.quote, s);
  if (exact) return exact;
  const t = squeezed(text);
  const q = s.quote.split(/\s+/).filter(Boolean).join(' ');
  if (!q) return null;
  const near = best(t.text, q, {
    ...s,
    prefix: s.prefix.replace(/\s+/g, ' '),
    suffix: s.suffix.replace(/\s+/g, ' '),
    start: null,
  });
  if (!near) return null;
  return { start: t.at[near.start], end: t.at[near.end - 1] + 1 };
}

/** Where each anchored highlight is, without overlaps: where two overlap, the one made first
 * keeps the shared characters. */
export function layout<T extends Selector & { id: string }>(text: string, highlights: T[]): { placed: (Range & { item: T })[]; lost: T[] } {
  const placed: (Range & { item: T })[] = [];
  const lost: T[] = [];
  for (const h of highlights) {
    const r = anchor(text, h);
    if (!r) {
      lost.push(h);
      continue;
    }
    let { start, end } = r;
    for (const p of placed) {
      if (start < p.end && end > p.start) {
        if (start >= p.start) start = Math.max(start, p.end);
        else end = Math.min(end, p.start);
      }
    }
    if (end > start) placed.push({ start, end, item: h });
  }
  placed.sort((a, b) => a.start - b.start);
  return { placed, lost };
}
