/**
 * A tiny local web server of real pages for end-to-end tests (127.0.0.1, a free port).
 *
 *   const pages = await startPages();
 *   pages.url('/fixtures/sourdough.html')      // hand-written pages in frontend/e2e/fixtures/
 *   pages.url(`/articles/${id}.html`)          // real saved news/blog pages (see realArticles)
 *   pages.route('/custom', '<html>...</html>') // or { status, headers, body }
 *   pages.hits.get('/custom')                  // how many times a path was requested
 *   await pages.stop();
 *
 * Real pages come from ../shared/data/extraction (the scrapinghub article-extraction benchmark,
 * MIT; FUZE_EXTRACTION_DATA overrides the folder); they are read in place, not copied into the
 * repository. realArticles() is empty when that folder is absent.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

import { REPO_ROOT } from './fuze';

export const FIXTURES_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', 'fixtures');
export const EXTRACTION_DATA =
  process.env.FUZE_EXTRACTION_DATA ?? join(REPO_ROOT, '..', 'shared', 'data', 'extraction');

export interface Route {
  status?: number;
  headers?: Record<string, string>;
  body: string | Buffer;
  /** Answer after this many milliseconds. */
  delayMs?: number;
}

export interface Pages {
  baseUrl: string;
  url(path: string): string;
  route(path: string, route: string | Route): void;
  hits: Map<string, number>;
  stop(): Promise<void>;
}

export interface FixturePage {
  /** e.g. /fixtures/sourdough.html */
  path: string;
  title: string;
}

/** The hand-written pages in frontend/e2e/fixtures (their <title>s). */
export function fixturePages(): FixturePage[] {
  return readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.html'))
    .sort()
    .map((f) => {
      const html = readFileSync(join(FIXTURES_DIR, f), 'utf8');
      const title = /<title>([^<]*)<\/title>/i.exec(html)?.[1]?.trim() ?? f;
      return { path: `/fixtures/${f}`, title };
    });
}

export interface RealArticle {
  id: string;
  /** e.g. /articles/<id>.html */
  path: string;
  /** Where the page was originally published. */
  originalUrl: string;
  /** The start of its true main text (for assertions). */
  bodyStart: string;
  sizeBytes: number;
}

/** Up to `count` of the smallest real article pages, or [] when the data folder is absent. */
export function realArticles(count = 3): RealArticle[] {
  const truthPath = join(EXTRACTION_DATA, 'ground-truth.json');
  if (!existsSync(truthPath)) return [];
  const truth = JSON.parse(readFileSync(truthPath, 'utf8')) as Record<
    string,
    { articleBody: string; url: string }
  >;
  const dir = join(EXTRACTION_DATA, 'html');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.html.gz'))
    .map((f) => {
      const id = f.replace(/\.html\.gz$/, '');
      const size = readFileSync(join(dir, f)).length;
      return { id, size };
    })
    .filter(({ id }) => (truth[id]?.articleBody ?? '').length > 800)
    .sort((a, b) => a.size - b.size)
    .slice(0, count)
    .map(({ id, size }) => ({
      id,
      path: `/articles/${id}.html`,
      originalUrl: truth[id].url,
      bodyStart: truth[id].articleBody.slice(0, 120),
      sizeBytes: size,
    }));
}

function servePath(path: string): Route | null {
  const fixture = /^\/fixtures\/([\w.-]+\.html)$/.exec(path);
  if (fixture) {
    const file = join(FIXTURES_DIR, fixture[1]);
    if (existsSync(file)) return { body: readFileSync(file) };
  }
  const article = /^\/articles\/([0-9a-f]{64})\.html$/.exec(path);
  if (article) {
    const file = join(EXTRACTION_DATA, 'html', `${article[1]}.html.gz`);
    if (existsSync(file)) return { body: gunzipSync(readFileSync(file)) };
  }
  return null;
}

/** Start the page server on 127.0.0.1 with a free port. */
export async function startPages(): Promise<Pages> {
  const routes = new Map<string, Route>();
  const hits = new Map<string, number>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes.get(path) ?? servePath(path);
    const send = () => {
      if (!route) {
        res.writeHead(404, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><title>Not found</title><p>Not found</p>');
        return;
      }
      const body = typeof route.body === 'string' ? Buffer.from(route.body) : route.body;
      res.writeHead(route.status ?? 200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': String(body.length),
        ...route.headers,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (route?.delayMs) setTimeout(send, route.delayMs);
    else send();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    baseUrl,
    url: (path) => baseUrl + path,
    route: (path, route) => routes.set(path, typeof route === 'string' ? { body: route } : route),
    hits,
    stop: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
