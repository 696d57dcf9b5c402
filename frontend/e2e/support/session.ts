/**
 * A browser page already signed in as a test user, and the API as that user: what each e2e
 * suite needs to open pages at a width and theme and to arrange data through the API.
 *
 *   const { context, page } = await openSignedIn(browser, user, 390, 'dark');
 *   const items = await apiAs(fuze, user)<{ items: unknown[] }>('/api/bookmarks');
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import type { Browser, BrowserContext, Page } from 'playwright-core';

import type { Fuze, TestUser } from './fuze';

export type Theme = 'light' | 'dark';

/** A new context at this width (a phone's height under 600 px) and theme, whose pages start
 * with the user's session in localStorage, as after signing in. */
export async function openSignedIn(
  browser: Browser,
  user: TestUser,
  width = 1280,
  colorScheme: Theme = 'light',
  options: { acceptDownloads?: boolean } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width, height: width < 600 ? 844 : 860 }, colorScheme, ...options });
  const tokens = { access_token: user.access_token, refresh_token: user.refresh_token };
  await context.addInitScript((session) => {
    if (!localStorage.getItem('fuze.session')) localStorage.setItem('fuze.session', session);
  }, JSON.stringify(tokens));
  const page = await context.newPage();
  page.setDefaultTimeout(Number(process.env.FUZE_E2E_TIMEOUT_MS ?? 30_000));
  page.on('pageerror', (err) => console.error('page error:', err));
  return { context, page };
}

/** A JSON call to the API as the user; anything but a 2xx fails the test with the answer. */
export function apiAs(fuze: Pick<Fuze, 'url'>, user: TestUser) {
  return async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(fuze.url(path), { ...init, headers: { ...user.headers, 'Content-Type': 'application/json' } });
    const body = await res.text();
    assert.ok(res.ok, `${init.method ?? 'GET'} ${path}: ${res.status} ${body}`);
    return (body ? JSON.parse(body) : null) as T;
  };
}

let axeSource: string | undefined;

/** A screenshot of the page as it is, as `${dir}/${name}.png`, and an axe-core check of it:
 * each serious or critical violation is added to `a11y`, named after the screenshot. */
export async function screenshotWithAxe(p: Page, dir: string, name: string, a11y: string[]): Promise<void> {
  await p.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await p.evaluate(() => 'axe' in window))) await p.addScriptTag({ content: axeSource });
  const violations = await p.evaluate(async () => {
    // @ts-expect-error axe is injected above
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return (result.violations as { id: string; impact: string; nodes: { target: string[] }[] }[]).map(
      (v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`,
    );
  });
  for (const v of violations) if (/\((serious|critical)\)/.test(v)) a11y.push(`${name}: ${v}`);
}
