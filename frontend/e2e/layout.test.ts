/**
 * The web app's layout in a real browser: every page at phone width keeps its controls on the
 * screen, and the library's bulk bar works at desktop widths. A real `fuze up` with a library,
 * a project with tasks and subtasks and an administrator; Debian's chromium. Screenshots of
 * each page at 390 and 1280 px, light and dark, go to frontend/test-output/layout/
 * (git-ignored).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import { launchChromium } from './support/browser';
import { type Fuze, registerUser, startFuze, type TestUser, waitFor } from './support/fuze';
import { type GeminiFake, startGeminiFake } from './support/gemini';
import { fixturePages, type Pages, startPages } from './support/pages';
import { openSignedIn, type Theme } from './support/session';

const OUT = join(import.meta.dirname, '..', 'test-output', 'layout');
mkdirSync(OUT, { recursive: true });

let fuze: Fuze;
let gemini: GeminiFake;
let pages: Pages;
let browser: Browser;
let user: TestUser;
let bookmarkId = '';
let projectId = '';

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(fuze.url(path), {
    method,
    headers: { ...user.headers, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A signed-in tab of `width` px in a light or dark system theme. */
const open = (width: number, colorScheme: Theme = 'light') =>
  openSignedIn(browser, user, width, colorScheme);

/** Each page of the app, with what shows that it has loaded its content. */
const PAGES: { name: string; path: () => string; ready: (page: Page) => Promise<unknown> }[] = [
  { name: 'library', path: () => '/', ready: (p) => p.getByRole('list', { name: 'Saved items' }).getByRole('listitem').first().waitFor() },
  {
    name: 'bookmark',
    path: () => `/items/${bookmarkId}`,
    ready: (p) => p.getByRole('region', { name: 'Similar items' }).getByRole('link').first().waitFor(),
  },
  {
    name: 'search',
    path: () => '/search?q=sourdough+starter&mode=hybrid',
    ready: (p) => p.getByRole('list', { name: 'Search results' }).getByRole('link').first().waitFor(),
  },
  { name: 'projects', path: () => '/projects', ready: (p) => p.getByRole('link', { name: /Fast search for my notes app/ }).waitFor() },
  {
    name: 'project',
    path: () => `/projects/${projectId}`,
    ready: async (p) => {
      await p.getByRole('list', { name: 'Subtasks of Add a GIN index on the notes table' }).getByRole('listitem').first().waitFor();
      await p.getByRole('button', { name: 'Break it down with AI' }).waitFor();
      await p.locator('.rec').first().waitFor();
    },
  },
  { name: 'import', path: () => '/import', ready: (p) => p.getByRole('heading', { name: /Import/ }).first().waitFor() },
  { name: 'settings', path: () => '/settings', ready: (p) => p.getByText(`Signed in as ${user.username}`).waitFor() },
  { name: 'admin', path: () => '/admin', ready: (p) => p.getByRole('button', { name: 'Create invite' }).waitFor() },
];

/**
 * What sticks out sideways: the page itself, the main column, and every visible control whose
 * box is not wholly inside the viewport and each clipping or scrolling box around it.
 */
function overflowProblems(): string[] {
  const problems: string[] = [];
  const vw = window.innerWidth;
  const root = document.scrollingElement!;
  if (root.scrollWidth > vw) problems.push(`the page scrolls sideways (${root.scrollWidth} px wide in ${vw} px)`);
  const main = document.querySelector('main');
  if (main && main.scrollWidth > main.clientWidth + 1)
    problems.push(`the main column scrolls sideways (${main.scrollWidth} px wide in ${main.clientWidth} px)`);
  for (const el of Array.from(document.querySelectorAll('button, input, select, textarea'))) {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1 || !el.checkVisibility({ visibilityProperty: true, opacityProperty: false })) continue;
    if (el.closest('.visually-hidden')) continue;
    let left = 0;
    let right = vw;
    for (let p = el.parentElement; p && p !== document.documentElement; p = p.parentElement) {
      if (getComputedStyle(p).overflowX === 'visible') continue;
      const pr = p.getBoundingClientRect();
      left = Math.max(left, pr.left + p.clientLeft);
      right = Math.min(right, pr.left + p.clientLeft + p.clientWidth);
    }
    if (r.left >= left - 1 && r.right <= right + 1) continue;
    // (No helper functions in here: the bundler would wrap them in a __name the page lacks.)
    const name =
      el.getAttribute('aria-label') ||
      (el as HTMLElement).innerText?.trim() ||
      el.getAttribute('placeholder') ||
      el.getAttribute('name') ||
      el.closest('label')?.textContent?.trim() ||
      '';
    problems.push(`${el.tagName.toLowerCase()} “${name.slice(0, 40)}” is cut off: ${Math.round(r.left)}–${Math.round(r.right)} px, visible ${Math.round(left)}–${Math.round(right)} px`);
  }
  return problems;
}

before(async () => {
  gemini = await startGeminiFake();
  [fuze, pages, browser] = await Promise.all([
    startFuze({ env: { FUZE_GEMINI_BASE_URL: gemini.baseUrl } }),
    startPages(),
    launchChromium(),
  ]);
  // The first account is the administrator; with a Gemini key, so that the AI buttons show.
  user = await registerUser(fuze);
  await api('PUT', '/api/users/me/gemini-key', { api_key: gemini.key });

  const fixtures = fixturePages();
  const saved: { id: string }[] = [];
  for (const [i, f] of fixtures.entries())
    saved.push(await api('POST', '/api/bookmarks', { url: pages.url(f.path), tags: i === 0 ? ['databases', 'search', 'postgresql', 'indexes', 'full-text'] : [] }));
  // A long unbroken title and address, as real pages have.
  const long = '/fixtures/' + 'a-very-long-path-segment-'.repeat(6) + 'x';
  pages.route(long, `<!doctype html><title>${'Supercalifragilistic'.repeat(5)}</title><article><h1>Long</h1><p>${'Words about a page with a long name. '.repeat(30)}</p></article>`);
  await api('POST', '/api/bookmarks', { url: pages.url(long) });
  await waitFor(
    async () => {
      const list = await api<{ items: { status: string }[] }>('GET', '/api/bookmarks?limit=50');
      return list.items.length === fixtures.length + 1 && list.items.every((b) => b.status === 'ready');
    },
    { timeoutMs: 120_000, what: 'every saved page to be ready' },
  );
  bookmarkId = saved[0].id;

  const project = await api<{ id: string }>('POST', '/api/projects', {
    title: 'Fast search for my notes app',
    description: 'Full-text and semantic search over notes stored in PostgreSQL.',
    technologies: ['PostgreSQL', 'Python', 'React'],
  });
  projectId = project.id;
  for (const [title, subtasks] of [
    ['Add a GIN index on the notes table', ['Generated tsvector column with weights', 'Benchmark the query plan']],
    ['Build the results list with highlighted snippets', ['Keyboard navigation']],
  ] as const) {
    const task = await api<{ id: string }>('POST', `/api/projects/${projectId}/tasks`, { title });
    for (const s of subtasks) await api('POST', `/api/tasks/${task.id}/subtasks`, { title: s });
  }
});

after(async () => {
  await browser?.close();
  await pages?.stop();
  await fuze?.stop();
  await gemini?.stop();
});

describe('layout', () => {
  for (const width of [1280, 1600]) {
    it(`keeps the bulk "Add tags" button on the bulk bar, clickable, at ${width} px`, async () => {
      const { context, page } = await open(width);
      try {
        await page.goto(fuze.url('/'));
        const list = page.getByRole('list', { name: 'Saved items' });
        await list.getByRole('listitem').first().waitFor();
        await list.getByRole('checkbox').first().check();
        const input = page.getByLabel('Tags to add to the selected items');
        const button = page.getByRole('button', { name: 'Add tags' });
        await button.waitFor();
        const [box, inputBox, bar] = await Promise.all([
          button.boundingBox(),
          input.boundingBox(),
          page.getByRole('toolbar', { name: 'Selection' }).boundingBox(),
        ]);
        assert.ok(box && inputBox && bar);
        assert.ok(Math.abs(box.y - inputBox.y) < inputBox.height / 2, `the button sits beside its input (${box.y} against ${inputBox.y})`);
        assert.ok(box.y >= bar.y && box.y + box.height <= bar.y + bar.height + 1, 'the button is inside the bulk bar');
        const hit = await button.evaluate((el) => {
          const r = el.getBoundingClientRect();
          const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return at === el || el.contains(at);
        });
        assert.ok(hit, 'nothing covers the button');
        await page.screenshot({ path: join(OUT, `bulkbar-${width}.png`) });
        if (width === 1280) {
          await input.fill('picked');
          await button.click();
          await list.locator('.tag', { hasText: 'picked' }).first().waitFor();
        }
      } finally {
        await context.close();
      }
    });
  }

  it('fits every page on a 390 px phone screen, with no control cut off', async () => {
    const { context, page } = await open(390);
    const problems: string[] = [];
    try {
      for (const p of PAGES) {
        await page.goto(fuze.url(p.path()));
        await p.ready(page);
        await page.screenshot({ path: join(OUT, `${p.name}-390.png`) });
        for (const problem of await page.evaluate(overflowProblems)) problems.push(`${p.name}: ${problem}`);
      }
    } finally {
      await context.close();
    }
    assert.deepEqual(problems, []);
  });

  it('fits every page at desktop width too, and shows each in both themes (screenshots)', async () => {
    const problems: string[] = [];
    for (const [width, theme] of [
      [1280, 'light'],
      [1280, 'dark'],
      [390, 'light'],
      [390, 'dark'],
    ] as const) {
      const { context, page } = await open(width, theme);
      try {
        for (const p of PAGES) {
          await page.goto(fuze.url(p.path()));
          await p.ready(page);
          await page.screenshot({ path: join(OUT, `${p.name}-${width}-${theme}.png`) });
          for (const problem of await page.evaluate(overflowProblems)) problems.push(`${p.name} at ${width} px: ${problem}`);
        }
      } finally {
        await context.close();
      }
    }
    assert.deepEqual([...new Set(problems)], []);
  });
});
