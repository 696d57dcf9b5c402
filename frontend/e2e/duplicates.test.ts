/**
 * Duplicates in a real browser on a real `fuze up`: the same article saved under two URLs of
 * the test's local server (the blog's page and a mirror's copy in another template) is
 * flagged by the worker; the copy's page shows a badge that leads to the pair; the
 * Duplicates page shows the pair side by side; "Merge into this one" keeps the first page
 * with the tags of both, and the copy is gone. Screenshots at 390 and 1280 px, light and
 * dark, go to $FUZE_E2E_SHOTS (or frontend/test-output/duplicates/), each with an axe-core
 * check.
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

const OUT = process.env.FUZE_E2E_SHOTS ?? join(import.meta.dirname, '..', 'test-output', 'duplicates');
mkdirSync(OUT, { recursive: true });

const TITLE = 'Docking, step by step';
const PARAGRAPHS = [
  'Docking two spacecraft in orbit is a slow dance that takes hours of planning and minutes of nerve. The visiting vehicle closes in along a corridor measured in metres, braking with short pulses of its thrusters while the station holds perfectly still.',
  'Engineers on the ground watch the range and the range rate on their screens. If the approach drifts outside the corridor, the computer aborts on its own and backs away to a safe hold point, where the crew can talk it through before trying again.',
  'The last thirty metres are the hardest. Lasers and cameras replace radar, and the docking ring is lined up with a target mounted beside the hatch, a cross that must stay centred as the gap closes at a few centimetres per second.',
  'Soft capture comes first: spring loaded latches catch the ring and damp the motion. Only when everything is still do twelve hooks pull the two vehicles together into a hard, airtight seal, and the crew can check for leaks before opening the hatch.',
];
const body = PARAGRAPHS.map((p) => `<p>${p}</p>`).join('\n');
const BLOG = `<!DOCTYPE html><html><head><title>${TITLE} - Orbit Notes</title><meta property="og:site_name" content="Orbit Notes"></head><body>
<header><a href="/">Orbit Notes</a><nav><a href="/news">News</a> <a href="/guides">Guides</a></nav></header>
<main><article><h1>${TITLE}</h1>${body}</article><aside><h3>Popular</h3><ul><li><a href="/a">Why orbits decay</a></li></ul></aside></main>
<footer>Orbit Notes, written by people who love space.</footer></body></html>`;
const MIRROR = `<!DOCTYPE html><html><head><title>${TITLE} | Space Daily Mirror</title><meta property="og:site_name" content="Space Daily Mirror"></head><body>
<div class="top"><b>Space Daily Mirror</b> <a href="/latest">Latest</a> <a href="/launches">Launches</a></div>
<div class="story"><h1>${TITLE}</h1><p><em>This story was originally published on Orbit Notes.</em></p>${body}</div>
<div class="more"><h3>More stories</h3><ul><li><a href="/x">Rocket engines explained</a></li></ul></div></body></html>`;

let fuze: Fuze;
let pages: Pages;
let browser: Browser;
let user: TestUser;
let original = '';
let copy = '';

const open = (width = 1280, colorScheme: Theme = 'light') =>
  openSignedIn(browser, user, width, colorScheme);

const api = <T>(path: string, init: RequestInit = {}) => apiAs(fuze, user)<T>(path, init);

async function save(url: string, tags: string[]): Promise<string> {
  const id = (await api<{ id: string }>('/api/bookmarks', { method: 'POST', body: JSON.stringify({ url, tags }) })).id;
  await waitFor(async () => (await api<{ status: string }>(`/api/bookmarks/${id}`)).status === 'ready', {
    timeoutMs: 180_000,
    what: `${url} to be ready`,
  });
  return id;
}

const shot = (p: Page, name: string, a11y: string[]) => screenshotWithAxe(p, OUT, name, a11y);

before(async () => {
  [fuze, pages, browser] = await Promise.all([startFuze(), startPages(), launchChromium()]);
  user = await registerUser(fuze);
  const html = { 'Content-Type': 'text/html; charset=utf-8' };
  pages.route('/blog/docking', { headers: html, body: BLOG });
  pages.route('/mirror/2026/docking-step-by-step', { headers: html, body: MIRROR });
  original = await save(pages.url('/blog/docking'), ['space']);
  copy = await save(pages.url('/mirror/2026/docking-step-by-step'), ['docking']);
  await waitFor(async () => (await api<{ items: unknown[] }>('/api/duplicates')).items.length === 1, {
    timeoutMs: 60_000,
    what: 'the worker to flag the copy',
  });
});

after(async () => {
  await browser?.close();
  await pages?.stop();
  await fuze?.stop();
});

describe('Duplicates', () => {
  it('looks right at phone and desktop width in both themes', async () => {
    const a11y: string[] = [];
    for (const width of [390, 1280]) {
      for (const scheme of ['light', 'dark'] as const) {
        const { context, page: p } = await open(width, scheme);
        await p.goto(fuze.url(`/items/${copy}`));
        await p.getByRole('link', { name: /^Duplicate · same text/ }).waitFor();
        await shot(p, `item-${width}-${scheme}`, a11y);
        await p.goto(fuze.url('/duplicates'));
        await p.getByRole('list', { name: 'Pairs of duplicates' }).getByRole('listitem').first().waitFor();
        await shot(p, `page-${width}-${scheme}`, a11y);
        const wide = await p.evaluate(() => [document.scrollingElement!.scrollWidth, document.querySelector('main')!.scrollWidth - document.querySelector('main')!.clientWidth]);
        assert.ok(wide[0] <= width && wide[1] <= 1, `the page scrolls sideways at ${width} px: ${wide}`);
        await context.close();
      }
    }
    assert.deepEqual(a11y, []);
  });

  it('leads from the badge to the pair and merges it into the page kept, with the tags of both', async () => {
    const { context, page: p } = await open();
    await p.goto(fuze.url(`/items/${copy}`));
    await p.getByRole('link', { name: /^Duplicate · same text \d+%$/ }).click();
    await p.waitForURL(/\/duplicates\?pair=/);
    const pair = p.getByTestId('duplicate-pair');
    await pair.getByText('Saved first').waitFor();
    assert.equal(await pair.count(), 1);
    assert.match((await pair.locator('.dup-reason').textContent()) ?? '', /^same text \d+%$/);
    assert.equal(await pair.getByRole('link', { name: TITLE }).count(), 2, 'both pages, side by side');

    await pair.getByRole('button', { name: 'Merge into this one (the page saved first)' }).click();
    await p.getByRole('status').getByText(/^Merged into/).waitFor();
    await p.getByText('No duplicates.', { exact: false }).waitFor();

    const kept = await api<{ tags: string[] }>(`/api/bookmarks/${original}`);
    assert.deepEqual([...kept.tags].sort(), ['docking', 'space']);
    const gone = await fetch(fuze.url(`/api/bookmarks/${copy}`), { headers: user.headers });
    assert.equal(gone.status, 404);
    await p.goto(fuze.url(`/items/${original}`));
    await p.getByRole('heading', { name: TITLE }).waitFor();
    await p.waitForLoadState('networkidle');
    assert.equal(await p.getByRole('link', { name: /^Duplicate ·/ }).count(), 0, 'no badge once merged');
    await context.close();
  });
});
