/**
 * The library's grid of cards in a real browser on a real `fuze up`: a page with an og:image
 * gets the small picture the worker made, a page without one gets its site's placeholder, the
 * view chosen survives a reload, arrow keys move between cards, nothing sticks out at phone
 * width; and the frame times of scrolling 50,000 items, in the list and in the grid, printed
 * side by side. Screenshots at 1280 and 390 px, light and dark, go to FUZE_SHOTS_DIR
 * (default frontend/test-output/cards/).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';

import type { Browser, Page } from 'playwright-core';

import { launchChromium } from './support/browser';
import { type Fuze, registerUser, startFuze, type TestUser, waitFor } from './support/fuze';
import { type Pages, startPages } from './support/pages';
import { openSignedIn, type Theme } from './support/session';

const OUT = process.env.FUZE_SHOTS_DIR ?? join(import.meta.dirname, '..', 'test-output', 'cards');
mkdirSync(OUT, { recursive: true });

const PARAGRAPH =
  'The docking port closes its hooks only after soft capture: the two craft are first held by ' +
  'springs, their motion damped, and only then pulled together for a hard, sealed dock.';

function article(title: string, head = ''): string {
  const body = Array.from({ length: 8 }, (_, i) => `<p>${i + 1}. ${PARAGRAPH}</p>`).join('\n');
  return `<!DOCTYPE html><html><head><title>${title}</title>${head}</head><body><article><h1>${title}</h1>${body}</article></body></html>`;
}

/** A PNG of two colours side by side (an og:image). */
function png(width: number, height: number, left: number[], right: number[]): Buffer {
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const at = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) rows.set(x < width / 2 ? left : right, at + 1 + x * 3);
  }
  const chunk = (kind: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(kind, 'ascii'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Serious or critical accessibility violations (axe-core) on the page as it is. */
async function axe(p: Page): Promise<string[]> {
  if (!(await p.evaluate(() => 'axe' in window))) await p.addScriptTag({ content: AXE });
  return p.evaluate(async () => {
    // @ts-expect-error axe is injected above
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return (result.violations as { id: string; impact: string; nodes: { target: string[] }[] }[])
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

let fuze: Fuze;
let pages: Pages;
let browser: Browser;
let user: TestUser;
const ids: Record<string, string> = {};

const open = (width = 1280, colorScheme: Theme = 'light') => openSignedIn(browser, user, width, colorScheme);

type Item = { status: string; thumbnail_status: string | null; thumbnail_url: string | null };

async function bookmark(id: string): Promise<Item> {
  return (await (await fetch(fuze.url(`/api/bookmarks/${id}`), { headers: user.headers })).json()) as Item;
}

function card(p: Page, title: string) {
  return p.getByRole('listitem').filter({ has: p.getByRole('link', { name: title, exact: true }) });
}

before(async () => {
  [fuze, pages, browser] = await Promise.all([startFuze(), startPages(), launchChromium()]);
  user = await registerUser(fuze);
  const html = { 'Content-Type': 'text/html; charset=utf-8' };
  pages.route('/cards/dock.png', { headers: { 'Content-Type': 'image/png' }, body: png(1200, 630, [32, 96, 200], [240, 190, 40]) });
  pages.route('/cards/dock', {
    headers: html,
    body: article('Soft capture, then hard dock', '<meta property="og:image" content="/cards/dock.png"><meta property="og:site_name" content="Orbital Notes">'),
  });
  pages.route('/cards/plain', { headers: html, body: article('Berthing without a picture', '<meta property="og:site_name" content="Quiet Letters">') });
  pages.route('/cards/third', { headers: html, body: article('A third page to fill the row', '<meta property="og:site_name" content="Hatch Weekly">') });
  for (const name of ['plain', 'third', 'dock']) {
    const res = await fetch(fuze.url('/api/bookmarks'), {
      method: 'POST',
      headers: { ...user.headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: pages.url(`/cards/${name}`), tags: name === 'dock' ? ['space', 'docking'] : [] }),
    });
    assert.equal(res.status, 201);
    ids[name] = ((await res.json()) as { id: string }).id;
  }
  for (const id of Object.values(ids)) {
    await waitFor(async () => {
      const b = await bookmark(id);
      return b.status === 'ready' && b.thumbnail_status !== null;
    }, { timeoutMs: 240_000, what: 'the pages and their pictures' });
  }
  // One favourite, read halfway.
  await fetch(fuze.url(`/api/bookmarks/${ids.dock}`), {
    method: 'PATCH',
    headers: { ...user.headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ favorite: true }),
  });
  await fetch(fuze.url(`/api/bookmarks/${ids.dock}/progress`), {
    method: 'PUT',
    headers: { ...user.headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ progress: 0.4 }),
  });
});

after(async () => {
  await browser?.close();
  await Promise.all([fuze?.stop(), pages?.stop()]);
});

describe('the library as cards', () => {
  it('shows the picture the worker made, and a placeholder without one; the view survives a reload', async () => {
    assert.equal((await bookmark(ids.dock)).thumbnail_status, 'ready');
    assert.equal((await bookmark(ids.plain)).thumbnail_status, 'none');
    const { context, page } = await open();
    await page.goto(fuze.url('/'));
    await page.getByTestId('library-list').waitFor();
    await page.getByRole('button', { name: 'Grid' }).click();
    const grid = page.getByTestId('library-grid');
    await grid.waitFor();

    const dock = card(page, 'Soft capture, then hard dock');
    const img = dock.locator('.card-picture img');
    await img.waitFor();
    assert.match((await img.getAttribute('src')) ?? '', /^\/api\/bookmarks\/[0-9a-f-]{36}\/thumbnail\?v=/);
    assert.equal(await img.getAttribute('loading'), 'lazy');
    await waitFor(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth === 480), { what: 'the picture to load' });
    // The picture's colours: its blue half on the left.
    const pixel = await img.evaluate((el: HTMLImageElement) => {
      const c = document.createElement('canvas');
      c.width = el.naturalWidth;
      c.height = el.naturalHeight;
      const g = c.getContext('2d')!;
      g.drawImage(el, 0, 0);
      return Array.from(g.getImageData(20, 135, 1, 1).data);
    });
    assert.ok(pixel[2] > 150 && pixel[0] < 100, `a blue pixel, got ${pixel}`);
    await dock.getByText('Orbital Notes').waitFor();
    await dock.getByText('Unread').waitFor();
    await dock.getByText('Favourite').waitFor();
    await dock.getByText('docking').waitFor();
    await dock.getByRole('progressbar', { name: 'Read 40%' }).waitFor();

    const plain = card(page, 'Berthing without a picture');
    assert.equal(await plain.locator('.card-picture img').count(), 0, 'no image where there is no picture');
    assert.equal((await plain.locator('.card-placeholder').textContent())?.trim(), 'Q');
    await plain.getByText(/\d+ min read/).waitFor();

    // Boxes of one shape, picture or not: nothing moves when a picture arrives.
    const boxes = await grid.locator('.card-picture').evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().height)));
    assert.equal(new Set(boxes).size, 1, `one picture height: ${boxes}`);

    // A picture that fails to load gives way to the placeholder, never a broken image.
    await page.route('**/thumbnail?*', (route) => route.fulfill({ status: 404, body: '' }));
    await page.reload();
    await grid.waitFor();
    await waitFor(async () => (await dock.locator('.card-placeholder').count()) === 1, { what: 'the placeholder after a failed picture' });
    assert.equal((await dock.locator('.card-placeholder').textContent())?.trim(), 'O');
    await page.unroute('**/thumbnail?*');

    // Remembered: a reload (and a new page in the same browser) opens the grid.
    await page.reload();
    await grid.waitFor();
    assert.equal(await page.getByRole('button', { name: 'Grid' }).getAttribute('aria-pressed'), 'true');
    const again = await context.newPage();
    await again.goto(fuze.url('/'));
    await again.getByTestId('library-grid').waitFor();
    await again.close();

    // Arrow keys move between cards.
    const first = grid.locator('[data-card-link="0"]');
    await first.focus();
    const focused = (at: string) =>
      waitFor(async () => (await page.evaluate(() => document.activeElement?.getAttribute('data-card-link'))) === at, { what: `card ${at} focused` });
    await page.keyboard.press('ArrowRight');
    await focused('1');
    await page.keyboard.press('ArrowLeft');
    await focused('0');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/items\//);
    await context.close();
  });

  it('shows a new picture live when a page is processed again with another image', async () => {
    const { context, page } = await open();
    await page.addInitScript(() => localStorage.setItem('fuze.libraryView', 'grid'));
    await page.goto(fuze.url('/'));
    await page.getByTestId('library-grid').waitFor();
    await page.getByText('Live', { exact: true }).waitFor(); // the events stream is open
    const img = card(page, 'A third page to fill the row').locator('.card-picture img');
    assert.equal(await img.count(), 0, 'no picture yet: the placeholder');
    await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));

    // The page gains a picture; processing it again makes the card's picture, sent live.
    pages.route('/cards/third.png', { headers: { 'Content-Type': 'image/png' }, body: png(800, 450, [200, 40, 40], [40, 160, 60]) });
    pages.route('/cards/third', {
      headers: { 'Content-Type': 'text/html; charset=utf-8' },
      body: article('A third page to fill the row', '<meta property="og:image" content="/cards/third.png"><meta property="og:site_name" content="Hatch Weekly">'),
    });
    const r = await fetch(fuze.url(`/api/bookmarks/${ids.third}/refresh`), { method: 'POST', headers: user.headers });
    assert.equal(r.status, 202);
    await img.waitFor({ timeout: 240_000 });
    await waitFor(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth === 480), { what: 'the new picture to load' });
    assert.ok(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed), 'without a reload');
    await context.close();
  });

  it('looks right at 1280 and 390 px, light and dark', async () => {
    for (const [width, scheme] of [
      [1280, 'light'],
      [1280, 'dark'],
      [390, 'light'],
      [390, 'dark'],
    ] as const) {
      const { context, page } = await open(width, scheme);
      await page.addInitScript(() => localStorage.setItem('fuze.libraryView', 'grid'));
      await page.goto(fuze.url('/'));
      const grid = page.getByTestId('library-grid');
      await grid.waitFor();
      const img = card(page, 'Soft capture, then hard dock').locator('.card-picture img');
      await waitFor(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0), { what: 'the picture' });
      const overflow = await page.evaluate(() =>
        Array.from(document.querySelectorAll('main *'))
          .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
          .map((el) => `${el.tagName.toLowerCase()}.${el.className}`)
          .slice(0, 5),
      );
      assert.deepEqual(overflow, [], `nothing sticks out at ${width} px`);
      const columns = await grid.locator('.card-row').first().evaluate((el) => getComputedStyle(el).gridTemplateColumns.split(' ').length);
      if (width < 600) assert.ok(columns <= 2, `one or two columns on a phone, got ${columns}`);
      else assert.ok(columns >= 3, `several columns on a desktop, got ${columns}`);
      // The grid in view (on a phone it is below the save form and the filters).
      await page.locator('main').evaluate((el) => el.scrollTo(0, el.scrollHeight));
      await page.screenshot({ path: join(OUT, `library-grid-${width}-${scheme}.png`) });
      assert.deepEqual(await axe(page), [], `no serious accessibility violations at ${width} px, ${scheme}`);
      await context.close();
    }
  });

  it('scrolls 50,000 items in the grid as the list does (frame times printed)', async () => {
    const TOTAL = 50_000;
    const PER_PAGE = 25_000;
    const now = Date.now();
    const { context, page } = await open();
    await page.route('**/api/bookmarks?*', async (route) => {
      const url = new URL(route.request().url());
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const items = Array.from({ length: Math.min(PER_PAGE, TOTAL - start) }, (_, k) => {
        const i = start + k;
        return {
          id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          url: `https://site${i % 97}.example.com/${i}`,
          normalized_url: `https://site${i % 97}.example.com/${i}`,
          title: `Synthetic item ${i}`,
          description: null, notes: null, tags: i % 3 ? ['bulk'] : [], site_name: null, author: null,
          published_at: null, language: null, canonical_url: null, image_url: null, favicon_url: null,
          word_count: null, reading_time_minutes: 1 + (i % 20), quality: null,
          status: (['ready', 'pending', 'fetching', 'failed'] as const)[i % 4],
          error_code: null, error_message: i % 4 === 3 ? 'HTTP 404' : null, source: 'web', version: 1,
          saved_at: new Date(now - i * 60_000).toISOString(), updated_at: new Date(now).toISOString(), processed_at: null,
          read_at: null, favorite: i % 7 === 0, archived_at: null, progress: (i % 5) / 5,
          // Every other page with a picture (served below), the rest with their placeholder.
          ...(i % 2
            ? { thumbnail_status: 'none', thumbnail_url: null }
            : { thumbnail_status: 'ready', thumbnail_url: `/api/bookmarks/00000000-0000-4000-8000-${String(i).padStart(12, '0')}/thumbnail?v=${i.toString(16)}&token=t.1.s` }),
        };
      });
      const next = start + PER_PAGE < TOTAL ? String(start + PER_PAGE) : null;
      await route.fulfill({ json: { items, next_cursor: next } });
    });

    const picture = png(480, 270, [60, 110, 190], [230, 180, 60]);
    let pictures = 0;
    await page.route('**/thumbnail?*', async (route) => {
      pictures += 1;
      await route.fulfill({ body: picture, headers: { 'Content-Type': 'image/png', 'Cache-Control': 'private, max-age=31536000, immutable' } });
    });
    const figures: Record<string, { p50: number; p95: number; maxItems: number; nodes: number; idle: number; passed: number }> = {};
    await page.goto(fuze.url('/'));
    for (const view of ['list', 'grid'] as const) {
      await page.evaluate((v) => localStorage.setItem('fuze.libraryView', v), view);
      await page.goto(fuze.url('/?sort=title'));
      const scroller = page.getByTestId(view === 'list' ? 'library-list' : 'library-grid');
      await scroller.waitFor();
      await waitFor(
        async () => {
          await scroller.evaluate((el) => el.scrollTo(0, el.scrollHeight));
          return (await page.locator('.count').textContent())?.startsWith('50,000 items');
        },
        { timeoutMs: 60_000, intervalMs: 200, what: '50,000 items to load' },
      );
      await page.waitForTimeout(500); // the pictures on screen at the end have been asked for
      const before = pictures;
      figures[view] = await scroller.evaluate(async (el) => {
        const idle: number[] = [];
        for (let i = 0, t0 = performance.now(); i < 30; i++) {
          await new Promise((r) => requestAnimationFrame(r));
          const t = performance.now();
          idle.push(t - t0);
          t0 = t;
        }
        idle.sort((a, b) => a - b);
        const gaps: number[] = [];
        let maxItems = 0;
        // A fast wheel scroll: 400 px a frame from the middle.
        el.scrollTop = el.scrollHeight / 2;
        await new Promise((r) => requestAnimationFrame(r));
        let last = performance.now();
        for (let i = 0; i <= 120; i++) {
          el.scrollTop += 400;
          await new Promise((r) => requestAnimationFrame(r));
          const t = performance.now();
          gaps.push(t - last);
          last = t;
          maxItems = Math.max(maxItems, el.querySelectorAll('[role="listitem"]').length);
        }
        gaps.sort((a, b) => a - b);
        const passed = Math.round((121 * 400) / (el.scrollHeight / 50_000)); // items scrolled past
        return { idle: idle[15], maxItems, passed, p50: gaps[Math.floor(gaps.length / 2)], p95: gaps[Math.floor(gaps.length * 0.95)], nodes: document.getElementsByTagName('*').length };
      });
      const f = figures[view];
      const asked = pictures - before;
      console.log(
        `50,000 items, ${view}: at most ${f.maxItems} items in the DOM (${f.nodes} elements); frame p50 ${f.p50.toFixed(1)} ms, p95 ${f.p95.toFixed(1)} ms while scrolling 400 px a frame (idle frame ${f.idle.toFixed(1)} ms)` +
          (view === 'grid' ? `; ${asked} pictures asked for while about ${f.passed} cards went by (half have one)` : ''),
      );
      assert.ok(f.maxItems < 100, `only the visible ${view} items are rendered (saw ${f.maxItems})`);
      if (view === 'grid') {
        // Once the scrolling stops, the cards on screen show their pictures.
        const shown = () =>
          scroller.locator('.card-picture img').evaluateAll((els) => els.filter((e) => (e as HTMLImageElement).complete && (e as HTMLImageElement).naturalWidth > 0).length);
        await waitFor(async () => (await shown()) >= 4, { what: 'the pictures on screen after scrolling' });
      }
    }
    await page.screenshot({ path: join(OUT, 'library-grid-50k.png') });
    await page.unroute('**/api/bookmarks?*');
    await page.unroute('**/thumbnail?*');
    await context.close();
  });
});
