/**
 * Highlights and notes in a real browser on a real `fuze up`: text selected in the reader is
 * highlighted in a colour, given a note, kept over a reload and over the page being processed
 * again after it changed (anchored by its quote and surroundings), found by the library's
 * search through its note, listed and searched on the Highlights page, and deleted.
 * Screenshots at 390 and 1280 px, light and dark, go to frontend/test-output/highlights/, each
 * with an axe-core check.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import { launchChromium } from './support/browser';
import { type Fuze, registerUser, startFuze, type TestUser, waitFor } from './support/fuze';
import { type Pages, startPages } from './support/pages';
import { apiAs, openSignedIn, screenshotWithAxe, type Theme } from './support/session';

const OUT = join(import.meta.dirname, '..', 'test-output', 'highlights');
mkdirSync(OUT, { recursive: true });

const QUOTE = 'discard half of the starter before each feeding';
const PARAGRAPHS = [
  'A sourdough starter needs flour, water and time. Feed it at the same hour each day and keep it warm.',
  `To keep the yeast strong, ${QUOTE}, so that it always has fresh flour to eat.`,
  'Rye flour wakes a sluggish starter: its enzymes and bran feed the yeast and bacteria alike.',
  'Bake when the starter has doubled and smells pleasantly sour, usually four to eight hours after feeding.',
];

function html(intro: string[]): string {
  const body = [...intro, ...PARAGRAPHS].map((p) => `<p>${p}</p>`).join('\n');
  return `<!DOCTYPE html><html><head><title>Keeping a starter alive</title></head><body><article><h1>Keeping a starter alive</h1>${body}</article></body></html>`;
}

let fuze: Fuze;
let pages: Pages;
let browser: Browser;
let user: TestUser;
let id = '';

const open = (width = 1280, colorScheme: Theme = 'light') =>
  openSignedIn(browser, user, width, colorScheme);

const api = <T>(path: string, init: RequestInit = {}) => apiAs(fuze, user)<T>(path, init);

type Highlight = { id: string; quote: string; color: string; note: string | null; start: number | null };

/** Selects `text` in the reader the way a user's drag does. */
async function select(p: Page, text: string) {
  await p.evaluate((wanted) => {
    const reader = document.querySelector('.reader')!;
    const walker = document.createTreeWalker(reader, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const at = (n.textContent ?? '').indexOf(wanted);
      if (at >= 0) {
        const range = document.createRange();
        range.setStart(n, at);
        range.setEnd(n, at + wanted.length);
        const sel = window.getSelection()!;
        sel.removeAllRanges();
        sel.addRange(range);
        return;
      }
    }
    throw new Error(`"${wanted}" is not in the reader`);
  }, text);
}

const shot = (p: Page, name: string, a11y: string[]) => screenshotWithAxe(p, OUT, name, a11y);

before(async () => {
  [fuze, pages, browser] = await Promise.all([startFuze(), startPages(), launchChromium()]);
  user = await registerUser(fuze);
  pages.route('/hl/starter', { headers: { 'Content-Type': 'text/html; charset=utf-8' }, body: html([]) });
  id = (await api<{ id: string }>('/api/bookmarks', { method: 'POST', body: JSON.stringify({ url: pages.url('/hl/starter') }) })).id;
  await waitFor(async () => (await api<{ status: string }>(`/api/bookmarks/${id}`)).status === 'ready', {
    timeoutMs: 180_000,
    what: 'the page to be ready',
  });
});

after(async () => {
  await browser?.close();
  await pages?.stop();
  await fuze?.stop();
});

describe('Highlights', () => {
  it('highlights a selection with a note, and keeps it over a reload and a changed page', async () => {
    const { context, page: p } = await open();
    await p.goto(fuze.url(`/items/${id}`));
    await p.locator('.reader').getByText(QUOTE, { exact: false }).waitFor();
    await select(p, QUOTE);
    await p.getByRole('toolbar', { name: 'Highlight the selected text' }).getByRole('button', { name: 'Highlight in green' }).click();
    const mark = p.locator('.reader mark.hl-green');
    await mark.waitFor();
    assert.equal(await mark.textContent(), QUOTE);
    const saved = await api<{ items: Highlight[] }>(`/api/bookmarks/${id}/highlights`);
    assert.deepEqual(saved.items.map((h) => [h.quote, h.color]), [[QUOTE, 'green']]);

    const panel = p.getByRole('region', { name: /Highlights/ });
    await panel.getByRole('button', { name: 'Add note' }).click();
    await panel.getByLabel('Note').fill('Ask the bakery about their hydration ratio.');
    await panel.getByRole('button', { name: 'Save note' }).click();
    await panel.getByText('Ask the bakery about their hydration ratio.').waitFor();

    await p.reload();
    await p.locator('.reader mark.hl-green').waitFor();
    assert.equal(await p.locator('.reader mark.hl-green').textContent(), QUOTE, 'kept over a reload');
    await panel.getByText('Ask the bakery about their hydration ratio.').waitFor();

    // The page changes (a paragraph added before the passage) and is processed again: the
    // highlight is found by its words, not its old offsets.
    pages.route('/hl/starter', {
      headers: { 'Content-Type': 'text/html; charset=utf-8' },
      body: html(['An update: this guide now opens with a note on water temperature for cold kitchens.']),
    });
    await p.getByRole('button', { name: 'Process again' }).click();
    await p.locator('.reader').getByText('An update: this guide now opens', { exact: false }).waitFor({ timeout: 180_000 });
    await p.locator('.reader mark.hl-green').waitFor();
    assert.equal(await p.locator('.reader mark.hl-green').textContent(), QUOTE, 'kept over a new extraction');
    assert.equal(await panel.getByText('Not in the page’s current text.').count(), 0);
    await context.close();
  });

  it('finds the page by its note in search, and the highlight on the Highlights page', async () => {
    const { context, page: p } = await open();
    await p.goto(fuze.url('/search?q=hydration&mode=keyword'));
    await p.getByRole('list', { name: 'Search results' }).getByRole('link', { name: 'Keeping a starter alive' }).waitFor();

    await p.goto(fuze.url('/'));
    await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Highlights' }).click();
    const list = p.getByRole('list', { name: 'Highlights' });
    await list.getByText(QUOTE).waitFor();
    await p.getByRole('searchbox', { name: 'Search your highlights and notes' }).fill('bakery ratio');
    await p.getByRole('status').getByText('1 highlight match “bakery ratio”').waitFor();
    await list.getByRole('link', { name: 'Keeping a starter alive' }).click();
    await p.locator('.reader mark.hl-green').waitFor();
    await context.close();
  });

  it('looks right at phone and desktop width in both themes', async () => {
    const a11y: string[] = [];
    for (const width of [390, 1280]) {
      for (const scheme of ['light', 'dark'] as const) {
        const { context, page: p } = await open(width, scheme);
        await p.goto(fuze.url(`/items/${id}`));
        await p.locator('.reader mark.hl-green').waitFor();
        await select(p, 'Rye flour wakes a sluggish starter');
        await p.getByRole('toolbar', { name: 'Highlight the selected text' }).waitFor();
        await p.locator('.reader mark.hl-green').scrollIntoViewIfNeeded();
        await shot(p, `item-${width}-${scheme}`, a11y);
        await p.goto(fuze.url('/highlights'));
        await p.getByRole('list', { name: 'Highlights' }).getByText(QUOTE).waitFor();
        await shot(p, `page-${width}-${scheme}`, a11y);
        await context.close();
      }
    }
    assert.deepEqual(a11y, []);
  });

  it('deletes a highlight', async () => {
    const { context, page: p } = await open();
    await p.goto(fuze.url(`/items/${id}`));
    await p.locator('.reader mark.hl-green').waitFor();
    p.once('dialog', (d) => void d.accept());
    await p.getByRole('region', { name: /Highlights/ }).getByRole('button', { name: 'Delete' }).click();
    await waitFor(async () => (await p.locator('.reader mark.hl').count()) === 0, { what: 'the mark to go' });
    assert.deepEqual((await api<{ items: Highlight[] }>(`/api/bookmarks/${id}/highlights`)).items, []);
    await context.close();
  });
});
