/**
 * What a library card shows when its page has no picture: a colour of its site and the
 * site's initial, so the same site always looks the same; and the addresses a card may load.
 */

/** A hue (0-359) from the site's name: the same name, the same colour, in both themes. */
export function siteHue(site: string): number {
  let h = 2166136261; // FNV-1a
  for (const ch of site.toLowerCase()) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 360;
}

/** The first letter or digit of a site's name ("www." aside), upper-cased; "?" without one. */
export function initialOf(site: string): string {
  const name = site.trim().replace(/^www\./i, '');
  const m = /[\p{L}\p{N}]/u.exec(name);
  return m ? m[0].toLocaleUpperCase() : '?';
}

const THUMBNAIL = /^\/api\/bookmarks\/[0-9a-f-]{36}\/thumbnail\?v=[0-9a-f]{1,32}&token=[\w.-]+$/;

/** The card picture's address as the API gives it (same origin, that shape only). */
export function thumbnailUrl(value: string | null | undefined): string | undefined {
  return value && THUMBNAIL.test(value) ? value : undefined;
}

/** An http(s) address of the web (a favicon), or nothing. */
export function webUrl(value: string | null | undefined): string | undefined {
  return value && /^https?:\/\//i.test(value) ? value : undefined;
}
