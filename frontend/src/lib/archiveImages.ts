/**
 * The reader HTML's images that the server serves from the page's archived copy
 * (`/api/archives/{id}/images/{key}?token=...`, app/archives/images.py): a same-origin path,
 * kept only in exactly that shape. Any other relative address is still dropped.
 */
const ARCHIVE_IMAGE = /^\/api\/archives\/[0-9a-f-]{36}\/images\/[0-9a-f]{40}\?token=[\w.-]+$/;

export function archiveImageUrl(value: string | null): string | undefined {
  return value && ARCHIVE_IMAGE.test(value) ? value : undefined;
}
