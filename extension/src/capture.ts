/**
 * Capturing the page as the user sees it: the live DOM (after JavaScript ran, behind the
 * user's login), injected into the tab with chrome.scripting.executeScript under activeTab.
 */
import { ext } from './ext';

export interface Captured {
  url: string;
  title: string;
  html: string;
}

/**
 * Runs inside the page (serialised by executeScript: no imports, no closures). Scripts and
 * styles are dropped from a copy of the DOM (the server extracts text; they are most of the
 * bytes), JSON-LD is kept (the server reads its metadata), and a <base> keeps relative links
 * meaningful away from the page.
 */
export function captureDocument(): Captured {
  const root = document.documentElement.cloneNode(true) as HTMLElement;
  for (const el of root.querySelectorAll(
    'script:not([type="application/ld+json"]), style, noscript, template, link[rel~="stylesheet"]',
  )) {
    el.remove();
  }
  const head = root.querySelector('head');
  if (head && !head.querySelector('base[href]')) {
    const base = document.createElement('base');
    base.href = document.baseURI;
    head.prepend(base);
  }
  const doctype = document.doctype ? `<!DOCTYPE ${document.doctype.name}>\n` : '';
  return { url: location.href, title: document.title, html: doctype + root.outerHTML };
}

/** The API's limits (app/bookmarks/schemas.py MAX_HTML_CHARS; FUZE_MAX_SAVE_BODY_BYTES, 12 MiB,
 * for the whole JSON body): a page beyond them is saved without its HTML and fetched instead. */
export const MAX_HTML_CHARS = 5_000_000;
export const MAX_HTML_JSON_BYTES = 11 * 1024 * 1024;

export function fitHtml(html: string | undefined): string | undefined {
  if (!html || html.length > MAX_HTML_CHARS) return undefined;
  // Non-ASCII takes up to 3 bytes in the UTF-8 JSON body; escapes take more.
  if (html.length * 3 > MAX_HTML_JSON_BYTES) {
    const bytes = new TextEncoder().encode(JSON.stringify(html)).length;
    if (bytes > MAX_HTML_JSON_BYTES) return undefined;
  }
  return html;
}

/** The tab's page, or null where the extension may not run (browser pages, the web store,
 * a tab it has no access to). */
export async function captureTab(tabId: number): Promise<Captured | null> {
  try {
    const [frame] = await ext.scripting.executeScript({ target: { tabId }, func: captureDocument });
    return (frame?.result as Captured | undefined) ?? null;
  } catch {
    return null;
  }
}
