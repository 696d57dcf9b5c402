/**
 * Reading states in a real browser on a real `fuze up`: favourite and archive from an item's
 * page, the archive out of the library's default view, "Mark read" on a selection, the Show
 * filter, and reading progress kept while scrolling the reader, restored on reopening, shown
 * as a bar in the list, and marking the page read at its end. Screenshots of the library with
 * these states at 390 and 1280 px, light and dark, go to frontend/test-output/states/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import { launchChromium } from './support/browser';
import { type Fuze, registerUser, startFuze, type TestUser, waitFor } from './support/fuze';
import { type Pages, startPages } from './support/pages';
import { openSignedIn, type Theme } from './support/session';

const OUT = join(import.meta.dirname, '..', 'test-output', 'states');
mkdirSync(OUT, { recursive: true });

const PARAGRAPH =
  'A sourdough starter needs flour, water and time. Feed it at the same hour each day, keep it ' +
  'warm, and discard half before each feeding so that the yeast always has fresh food to eat.';

function page(title: string, paragraphs: number): string {
  const body = Array.from({ length: paragraphs }, (_, i) => `<p>${i + 1}. ${PARAGRAPH}</p>`).join('\n');
  return `<!DOCTYPE html><html><head><title>${title}</title></head><body><article><h1>${title}</h1>${body}</article></body></html>`;
}

let fuze: Fuze;
let pages: Pages;
let browser: Browser;
let user: TestUser;
const ids: Record<string, string> = {};

const open = (width = 1280, colorScheme: Theme = 'light') =>
  openSignedIn(browser, user, width, colorScheme);

async function bookmark(id: string): Promise<{ status: string; progress: number; read_at: string | null; favorite: boolean; archived_at: string | null }> {
  return (await (await fetch(fuze.url(`/api/bookmarks/${id}`), { headers: user.headers })).json()) as never;
}

async function titles(p: Page): Promise<string[]> {
  const list = p.getByRole('list', { name: 'Saved items' });
  return list.locator('.row-title').allTextContents();
}

before(async () => {
  [fuze, pages, browser] = await Promise.all([startFuze(), startPages(), launchChromium()]);
  user = await registerUser(fuze);
  const html = { 'Content-Type': 'text/html; charset=utf-8' };
  pages.route('/states/short', { headers: html, body: page('A short note on starters', 3) });
  pages.route('/states/other', { headers: html, body: page('Rye flour and its enzymes', 3) });
  pages.route('/states/long', { headers: html, body: page('The long guide to sourdough', 80) });
  for (const name of ['short', 'other', 'long']) {
    const res = await fetch(fuze.url('/api/bookmarks'), {
      method: 'POST',
      headers: { ...user.headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: pages.url(`/states/${name}`) }),
    });
    assert.equal(res.status, 201);
    ids[name] = ((await res.json()) as { id: string }).id;
  }
  for (const id of Object.values(ids)) {
    await waitFor(async () => (await bookmark(id)).status === 'ready', { timeoutMs: 180_000, what: 'the pages to be ready' });
  }
});

after(async () => {
  await browser?.close();
  await pages?.stop();
  await fuze?.stop();
});

describe('Reading states', () => {
  it('favourites and archives an item, which leaves the library for the archive', async () => {
    const { context, page: p } = await open();
    await p.goto(fuze.url(`/items/${ids.short}`));
    const fav = p.getByRole('button', { name: 'Favourite' });
    await fav.click();
    await waitFor(async () => (await fav.getAttribute('aria-pressed')) === 'true', { what: 'the favourite' });
    await p.getByRole('button', { name: 'Archive', exact: true }).click();
    await p.getByRole('button', { name: 'Unarchive' }).waitFor();
    const saved = await bookmark(ids.short);
    assert.ok(saved.favorite && saved.archived_at, JSON.stringify(saved));

    await p.getByRole('link', { name: '← Library' }).click();
    await p.getByRole('list', { name: 'Saved items' }).getByText('Rye flour and its enzymes').waitFor();
    assert.ok(!(await titles(p)).includes('A short note on starters'), 'archived: out of the library');
    await p.getByLabel('Show').selectOption('archive');
    await waitFor(async () => (await titles(p)).join('|') === 'A short note on starters', { what: 'the archive' });
    assert.equal(await p.locator('.row .fav').count(), 1);
    await p.getByLabel('Show').selectOption('favorites');
    await waitFor(async () => (await titles(p)).join('|') === 'A short note on starters', { what: 'the favourites' });
    await context.close();
  });

  it('marks a selection read and filters by read and unread', async () => {
    const { context, page: p } = await open();
    await p.goto(fuze.url('/'));
    await p.getByRole('list', { name: 'Saved items' }).getByText('Rye flour and its enzymes').waitFor();
    await p.getByLabel('Select Rye flour and its enzymes').check();
    await p.getByRole('toolbar', { name: 'Selection' }).getByRole('button', { name: 'Mark read' }).click();
    await waitFor(async () => Boolean((await bookmark(ids.other)).read_at), { what: 'the item marked read' });
    await p.getByLabel('Show').selectOption('read');
    await waitFor(async () => (await titles(p)).join('|') === 'Rye flour and its enzymes', { what: 'the read items' });
    await p.getByLabel('Show').selectOption('unread');
    await waitFor(async () => (await titles(p)).join('|') === 'The long guide to sourdough', { what: 'the unread items' });
    await context.close();
  });

  it('keeps reading progress, restores it, shows it in the list and marks the page read at its end', async () => {
    const { context, page: p } = await open();
    await p.goto(fuze.url(`/items/${ids.long}`));
    const reader = p.locator('.reader');
    await reader.getByText(/^40\. /).waitFor();
    // Halfway through the text.
    await reader.getByText(/^40\. /).evaluate((el) => el.scrollIntoView({ block: 'end' }));
    await waitFor(async () => (await bookmark(ids.long)).progress > 0.3, { timeoutMs: 60_000, what: 'the progress saved' });
    const kept = (await bookmark(ids.long)).progress;
    assert.ok(kept < 0.9, `halfway, not done: ${kept}`);

    // Opened again: back where it was left.
    await p.goto(fuze.url('/'));
    await p.getByRole('list', { name: 'Saved items' }).getByText('The long guide to sourdough').waitFor();
    const bar = p.getByRole('progressbar', { name: /^Read \d+%$/ });
    await bar.waitFor();
    assert.equal(await bar.getAttribute('aria-valuenow'), String(Math.round(kept * 100)));
    await p.screenshot({ path: join(OUT, 'library-progress-1280-light.png') });
    await p.goto(fuze.url(`/items/${ids.long}`));
    await reader.getByText(/^40\. /).waitFor();
    await waitFor(async () => (await p.evaluate(() => Math.max(window.scrollY, document.getElementById('main')?.scrollTop ?? 0))) > 500, {
      what: 'the position restored',
    });
    assert.ok(await reader.getByText(/^40\. /).isVisible());

    // To the end: read.
    await reader.getByText(/^80\. /).evaluate((el) => el.scrollIntoView({ block: 'end' }));
    await waitFor(async () => Boolean((await bookmark(ids.long)).read_at), { timeoutMs: 60_000, what: 'the page marked read' });
    await p.getByText('read', { exact: true }).first().waitFor();
    await context.close();
  });

  it('looks right at phone and desktop width, light and dark', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      for (const width of [1280, 390]) {
        const { context, page: p } = await open(width, scheme);
        await p.goto(fuze.url('/?show=all'));
        await p.getByRole('list', { name: 'Saved items' }).getByText('The long guide to sourdough').waitFor();
        await p.evaluate(() => document.fonts.ready);
        await p.screenshot({ path: join(OUT, `library-${width}-${scheme}.png`) });
        await p.goto(fuze.url(`/items/${ids.short}`));
        await p.getByRole('button', { name: 'Unarchive' }).waitFor();
        await p.screenshot({ path: join(OUT, `item-${width}-${scheme}.png`) });
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 1, `the page does not scroll sideways at ${width} px, ${scheme} (${overflow} px)`);
        await context.close();
      }
    }
  });
});
