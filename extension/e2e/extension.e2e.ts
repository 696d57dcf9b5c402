/**
 * The extension in a real Chromium against a real `fuze up` (the SPA's harness,
 * frontend/e2e/support): sign in through the options page, save the open page from the popup
 * with the text the page rendered by script, save a link from the context menu and a page
 * from the shortcut, and queue a save while the server is stopped, delivered after it
 * restarts. What differs from a person clicking (the popup opened in a tab, the menu and
 * shortcut handlers called in the service worker, the dist-e2e build's host permission) is
 * in docs/extension.md, "Its tests".
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type BrowserContext, chromium, type Page, type Worker } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  CHROMIUM_ARGS,
  ensureChromium,
  freePort,
  type Fuze,
  type Pages,
  registerUser,
  startFuze,
  startPages,
  type TestUser,
  waitFor,
} from '../../frontend/e2e/support';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const DIST = resolve(HERE, '..', 'dist-e2e');

/** A page whose article exists only after its script ran: a server-side fetch would not see it. */
const RENDERED_PHRASE = 'the periwinkle census counted 4,812 snails';
function renderedPage(title: string, topic: string): string {
  const sentences = [
    `Every spring the volunteers walk the tide pools at dawn, and this year ${RENDERED_PHRASE} along the north reef.`,
    `The ${topic} survey began in 1998 with a handful of students and a borrowed notebook.`,
    'Counting works best an hour before low tide, when the rocks are wet but the pools are calm.',
    'Each square metre is photographed, then every animal larger than a fingernail is tallied by hand.',
    'The data shows slow shifts: limpets moving higher up the rocks, anemones spreading into warmer pools.',
    'Volunteers learn to tell the species apart by shell pattern, colour and where on the rock they cling.',
  ];
  const paragraphs = [0, 1, 2].map((i) => sentences.map((_, j) => sentences[(i + j) % sentences.length]).join(' '));
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><header><nav><a href="/">Home</a></nav></header><main id="app"><p>Loading…</p></main>
<script>
  const paragraphs = ${JSON.stringify(paragraphs)};
  document.getElementById('app').innerHTML = '<article><h1>${title}</h1>' +
    paragraphs.map((p) => '<p>' + p + '</p>').join('') + '</article>';
</script></body></html>`;
}

const LINKED_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Mending nets by hand</title></head>
<body><article><h1>Mending nets by hand</h1>
${Array.from({ length: 4 }, () => '<p>A torn net is laid flat on the quay and the broken meshes are cut back to clean knots. The mender works with a wooden needle loaded with twine, tying sheet bends row by row until the patch matches the mesh size around it. Good menders can rebuild a square metre in under an hour.</p>').join('\n')}
</article></body></html>`;

let fuze: Fuze;
let port: number;
let dataDir: string;
let profileDir: string;
let pages: Pages;
let user: TestUser;
let context: BrowserContext;
let worker: Worker;
let extensionId: string;

async function api<T>(path: string): Promise<T> {
  const res = await fetch(fuze.url(path), { headers: user.headers });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface Bookmark {
  id: string;
  url: string;
  status: string;
  source: string;
  tags: string[];
  notes: string | null;
  title: string | null;
  archived_at: string | null;
  text?: string | null;
}

async function bookmarkOf(url: string): Promise<Bookmark | undefined> {
  const page = await api<{ items: Bookmark[] }>(`/api/bookmarks?url=${encodeURIComponent(url)}`);
  return page.items[0];
}

async function readyBookmark(url: string): Promise<Bookmark> {
  const found = await waitFor(
    async () => {
      const b = await bookmarkOf(url);
      if (b?.status === 'failed') throw new Error(`processing failed: ${JSON.stringify(b)}`);
      return b?.status === 'ready' ? b : undefined;
    },
    { timeoutMs: 90_000, what: `${url} to be ready` },
  );
  return api<Bookmark>(`/api/bookmarks/${found.id}`);
}

/** The tab id the popup would get from tabs.query({active: true, currentWindow: true}). */
async function tabIdOf(url: string): Promise<number> {
  return worker.evaluate(async (u) => {
    const [tab] = await chrome.tabs.query({ url: u });
    return tab.id as number;
  }, url);
}

/** The popup page in a tab of its own, aimed at the given tab. */
async function openPopup(tabId: number): Promise<Page> {
  const popup = await context.newPage();
  await popup.goto(`chrome-extension://${extensionId}/popup.html?tabId=${tabId}`);
  return popup;
}

/** How long a UI state may take to show on this busy 2-core machine. */
const UI = { timeout: 20_000 };

const badge = () => worker.evaluate(() => chrome.action.getBadgeText({}));

beforeAll(async () => {
  const executablePath = ensureChromium(); // Debian's chromium, apt-get installed if missing
  execFileSync(process.execPath, [join(HERE, '..', 'build.mjs'), '--e2e'], { stdio: 'inherit' });

  dataDir = mkdtempSync(join(tmpdir(), 'fuze-ext-e2e-data-'));
  profileDir = mkdtempSync(join(tmpdir(), 'fuze-ext-e2e-profile-'));
  port = await freePort();
  pages = await startPages();
  pages.route('/tidepools', renderedPage('Tide pool notes', 'tide pool'));
  pages.route('/offline', renderedPage('Notes written offline', 'rock pool'));
  pages.route('/shortcut', renderedPage('Saved with a shortcut', 'kelp forest'));
  pages.route('/nets', LINKED_PAGE);
  pages.route('/links', `<!doctype html><title>Links</title><a id="nets" href="/nets">Nets</a>`);
  [fuze] = await Promise.all([
    startFuze({ dataDir, port }),
    (async () => {
      context = await chromium.launchPersistentContext(profileDir, {
        executablePath,
        headless: false, // the flag below: extensions run only in the new headless mode
        args: [
          '--headless=new',
          `--disable-extensions-except=${DIST}`,
          `--load-extension=${DIST}`,
          ...CHROMIUM_ARGS,
        ],
      });
      worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
      extensionId = new URL(worker.url()).host;
    })(),
  ]);
  user = await registerUser(fuze);
});

afterAll(async () => {
  await context?.close();
  await fuze?.stop();
  await pages?.stop();
  for (const dir of [dataDir, profileDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the Fuze extension', () => {
  it('signs in through the options page', async () => {
    const options = await context.newPage();
    await options.goto(`chrome-extension://${extensionId}/options.html`);
    await options.fill('#server', fuze.baseUrl);
    await options.fill('#login', user.username);
    await options.fill('#password', user.password);
    await options.click('#sign-in-button');
    await expect.poll(() => options.locator('#who').textContent(), UI).toBe(user.username);
    expect(await options.locator('#server-link').textContent()).toBe(fuze.baseUrl);
    // The server's origin, asked for at sign-in (granted without a prompt in this build).
    await expect.poll(() => options.locator('#access').textContent(), UI).toContain('may talk to this server');
    const stored = await worker.evaluate(() => chrome.storage.local.get(['serverUrl', 'session']));
    expect(stored.serverUrl).toBe(fuze.baseUrl);
    expect(stored.session).toMatchObject({ kind: 'password', username: user.username });
    await options.close();
  });

  it('saves the open page from the popup, with the text its script rendered', async () => {
    const url = pages.url('/tidepools');
    const tab = await context.newPage();
    await tab.goto(url);
    await tab.waitForSelector('article');

    const popup = await openPopup(await tabIdOf(url));
    await expect.poll(() => popup.locator('#state').getAttribute('data-status'), UI).toBe('unsaved');
    expect(await popup.inputValue('#title')).toBe('Tide pool notes');
    // "Read later" is the default choice; "Archive" is offered beside it, both labelled.
    expect(await popup.getByRole('radio', { name: 'Read later' }).isChecked()).toBe(true);
    expect(await popup.getByRole('radio', { name: 'Archive' }).isChecked()).toBe(false);
    await popup.fill('#tags', 'ocean, Field work');
    await popup.fill('#notes', 'for the reef project');
    await popup.click('#save');
    // The popup follows the processing status until the page is ready.
    await expect
      .poll(() => popup.locator('#state').getAttribute('data-status'), { timeout: 90_000 })
      .toBe('ready');
    expect(await popup.locator('#state').textContent()).toMatch(/^Saved · ready · \d+ words$/);

    const saved = await readyBookmark(url);
    expect(saved.source).toBe('extension');
    expect(saved.text).toContain(RENDERED_PHRASE);
    expect(saved.tags).toEqual(['Field work', 'ocean']);
    expect(saved.notes).toBe('for the reef project');
    expect(saved.title).toBe('Tide pool notes');
    expect(saved.archived_at).toBeNull(); // read later: in the library
    // Saved as the browser rendered it: the server never fetched the page itself.
    expect(pages.hits.get('/tidepools')).toBe(1);

    // Opened again, the popup says at once that the page is saved, with its tags.
    await popup.close();
    const again = await openPopup(await tabIdOf(url));
    await expect.poll(() => again.locator('#state').textContent(), UI).toMatch(/^Saved just now · ready/);
    expect(await again.inputValue('#tags')).toBe('Field work, ocean');
    expect(await again.inputValue('#notes')).toBe('for the reef project');
    expect(await again.getAttribute('#open-item', 'href')).toBe(fuze.url(`/items/${saved.id}`));
    expect(await again.locator('#save').textContent()).toBe('Update');
    await again.fill('#notes', 'for the reef project; read the counting method');
    await again.click('#save');
    await expect.poll(() => again.locator('#state').textContent(), UI).toMatch(/^Updated · ready/);
    expect((await api<Bookmark>(`/api/bookmarks/${saved.id}`)).notes).toBe(
      'for the reef project; read the counting method',
    );
    // Update moves a saved page to the archive and back.
    await again.getByRole('radio', { name: 'Archive' }).check();
    await again.click('#save');
    await expect.poll(() => again.locator('#state').textContent(), UI).toMatch(/^Updated · archived · ready/);
    expect((await api<Bookmark>(`/api/bookmarks/${saved.id}`)).archived_at).not.toBeNull();
    await again.getByRole('radio', { name: 'Read later' }).check();
    await again.click('#save');
    await expect.poll(() => again.locator('#state').textContent(), UI).toMatch(/^Updated · ready/);
    expect((await api<Bookmark>(`/api/bookmarks/${saved.id}`)).archived_at).toBeNull();
    // Tags in use are offered for the next page.
    await again.fill('#tags', 'ocean');
    await expect.poll(() => again.locator('#tag-suggestions button').allTextContents(), UI).toEqual(['Field work']);
    await again.click('#tag-suggestions button');
    expect(await again.inputValue('#tags')).toBe('ocean, Field work');
    await again.close();
    await tab.close();
  });

  it('saves a link from the context menu', async () => {
    const linksUrl = pages.url('/links');
    const tab = await context.newPage();
    await tab.goto(linksUrl);
    const linkUrl = pages.url('/nets');
    // What Chrome calls when "Save link to Fuze" is clicked on the link.
    const result = await worker.evaluate(
      async ({ linkUrl, pageUrl }) => {
        const [tab] = await chrome.tabs.query({ url: pageUrl });
        const bg = (globalThis as unknown as { fuzeBackground: { onMenuClick: Function } }).fuzeBackground;
        return bg.onMenuClick({ menuItemId: 'fuze-save-link', linkUrl, pageUrl, editable: false }, tab);
      },
      { linkUrl, pageUrl: linksUrl },
    );
    expect(result).toMatchObject({ kind: 'saved', created: true });
    expect(await badge()).toBe('✓');

    const saved = await readyBookmark(linkUrl);
    expect(saved.source).toBe('web'); // a link is fetched by the server, not captured
    expect(saved.title).toBe('Mending nets by hand');
    expect(saved.text).toContain('wooden needle loaded with twine');
    await tab.close();
  });

  it('saves the current page from the keyboard shortcut', async () => {
    const url = pages.url('/shortcut');
    const tab = await context.newPage();
    await tab.goto(url);
    await tab.waitForSelector('article');
    // What Chrome calls for Alt+Shift+S (the tab is the active one when a person presses it).
    const result = await worker.evaluate(async (pageUrl) => {
      const [tab] = await chrome.tabs.query({ url: pageUrl });
      const bg = (globalThis as unknown as { fuzeBackground: { onCommand: Function } }).fuzeBackground;
      return bg.onCommand('save-page', tab);
    }, url);
    expect(result).toMatchObject({ kind: 'saved', created: true });
    const saved = await readyBookmark(url);
    expect(saved.source).toBe('extension');
    expect(saved.title).toBe('Saved with a shortcut');
    expect(saved.text).toContain(RENDERED_PHRASE);
    await tab.close();
  });

  it('queues a save while the server is stopped and delivers it after the restart', async () => {
    const url = pages.url('/offline');
    const tab = await context.newPage();
    await tab.goto(url);
    await tab.waitForSelector('article');
    await fuze.stop();

    const popup = await openPopup(await tabIdOf(url));
    await expect
      .poll(() => popup.locator('#state').textContent(), UI)
      .toBe('The server is not reachable; a save will wait and be sent later.');
    await popup.fill('#tags', 'offline');
    // Straight to the archive: the queued save keeps the choice until it is delivered.
    await popup.getByRole('radio', { name: 'Archive' }).check();
    await popup.click('#save');
    await expect.poll(() => popup.locator('#state').getAttribute('data-status'), UI).toBe('queued');
    await expect.poll(() => popup.locator('#queue-text').textContent(), UI).toBe('1 save waiting for the server.');
    await expect.poll(badge, UI).toBe('1');
    const alarm = await worker.evaluate(() => chrome.alarms.get('fuze-retry'));
    expect(alarm?.periodInMinutes).toBe(1);
    await popup.close();

    fuze = await startFuze({ dataDir, port });
    // What the retry alarm runs once a minute (the test does not wait for the minute).
    const flushed = await worker.evaluate(() =>
      (globalThis as unknown as { fuzeBackground: { onAlarm: Function } }).fuzeBackground.onAlarm({
        name: 'fuze-retry',
        scheduledTime: Date.now(),
      }),
    );
    expect(flushed).toEqual({ delivered: 1, remaining: 0, failed: 0 });
    await expect.poll(badge, UI).toBe('');
    expect(await worker.evaluate(() => chrome.alarms.get('fuze-retry'))).toBeFalsy();

    const saved = await readyBookmark(url);
    expect(saved.source).toBe('extension');
    expect(saved.tags).toEqual(['offline']);
    expect(saved.archived_at).not.toBeNull();
    expect(saved.text).toContain(RENDERED_PHRASE);
    await tab.close();
  });

  it('signs out: the session is revoked on the server and the popup asks to set up again', async () => {
    const { session } = await worker.evaluate(() => chrome.storage.local.get('session'));
    const options = await context.newPage();
    await options.goto(`chrome-extension://${extensionId}/options.html`);
    await options.click('#sign-out');
    await expect.poll(() => options.locator('#message').textContent(), UI).toBe('Signed out.');
    await expect.poll(() => options.isVisible('#sign-in'), UI).toBe(true);
    const refresh = await fetch(fuze.url('/api/auth/refresh'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: (session as { refreshToken: string }).refreshToken }),
    });
    expect(refresh.status).toBe(401);

    const tab = await context.newPage();
    await tab.goto(pages.url('/links'));
    const popup = await openPopup(await tabIdOf(pages.url('/links')));
    await expect.poll(() => popup.locator('#setup-text').textContent(), UI).toBe(
      'Your Fuze session has ended; sign in again.',
    );
    expect(await popup.isVisible('#save-form')).toBe(false);
  });
});
