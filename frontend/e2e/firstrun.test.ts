/**
 * A newcomer's first minutes, end to end on a real `fuze up`: sign-in returns to the page that
 * asked for it, an empty library shows four first steps, unknown addresses get a 404 page, the
 * import picker takes Omnivore's .zip and extensionless exports and empties itself, and an AI
 * breakdown is reviewed (edited, tasks and subtasks dropped) before it is added.
 *
 * Screenshots go to frontend/test-output/firstrun/ (git-ignored); the empty library's desktop
 * light and phone dark ones are the source of docs/screenshots/empty-library-*.png.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import type { Browser, BrowserContext, Page } from 'playwright-core';

import { launchChromium } from './support/browser';
import { type Fuze, REPO_ROOT, registerUser, startFuze, type TestUser, waitFor } from './support/fuze';
import { type GeminiFake, startGeminiFake } from './support/gemini';
import { type Pages, startPages } from './support/pages';

const OUT = join(import.meta.dirname, '..', 'test-output', 'firstrun');
mkdirSync(OUT, { recursive: true });

const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

let fuze: Fuze;
let gemini: GeminiFake;
let pages: Pages;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let user: TestUser;

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Serious or critical accessibility violations (axe-core) on the page as it is. */
async function axe(): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE });
  return page.evaluate(async () => {
    // @ts-expect-error axe is injected above
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return (result.violations as { id: string; impact: string; nodes: { target: string[] }[] }[])
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
}

/** The page in light and dark, at desktop and phone width: screenshots, and nothing wider than a phone. */
async function looks(name: string, within = 'main') {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
      await page.setViewportSize(viewport);
      await page.screenshot({ path: join(OUT, `${name}-${size}-${scheme}.png`) });
      assert.deepEqual(await axe(), [], `no serious accessibility violations on ${name} at ${viewport.width} px, ${scheme}`);
      const sticking = await page.evaluate(
        (selector) =>
          Array.from(document.querySelectorAll(`${selector} *`))
            .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
            .map((el) => `${el.tagName.toLowerCase()}.${el.className}`)
            .slice(0, 5),
        within,
      );
      assert.deepEqual(sticking, [], `nothing of ${name} (${within}) sticks out at ${viewport.width} px, ${scheme}`);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(DESKTOP);
}

async function api(path: string, init: RequestInit = {}) {
  const res = await fetch(fuze.url(path), {
    ...init,
    headers: { 'Content-Type': 'application/json', ...user.headers, ...(init.headers as Record<string, string>) },
  });
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

before(async () => {
  gemini = await startGeminiFake();
  [fuze, pages, browser] = await Promise.all([
    startFuze({ env: { FUZE_GEMINI_BASE_URL: gemini.baseUrl } }),
    startPages(),
    launchChromium(),
  ]);
  // A fresh server (the usual case) gets a readable name for the screenshots in docs/.
  user = await registerUser(fuze, process.env.FUZE_E2E_BASE_URL ? undefined : 'ada');
  context = await browser.newContext({ viewport: DESKTOP, colorScheme: 'light' });
  page = await context.newPage();
  page.setDefaultTimeout(Number(process.env.FUZE_E2E_TIMEOUT_MS ?? 30_000));
  page.on('pageerror', (err) => console.error('page error:', err));
});

let step = 0;
afterEach(async () => {
  step += 1;
  await page?.screenshot({ path: join(OUT, `step-${String(step).padStart(2, '0')}.png`) }).catch(() => undefined);
});

after(async () => {
  await context?.close();
  await browser?.close();
  await pages?.stop();
  await fuze?.stop();
  await gemini?.stop();
});

describe('the first ten minutes', () => {
  it('signs in and returns to the page that asked for it', async () => {
    const project = (await api('/api/projects', {
      method: 'POST',
      body: JSON.stringify({ title: 'Fast search for my notes app', description: 'Full-text search over notes.', technologies: ['PostgreSQL'] }),
    })) as { id: string };
    await page.goto(fuze.url(`/projects/${project.id}`));
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Username or email').fill(user.username);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /Fast search for my notes app/ }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/projects/${project.id}`);
  });

  it('shows four first steps in an empty library, each a link', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Library', exact: true }).click();
    const steps = page.getByRole('region', { name: /Nothing saved yet/ });
    await steps.waitFor();
    const links = steps.getByRole('link');
    assert.deepEqual(await links.allTextContents(), ['Save a page', 'Import your bookmarks', 'Install the browser extension', 'Add an AI key']);
    await looks('empty-library');
    // On a phone the steps are below the save form and the filters: the picture for docs/ shows them.
    await page.setViewportSize(PHONE);
    await page.emulateMedia({ colorScheme: 'dark' });
    await steps.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(OUT, 'empty-library-phone-dark-steps.png') });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize(DESKTOP);

    await steps.getByRole('link', { name: 'Save a page' }).click();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'url');

    await steps.getByRole('link', { name: 'Install the browser extension' }).click();
    await page.getByRole('heading', { name: 'Browser extension' }).waitFor();
    assert.equal(await page.locator('code.server-address').textContent(), fuze.baseUrl);
    await looks('extension');
    await page.goBack();

    await steps.getByRole('link', { name: 'Add an AI key' }).click();
    await page.getByRole('heading', { name: 'Gemini API key' }).waitFor();
    await waitFor(() => page.getByRole('heading', { name: 'Gemini API key' }).evaluate((h) => h.getBoundingClientRect().top < 200), {
      what: 'the Gemini section to be scrolled into view',
    });
    await page.goBack();
    await steps.getByRole('link', { name: 'Import your bookmarks' }).click();
    await page.getByRole('heading', { name: 'Import & export' }).waitFor();
  });

  it('shows a 404 page with a way home', async () => {
    await page.goto(fuze.url('/no/such/page'));
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    await looks('not-found');
    await page.getByRole('link', { name: 'Go to your library' }).click();
    await page.getByRole('heading', { name: 'Library' }).waitFor();
  });

  it('gives way to the first bookmark as soon as it arrives (here from the API, as the extension saves)', async () => {
    const steps = page.getByRole('region', { name: /Nothing saved yet/ });
    await steps.waitFor();
    await page.getByText('Live', { exact: true }).waitFor();
    await api('/api/bookmarks', { method: 'POST', body: JSON.stringify({ url: pages.url('/fixtures/python-asyncio-tasks.html') }) });
    await page.getByRole('list', { name: 'Saved items' }).getByRole('listitem').first().waitFor();
    await steps.waitFor({ state: 'detached' });
    await page.reload();
    await page.getByRole('list', { name: 'Saved items' }).getByRole('listitem').first().waitFor();
    assert.equal(await steps.count(), 0);
  });

  it('imports Omnivore’s .zip and an extensionless Chrome Bookmarks file, emptying the picker, with counts in words', async () => {
    const url = pages.url('/fixtures/sourdough-starter.html');
    const zip = join(OUT, 'omnivore-export.zip');
    const metadata = JSON.stringify([{ id: '1', slug: 'sourdough', title: 'Sourdough', url, labels: [{ name: 'bread' }], savedAt: '2024-01-02T03:04:05Z' }]);
    execFileSync(join(REPO_ROOT, '.venv', 'bin', 'python'), [
      '-c',
      'import sys, zipfile; zipfile.ZipFile(sys.argv[1], "w").writestr("export/metadata_0_to_1.json", sys.argv[2])',
      zip,
      metadata,
    ]);
    const chrome = join(OUT, 'Bookmarks');
    writeFileSync(chrome, JSON.stringify({ roots: { bookmark_bar: { type: 'folder', name: 'Bookmarks bar', children: [{ type: 'url', name: 'Sourdough', url }] } } }));

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Import & export' }).click();
    const input = page.getByLabel('File', { exact: true });
    // A browser's picker shows only what `accept` lists, and no pattern matches "no extension".
    assert.equal(await input.getAttribute('accept'), null);
    const fileCount = () => input.evaluate((el) => (el as HTMLInputElement).files?.length ?? 0);

    await input.setInputFiles(zip);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    const current = page.locator('.import-status').first();
    await current.getByRole('heading', { name: /^omnivore-export\.zip/ }).waitFor();
    await waitFor(async () => (await fileCount()) === 0, { what: 'the picker to be emptied after the upload' });
    await waitFor(async () => (await current.getAttribute('data-status')) === 'done', { timeoutMs: 90_000, what: 'the ZIP import' });
    assert.match((await current.textContent()) ?? '', /Omnivore export \(ZIP\)/);
    assert.match((await current.textContent()) ?? '', /1 of 1 entry · 1 new · 0 duplicates/);

    await input.setInputFiles(chrome);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await current.getByRole('heading', { name: /^Bookmarks \(/ }).waitFor();
    await waitFor(async () => (await current.getAttribute('data-status')) === 'done', { timeoutMs: 90_000, what: 'the Bookmarks import' });
    assert.match((await current.textContent()) ?? '', /Chrome Bookmarks file/);
    assert.match((await current.textContent()) ?? '', /1 of 1 entry · 0 new · 1 duplicate ·/);
    assert.equal(await fileCount(), 0);
  });

  it('reviews an AI breakdown: subtasks shown, titles edited, tasks and subtasks dropped, only the rest added', async () => {
    await api('/api/users/me/gemini-key', { method: 'PUT', body: JSON.stringify({ api_key: gemini.key }) });
    await page.reload(); // the app learns of the key set behind its back
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
    await page.getByRole('link', { name: 'Fast search for my notes app' }).click();
    await page.getByRole('button', { name: 'Break it down with AI' }).click();
    const review = page.getByRole('region', { name: 'Proposed tasks' });
    await review.getByLabel('Task 1 title').waitFor();
    assert.equal(await review.getByLabel('Subtask 1.2 title').inputValue(), 'Create a GIN index');
    assert.equal(await review.getByLabel('Subtask 2.1 title').inputValue(), 'Try ts_rank');
    await looks('breakdown-review', '.breakdown-review');

    await review.getByLabel('Task 1 title').fill('Design the notes index');
    await review.getByLabel('Subtask 1.2 title').fill('Create a GIN index on the body');
    await review.getByLabel('Keep subtask 1.1').uncheck();
    await review.getByLabel('Keep task 2').uncheck();
    await review.getByText('1 task with 1 subtask will be added.').waitFor();
    await page.screenshot({ path: join(OUT, 'breakdown-review-edited.png') });
    await review.getByRole('button', { name: 'Add these tasks' }).click();
    await review.waitFor({ state: 'detached' });

    const tasks = page.getByRole('list', { name: 'Tasks' });
    await tasks.getByText('Design the notes index', { exact: true }).waitFor();
    const subtasks = page.getByRole('list', { name: 'Subtasks of Design the notes index' });
    await subtasks.getByText('Create a GIN index on the body', { exact: true }).waitFor();
    assert.equal(await subtasks.getByRole('listitem').count(), 1);
    const saved = (await api(`/api/projects/${new URL(page.url()).pathname.split('/').pop()}/tasks`)) as {
      items: { title: string; subtasks: { title: string }[] }[];
    };
    assert.deepEqual(
      saved.items.map((t) => [t.title, t.subtasks.map((s) => s.title)]),
      [['Design the notes index', ['Create a GIN index on the body']]],
    );
  });
});
