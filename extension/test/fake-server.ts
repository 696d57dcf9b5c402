/**
 * A small stand-in for the Fuze API at the HTTP level, for the unit tests of the auth and
 * queue logic (the end-to-end tests use a real `fuze up`). It keeps the rules the extension
 * depends on: access tokens expire, refresh tokens rotate on every use and reusing a spent one
 * revokes the whole family, a second save of one address answers 200 with the first.
 */
export interface StoredBookmark {
  id: string;
  url: string;
  title?: string;
  notes?: string;
  tags: string[];
  html?: string;
  /** Sent by the popup's "Archive" choice. */
  archived?: boolean;
}

export interface FakeServer {
  base: string;
  fetch: typeof fetch;
  /** Every request as "METHOD /path". */
  log: string[];
  /** While true, every request fails as a refused connection would. */
  down: boolean;
  /** Answer the next saves with this status and error code instead. */
  refuseSaves: { status: number; code: string; message: string } | null;
  bookmarks: StoredBookmark[];
  /** The Idempotency-Key of every POST /api/bookmarks, refused ones included. */
  saveKeys: (string | null)[];
  /** Make every access token issued so far invalid (as after a key rotation). */
  revokeAccessTokens(): void;
  /** Personal API tokens the server accepts. */
  apiTokens: Set<string>;
  familiesRevoked: number;
  now: () => number;
}

const PASSWORD = 'correct horse';
const TTL_SECONDS = 900;

export function fakeServer(now: () => number = Date.now): FakeServer {
  const base = 'https://fuze.test';
  const access = new Map<string, number>(); // token -> expiry (ms)
  const refresh = new Map<string, { family: number; spent: boolean }>();
  const revokedFamilies = new Set<number>();
  let counter = 0;
  let families = 0;

  const json = (status: number, body: unknown) =>
    new Response(body === null ? null : JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json' },
    });
  const error = (status: number, code: string, message: string) =>
    json(status, { error: { code, message, details: null } });

  const issue = (family: number) => {
    counter += 1;
    const a = `access-${counter}`;
    const r = `refresh-${counter}`;
    access.set(a, now() + TTL_SECONDS * 1000);
    refresh.set(r, { family, spent: false });
    return { access_token: a, refresh_token: r, token_type: 'bearer', expires_in: TTL_SECONDS };
  };

  const server: FakeServer = {
    base,
    log: [],
    down: false,
    refuseSaves: null,
    bookmarks: [],
    saveKeys: [],
    apiTokens: new Set(),
    familiesRevoked: 0,
    now,
    revokeAccessTokens: () => access.clear(),
    fetch: async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      const url = new URL(request.url);
      server.log.push(`${request.method} ${url.pathname}`);
      if (server.down) throw new TypeError('Failed to fetch');
      const body = request.method === 'GET' ? null : await request.text();
      const data = body ? JSON.parse(body) : {};
      const route = `${request.method} ${url.pathname}`;
      if (route === 'POST /api/bookmarks') server.saveKeys.push(request.headers.get('Idempotency-Key'));

      if (route === 'POST /api/auth/login') {
        if (data.login !== 'alice' || data.password !== PASSWORD) {
          return error(401, 'invalid_credentials', 'Wrong username or password.');
        }
        families += 1;
        return json(200, issue(families));
      }
      if (route === 'POST /api/auth/refresh') {
        const entry = refresh.get(data.refresh_token);
        if (!entry || revokedFamilies.has(entry.family)) {
          return error(401, 'invalid_refresh_token', 'This session has ended.');
        }
        if (entry.spent) {
          revokedFamilies.add(entry.family);
          server.familiesRevoked += 1;
          return error(401, 'refresh_token_reused', 'This session has ended.');
        }
        entry.spent = true;
        return json(200, issue(entry.family));
      }
      if (route === 'POST /api/auth/logout') {
        const entry = refresh.get(data.refresh_token);
        if (entry) {
          revokedFamilies.add(entry.family);
          server.familiesRevoked += 1;
        }
        return json(204, null);
      }

      const token = request.headers.get('Authorization')?.replace(/^Bearer /, '') ?? '';
      const expiry = access.get(token);
      const valid = server.apiTokens.has(token) || (expiry !== undefined && expiry > now());
      if (!valid) return error(401, 'not_authenticated', 'Authentication is required.');

      if (route === 'GET /api/users/me') return json(200, { username: 'alice' });
      if (route === 'POST /api/bookmarks') {
        if (server.refuseSaves) {
          const { status, code, message } = server.refuseSaves;
          return error(status, code, message);
        }
        const existing = server.bookmarks.find((b) => b.url === data.url);
        if (existing) {
          existing.tags = [...new Set([...existing.tags, ...(data.tags ?? [])])];
          return json(200, { ...existing, status: 'ready' });
        }
        const bookmark: StoredBookmark = { id: `b${server.bookmarks.length + 1}`, tags: [], ...data };
        server.bookmarks.push(bookmark);
        return json(201, { ...bookmark, status: 'pending' });
      }
      if (route === 'GET /api/bookmarks') {
        const wanted = url.searchParams.get('url');
        const items = server.bookmarks
          .filter((b) => !wanted || b.url === wanted)
          .map((b) => ({ ...b, status: 'ready' }))
          .reverse();
        return json(200, { items, next_cursor: null });
      }
      return error(404, 'not_found', 'No such route.');
    },
  };
  return server;
}

export const GOOD_PASSWORD = PASSWORD;
