import { QueryClient } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter } from 'react-router';

import { App } from '../App';
import type { BookmarkOut } from '../client/types.gen';
import { configureClient } from '../lib/api';
import { setTokens } from '../lib/session';

export type Handler = (req: Request, url: URL) => Response | Promise<Response>;

export const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

export const apiError = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  json({ error: { code, message, details: null } }, status, headers);

/** A fake server behind the generated client: `routes` maps "METHOD /path" to a handler. */
export function mockApi(routes: Record<string, Handler>) {
  const calls: { method: string; path: string; auth: string | null; body: string; headers: Headers }[] = [];
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(input, init);
    const url = new URL(req.url);
    const body = req.method === 'GET' ? '' : await req.clone().text();
    calls.push({ method: req.method, path: url.pathname, auth: req.headers.get('Authorization'), body, headers: req.headers });
    const key = `${req.method} ${url.pathname}`;
    const handler =
      routes[key] ??
      Object.entries(routes).find(([k]) => {
        const [m, p] = k.split(' ');
        return m === req.method && new RegExp(`^${p.replace(/:\w+/g, '[^/]+')}$`).test(url.pathname);
      })?.[1];
    if (!handler) return apiError(404, 'not_found', 'There is nothing at this path.');
    return handler(req, url);
  };
  configureClient(fetchImpl as typeof fetch);
  return { calls };
}

export function signedIn(access = 'access-1', refresh = 'refresh-1') {
  setTokens({ access_token: access, refresh_token: refresh });
}

export function testQueryClient() {
  return new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity }, mutations: { retry: false } } });
}

export function renderApp(path = '/', qc = testQueryClient()) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <App queryClient={qc} />
    </MemoryRouter>,
  );
}

export function renderWithRouter(ui: ReactElement, path = '/') {
  return render(<MemoryRouter initialEntries={[path]}>{ui}</MemoryRouter>);
}

let n = 0;
export function bookmark(over: Partial<BookmarkOut> = {}): BookmarkOut {
  n += 1;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    url: `https://example.com/${n}`,
    normalized_url: `https://example.com/${n}`,
    title: `Item ${n}`,
    description: null,
    notes: null,
    tags: [],
    site_name: null,
    author: null,
    published_at: null,
    language: null,
    canonical_url: null,
    image_url: null,
    favicon_url: null,
    word_count: null,
    reading_time_minutes: null,
    quality: null,
    status: 'ready',
    error_code: null,
    error_message: null,
    source: 'web',
    version: 1,
    saved_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
    processed_at: null,
    read_at: null,
    favorite: false,
    archived_at: null,
    progress: 0,
    ...over,
  };
}

export const ME = {
  id: 'u1',
  username: 'ada',
  email: 'ada@example.com',
  display_name: 'Ada',
  created_at: new Date().toISOString(),
  is_admin: false,
  has_gemini_key: false,
  gemini_key_last4: null,
};
