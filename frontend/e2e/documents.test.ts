/**
 * PDFs in a real browser on a real `fuze up`: a PDF chosen with "Upload a file" beside the save
 * form is read by the worker, its page shows "PDF · 2 pages", and "Download the PDF" gives back
 * the very file. Screenshots of the library and the item at 390 and 1280 px, light and dark,
 * go to frontend/test-output/documents/ (git-ignored).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Browser } from 'playwright-core';

import { launchChromium } from './support/browser';
import { type Fuze, REPO_ROOT, registerUser, startFuze, type TestUser, waitFor } from './support/fuze';
import { openSignedIn, type Theme } from './support/session';

const OUT = join(import.meta.dirname, '..', 'test-output', 'documents');
mkdirSync(OUT, { recursive: true });

let fuze: Fuze;
let browser: Browser;
let user: TestUser;

/** A two-page PDF with a title, written by the Python tests' own PDF writer. */
function moonPdf(): Buffer {
  const code =
    'import base64, sys\n' +
    'from tests.fakes.documents import make_pdf\n' +
    'pdf = make_pdf(["Lunar missions\\nThe Apollo guidance computer steered to lunar orbit.",' +
    ' "The lunar module descended to the surface of the Moon."], title="Lunar Missions Field Guide")\n' +
    'sys.stdout.write(base64.b64encode(pdf).decode())\n';
  const out = execFileSync(join(REPO_ROOT, '.venv', 'bin', 'python'), ['-c', code], {
    cwd: REPO_ROOT,
    env: { ...process.env, PYTHONPATH: REPO_ROOT },
  });
  return Buffer.from(out.toString(), 'base64');
}

const open = (width: number, colorScheme: Theme = 'light') =>
  openSignedIn(browser, user, width, colorScheme, { acceptDownloads: true });

async function bookmark(id: string): Promise<{ status: string; metadata: Record<string, unknown> | null }> {
  const res = await fetch(fuze.url(`/api/bookmarks/${id}`), { headers: user.headers });
  return (await res.json()) as { status: string; metadata: Record<string, unknown> | null };
}

before(async () => {
  [fuze, browser] = await Promise.all([startFuze(), launchChromium()]);
  user = await registerUser(fuze);
});

after(async () => {
  await browser?.close();
  await fuze?.stop();
});

describe('PDFs', () => {
  let id = '';
  const pdf = moonPdf();

  it('uploads a PDF from the library, shows its pages and gives the file back', async () => {
    const { context, page } = await open(1280);
    await page.goto(fuze.url('/'));
    const uploaded = page.waitForResponse((r) => r.url().endsWith('/api/bookmarks/upload'));
    await page.getByLabel('Upload a PDF, Markdown or text file').setInputFiles({ name: 'moon.pdf', mimeType: 'application/pdf', buffer: pdf });
    const res = await uploaded;
    assert.equal(res.status(), 201);
    id = ((await res.json()) as { id: string }).id;
    await page.getByText('Uploaded moon.pdf. It will be ready in a moment.').waitFor();
    await waitFor(async () => (await bookmark(id)).status === 'ready', { timeoutMs: 180_000, what: 'the PDF to be ready' });

    await page.goto(fuze.url(`/items/${id}`));
    await page.getByRole('heading', { name: 'Lunar Missions Field Guide' }).waitFor();
    await page.getByText('PDF · 2 pages').waitFor();
    await page.getByText('Uploaded: moon.pdf').waitFor();
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download the PDF' }).click();
    const file = await download;
    assert.equal(file.suggestedFilename(), 'moon.pdf');
    assert.deepEqual(readFileSync(await file.path()), pdf);
    await context.close();
  });

  it('looks right at phone and desktop width, light and dark', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      for (const width of [1280, 390]) {
        const { context, page } = await open(width, scheme);
        await page.goto(fuze.url('/'));
        await page.getByRole('button', { name: 'Upload a file' }).waitFor();
        await page.getByRole('list', { name: 'Saved items' }).getByRole('listitem').first().waitFor();
        await page.screenshot({ path: join(OUT, `library-${width}-${scheme}.png`) });
        await page.goto(fuze.url(`/items/${id}`));
        await page.getByText('PDF · 2 pages').waitFor();
        await page.screenshot({ path: join(OUT, `item-${width}-${scheme}.png`) });
        const sticking = await page.evaluate(() =>
          Array.from(document.querySelectorAll('main *'))
            .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
            .map((el) => `${el.tagName.toLowerCase()}.${el.className}`)
            .slice(0, 5),
        );
        assert.deepEqual(sticking, [], `nothing sticks out at ${width} px, ${scheme}`);
        await context.close();
      }
    }
  });
});
