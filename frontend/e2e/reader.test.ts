/**
 * The reader view in a real browser on a real `fuze up`: a saved page's headings, nested list,
 * code block (line breaks kept), table and image show as such; the scripts, event handlers and
 * `javascript:` links the page carried never run (each would set a window flag); the text size
 * is remembered. Screenshots at 390 and 1280 px, light and dark, go to
 * frontend/test-output/reader/ (git-ignored).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Browser } from 'playwright-core';

import { launchChromium } from './support/browser';
import { type Fuze, registerUser, startFuze, type TestUser, waitFor } from './support/fuze';
import { type Pages, startPages } from './support/pages';
import { openSignedIn, type Theme } from './support/session';

const OUT = join(import.meta.dirname, '..', 'test-output', 'reader');
mkdirSync(OUT, { recursive: true });

const PROSE =
  'Docking a spacecraft takes patience, careful alignment, and a crew that trusts the instruments ' +
  'more than their eyes, because the last metres are always the hardest ones to fly.';

const DIAGRAM =
  '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="200" viewBox="0 0 640 200">' +
  '<rect width="640" height="200" fill="#dfe7f5"/><circle cx="160" cy="100" r="60" fill="#5b3ee6"/>' +
  '<rect x="380" y="60" width="160" height="80" fill="#137a4a"/></svg>';

const PAGE = `<!DOCTYPE html><html><head><title>Docking, step by step</title>
<script>window.__pwned = 'head script'</script></head><body>
<nav><a href="/">Home</a> <a href="/blog">Blog</a></nav>
<article><h1>Docking, step by step</h1>
<p>${PROSE} See <a href="/guides/capture">the capture guide</a> and call <code>arm_latches()</code>.</p>
<h2>Before the approach</h2><p>${PROSE}</p>
<figure><img src="/diagram.svg" alt="The two spacecraft, side by side"></figure>
<ul><li>Check the radar<ul><li>Range</li><li>Range rate</li></ul></li><li>Arm the latches</li></ul>
<h3>The approach script</h3>
<pre><code>approach(speed=0.1)
  hold(seconds=30)
capture()   # soft capture, then hard docking with every hook closed and the seal checked again</code></pre>
<table><tr><th>Phase</th><th>Speed</th><th>Distance</th><th>Crew action</th><th>Notes</th></tr>
<tr><td>Approach</td><td>0.1 m/s</td><td>200 m</td><td>Monitor the radar and the camera</td><td>Abort if the range rate climbs</td></tr>
<tr><td>Capture</td><td>0.03 m/s</td><td>0 m</td><td>Close the latches</td><td>Wait for the seal</td></tr></table>
<blockquote><p>${PROSE}</p></blockquote>
<p>${PROSE}<img src="/missing.png" alt="A broken picture" onerror="window.__pwned = 'onerror'"></p>
<script>window.__pwned = 'inline script'</script>
<svg><script>window.__pwned = 'svg script'</script></svg>
<p onmouseover="window.__pwned = 'onmouseover'">${PROSE} <a href="javascript:window.__pwned = 'javascript link'">Click me</a></p>
</article><footer>Copyright</footer></body></html>`;

let fuze: Fuze;
let pages: Pages;
let browser: Browser;
let user: TestUser;

const open = (width: number, colorScheme: Theme = 'light') =>
  openSignedIn(browser, user, width, colorScheme);

before(async () => {
  [fuze, pages, browser] = await Promise.all([startFuze(), startPages(), launchChromium()]);
  user = await registerUser(fuze);
  pages.route('/blog/docking', { headers: { 'Content-Type': 'text/html; charset=utf-8' }, body: PAGE });
  pages.route('/diagram.svg', { headers: { 'Content-Type': 'image/svg+xml' }, body: DIAGRAM });
});

after(async () => {
  await browser?.close();
  await pages?.stop();
  await fuze?.stop();
});

describe('Reader view', () => {
  let id = '';

  it('saves a page and reads it with its structure, and none of its scripts run', async () => {
    const res = await fetch(fuze.url('/api/bookmarks'), {
      method: 'POST',
      headers: { ...user.headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: pages.url('/blog/docking') }),
    });
    assert.equal(res.status, 201);
    id = ((await res.json()) as { id: string }).id;
    await waitFor(
      async () => {
        const b = (await (await fetch(fuze.url(`/api/bookmarks/${id}`), { headers: user.headers })).json()) as { status: string };
        return b.status === 'ready';
      },
      { timeoutMs: 180_000, what: 'the page to be ready' },
    );

    const { context, page } = await open(1280);
    await page.goto(fuze.url(`/items/${id}`));
    const reader = page.locator('.reader[data-structured="true"]');
    await reader.getByRole('heading', { level: 2, name: 'Before the approach' }).waitFor();
    await reader.getByRole('heading', { level: 3, name: 'The approach script' }).waitFor();
    assert.deepEqual(await reader.locator('ul ul > li').allTextContents(), ['Range', 'Range rate']);
    const code = await reader.locator('pre').textContent();
    assert.ok(code?.startsWith('approach(speed=0.1)\n  hold(seconds=30)\ncapture()'), code ?? '');
    assert.deepEqual(await reader.locator('table tr').first().locator('th').allTextContents(), [
      'Phase',
      'Speed',
      'Distance',
      'Crew action',
      'Notes',
    ]);
    const link = reader.getByRole('link', { name: 'the capture guide' });
    assert.equal(await link.getAttribute('href'), pages.url('/guides/capture'));
    const img = reader.getByRole('img', { name: 'The two spacecraft, side by side' });
    await waitFor(async () => img.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0), {
      timeoutMs: 30_000,
      what: 'the image to load',
    });
    // The broken image did load (and fail) without its handler; hovering and clicking do nothing.
    await reader.getByRole('img', { name: 'A broken picture' }).waitFor();
    await reader.getByText('Click me').hover();
    await reader.getByText('Click me').click();
    await page.waitForTimeout(300); // let a handler that should not exist have its chance
    assert.equal(await page.evaluate(() => (window as { __pwned?: string }).__pwned), undefined);
    assert.equal(await reader.locator('script, svg, iframe, [onerror], [onmouseover], [style] a').count(), 0);
    assert.equal(page.url(), fuze.url(`/items/${id}`));
    await context.close();
  });

  it('keeps an archived copy that opens with the site gone, its images inlined (the reader shows them too) and its scripts inert', async () => {
    await waitFor(
      async () => {
        const r = await fetch(fuze.url(`/api/bookmarks/${id}/archives`), { headers: user.headers });
        const items = ((await r.json()) as { items: { status: string }[] }).items;
        return items.length > 0 && items[0].status === 'ready';
      },
      { timeoutMs: 300_000, what: 'the archive' },
    );
    const { context, page } = await open(1280);
    // The site is gone: nothing reaches it any more.
    await context.route(`${pages.url('/')}**`, (route) => route.abort());
    await page.goto(fuze.url(`/items/${id}`));
    // The reader view's image comes from the archived copy: the site cannot be reached.
    const readerImg = page.locator('.reader').getByRole('img', { name: 'The two spacecraft, side by side' });
    await waitFor(
      async () => readerImg.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0),
      { timeoutMs: 30_000, what: 'the reader image to show from the archive' },
    );
    assert.match((await readerImg.getAttribute('src')) ?? '', /^\/api\/archives\/[0-9a-f-]{36}\/images\/[0-9a-f]{40}\?token=/);
    const copies = page.getByRole('list', { name: 'Archived copies' });
    await copies.getByText(/files? kept/).waitFor();
    await copies.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(OUT, 'item-archives-1280-light.png') });
    const [tab] = await Promise.all([context.waitForEvent('page'), copies.getByRole('button', { name: 'Open archived copy' }).click()]);
    await tab.waitForURL(/\/api\/archives\/.+\/view\?token=/);
    await tab.getByRole('heading', { name: 'Before the approach' }).waitFor();
    const img = tab.getByRole('img', { name: 'The two spacecraft, side by side' });
    await waitFor(async () => img.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0), {
      timeoutMs: 30_000,
      what: 'the archived image to show',
    });
    assert.match((await img.getAttribute('src')) ?? '', /^data:image\/svg\+xml;base64,/);
    await tab.getByText('Click me').click();
    await tab.waitForTimeout(300); // a handler that should not exist gets its chance
    assert.equal(await tab.evaluate(() => (window as { __pwned?: string }).__pwned), undefined);
    // A sandboxed copy has an origin of its own: Fuze's storage (and its tokens) is not there.
    assert.equal(await tab.evaluate(() => window.origin), 'null');
    await tab.screenshot({ path: join(OUT, 'archive-1280-light.png') });
    await context.close();
  });

  it('remembers the text size', async () => {
    const { context, page } = await open(1280);
    await page.goto(fuze.url(`/items/${id}`));
    const reader = page.locator('.reader');
    await reader.getByRole('heading', { name: 'Before the approach' }).waitFor();
    const before = await reader.evaluate((el) => getComputedStyle(el).fontSize);
    await page.getByRole('button', { name: 'Larger text' }).click();
    await page.getByRole('button', { name: 'Larger text' }).click();
    const bigger = await reader.evaluate((el) => getComputedStyle(el).fontSize);
    assert.ok(parseFloat(bigger) > parseFloat(before), `${bigger} > ${before}`);
    await page.reload();
    await reader.getByRole('heading', { name: 'Before the approach' }).waitFor();
    assert.equal(await reader.evaluate((el) => getComputedStyle(el).fontSize), bigger);
    await page.getByRole('button', { name: 'Smaller text' }).click();
    await page.getByRole('button', { name: 'Smaller text' }).click();
    await context.close();
  });

  it('looks right at phone and desktop width, light and dark', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      for (const width of [1280, 390]) {
        const { context, page } = await open(width, scheme);
        await page.goto(fuze.url(`/items/${id}`));
        const reader = page.locator('.reader');
        await reader.getByRole('heading', { name: 'Before the approach' }).scrollIntoViewIfNeeded();
        await page.evaluate(() => document.fonts.ready);
        await page.screenshot({ path: join(OUT, `reader-${width}-${scheme}.png`) });
        await reader.locator('table').scrollIntoViewIfNeeded();
        await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
        await page.screenshot({ path: join(OUT, `reader-${width}-${scheme}-table.png`) });
        // a wide table or code block scrolls inside itself: nothing pushes the page sideways
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 1, `the page does not scroll sideways at ${width} px, ${scheme} (${overflow} px)`);
        await context.close();
      }
    }
  });
});
