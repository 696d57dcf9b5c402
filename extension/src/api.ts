/**
 * Fuze's API as the extension uses it, through the SPA's generated client
 * (frontend/src/client, imported as @fuze/client): one server URL, one session kept in
 * storage, access tokens refreshed with the rotating refresh token under a lock shared by
 * every context of the extension.
 */
import {
  authLogin,
  authLogout,
  authRefresh,
  bookmarksCreateBookmark,
  bookmarksGetBookmark,
  bookmarksListBookmarks,
  bookmarksUpdateBookmark,
  type BookmarkDetail,
  type BookmarkOut,
  type BookmarkUpdate,
  type TokenPair,
  usersGetMe,
} from '@fuze/client';
import { type Client, createClient, createConfig } from '@fuze/client/client';

import { withLock } from './locks';
import { KEYS, type KV, type Session } from './storage';

/** The server could not be reached or asked us to come back later: worth retrying. */
export class Unreachable extends Error {
  override name = 'Unreachable';
}

/** No session, or the server no longer accepts it: the user has to sign in again. */
export class SignedOut extends Error {
  override name = 'SignedOut';
}

/** The server answered and refused: retrying the same request will not help. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SaveInput {
  url: string;
  title?: string;
  notes?: string;
  tags?: string[];
  html?: string;
  /** Straight to the archive rather than to read later (a new bookmark only). */
  archived?: boolean;
  /** Sent as `Idempotency-Key`; a new random UUID when absent. */
  idempotencyKey?: string;
}

export interface FuzeDeps {
  storage: KV;
  /** Defaults to the global fetch; unit tests pass a fake server. */
  fetch?: typeof fetch;
  now?: () => number;
  /** Per request; a save carrying a captured page gets four times as long. */
  timeoutMs?: number;
}

/** Refresh this long before the access token expires, so a request never races its expiry. */
const EXPIRY_MARGIN_MS = 30_000;

interface Result<T> {
  data?: T;
  error?: unknown;
  response?: Response;
}

type Call<T> = (client: Client, token: string) => Promise<Result<T>>;

/** "fuze.example.org" -> "https://fuze.example.org"; "localhost:8000/" -> "http://localhost:8000". */
export function normalizeServerUrl(input: string): string {
  let text = input.trim();
  if (!text) throw new ApiError(0, 'invalid_server_url', 'Enter the address of your Fuze server.');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const local = /^(localhost|127\.|\[::1\])/i.test(text);
    text = `${local ? 'http' : 'https'}://${text}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ApiError(0, 'invalid_server_url', `"${input}" is not a web address.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ApiError(0, 'invalid_server_url', 'The server address starts with http:// or https://.');
  }
  return (url.origin + url.pathname).replace(/\/+$/, '');
}

/** The host permission that covers this server and nothing else. */
export function originPattern(serverUrl: string): string {
  return `${new URL(serverUrl).origin}/*`;
}

export function isWebUrl(url: string | undefined): url is string {
  return !!url && /^https?:\/\//i.test(url);
}

function errorBody(error: unknown): { code?: string; message?: string } {
  const body = (error as { error?: { code?: string; message?: string } } | undefined)?.error;
  return typeof body === 'object' && body ? body : {};
}

/** The data of a successful answer, or the error a caller can act on. 401 is left to the caller. */
function check<T>(result: Result<T>): T {
  const { response } = result;
  if (!response) {
    const why = result.error instanceof Error ? result.error.message : String(result.error ?? '');
    throw new Unreachable(`The Fuze server cannot be reached${why ? ` (${why})` : ''}.`);
  }
  if (response.ok) return result.data as T;
  const { code, message } = errorBody(result.error);
  const status = response.status;
  if (status === 408 || status === 429 || status >= 500) {
    throw new Unreachable(message ?? `The Fuze server is not available right now (HTTP ${status}).`);
  }
  throw new ApiError(status, code ?? `http_${status}`, message ?? `The server answered HTTP ${status}.`);
}

export class Fuze {
  private readonly now: () => number;
  private readonly timeoutMs: number;

  constructor(private readonly deps: FuzeDeps) {
    this.now = deps.now ?? Date.now;
    this.timeoutMs = deps.timeoutMs ?? 15_000;
  }

  async serverUrl(): Promise<string | null> {
    const got = await this.deps.storage.get([KEYS.serverUrl]);
    return (got[KEYS.serverUrl] as string | undefined) ?? null;
  }

  async session(): Promise<Session | null> {
    const got = await this.deps.storage.get([KEYS.session]);
    return (got[KEYS.session] as Session | undefined) ?? null;
  }

  private client(baseUrl: string): Client {
    // The fetch is looked up at call time so that a test can swap the global one.
    const fetchImpl = this.deps.fetch ?? ((input, init) => globalThis.fetch(input, init));
    return createClient(createConfig({ baseUrl, fetch: fetchImpl }));
  }

  private signal(scale = 1): AbortSignal {
    return AbortSignal.timeout(this.timeoutMs * scale);
  }

  private pairToSession(username: string, pair: TokenPair): Session & { kind: 'password' } {
    return {
      kind: 'password',
      username,
      accessToken: pair.access_token,
      refreshToken: pair.refresh_token,
      expiresAt: this.now() + pair.expires_in * 1000,
    };
  }

  private async whoAmI(client: Client, token: string): Promise<string> {
    const me = await usersGetMe({ client, auth: token, signal: this.signal() });
    if (me.response?.status === 401) {
      throw new ApiError(401, 'invalid_token', 'The server did not accept this token.');
    }
    return check(me).username;
  }

  /** Sign in with a username (or email) and password; the tokens are kept in storage. */
  async signIn(serverInput: string, login: string, password: string): Promise<Session> {
    const serverUrl = normalizeServerUrl(serverInput);
    const client = this.client(serverUrl);
    const result = await authLogin({
      client,
      body: { login: login.trim(), password },
      signal: this.signal(),
    });
    if (result.response?.status === 401) {
      throw new ApiError(401, 'invalid_credentials', errorBody(result.error).message ?? 'Wrong username or password.');
    }
    const pair = check(result);
    const username = await this.whoAmI(client, pair.access_token).catch(() => login.trim());
    const session = this.pairToSession(username, pair);
    await this.forgetSession();
    await this.deps.storage.set({ [KEYS.serverUrl]: serverUrl, [KEYS.session]: session });
    return session;
  }

  /** Use a personal API token (created in the web app's settings) instead of a password. */
  async useApiToken(serverInput: string, token: string): Promise<Session> {
    const serverUrl = normalizeServerUrl(serverInput);
    const trimmed = token.trim();
    if (!trimmed) throw new ApiError(0, 'invalid_token', 'Paste a personal API token.');
    const username = await this.whoAmI(this.client(serverUrl), trimmed);
    const session: Session = { kind: 'token', username, token: trimmed };
    await this.forgetSession();
    await this.deps.storage.set({ [KEYS.serverUrl]: serverUrl, [KEYS.session]: session });
    return session;
  }

  /** Sign out: the refresh token family is revoked on the server (best effort) and forgotten here. */
  async signOut(): Promise<void> {
    await this.forgetSession();
  }

  private async forgetSession(): Promise<void> {
    const [serverUrl, session] = [await this.serverUrl(), await this.session()];
    await this.deps.storage.remove([KEYS.session]);
    if (serverUrl && session?.kind === 'password') {
      await authLogout({
        client: this.client(serverUrl),
        body: { refresh_token: session.refreshToken },
        signal: this.signal(),
      }).catch(() => undefined);
    }
  }

  /**
   * A usable access token. A password session is refreshed shortly before it expires, or
   * when `rejected` (the token the server just refused) is still the current one. The refresh
   * token rotates on every use and reusing a spent one revokes the whole family, so refreshes
   * are serialised across the extension's contexts and the session is re-read inside the lock.
   */
  async accessToken(rejected?: string): Promise<{ serverUrl: string; token: string }> {
    const serverUrl = await this.serverUrl();
    const session = await this.session();
    if (!serverUrl) throw new SignedOut('Set your Fuze server in the options first.');
    if (!session) throw new SignedOut('Sign in to Fuze in the options first.');
    if (session.kind === 'token') {
      if (rejected === session.token) {
        await this.deps.storage.remove([KEYS.session]);
        throw new SignedOut('Your API token is no longer accepted; sign in again.');
      }
      return { serverUrl, token: session.token };
    }
    const fresh = (s: Session & { kind: 'password' }) =>
      s.accessToken !== rejected && s.expiresAt - EXPIRY_MARGIN_MS > this.now();
    if (fresh(session)) return { serverUrl, token: session.accessToken };

    return withLock('fuze-auth', async () => {
      const current = await this.session();
      if (!current) throw new SignedOut('Signed out.');
      if (current.kind === 'token') return { serverUrl, token: current.token };
      // Another context refreshed while we waited for the lock.
      if (current.refreshToken !== session.refreshToken || fresh(current)) {
        return { serverUrl, token: current.accessToken };
      }
      const result = await authRefresh({
        client: this.client(serverUrl),
        body: { refresh_token: current.refreshToken },
        signal: this.signal(),
      });
      if (result.response?.status === 401) {
        await this.deps.storage.remove([KEYS.session]);
        throw new SignedOut('Your Fuze session has ended; sign in again.');
      }
      const next = this.pairToSession(current.username, check(result));
      await this.deps.storage.set({ [KEYS.session]: next });
      return { serverUrl, token: next.accessToken };
    });
  }

  /** Run an authenticated call; a 401 refreshes the session once and tries again. */
  private async authed<T>(call: Call<T>): Promise<{ data: T; response: Response }> {
    let { serverUrl, token } = await this.accessToken();
    const client = this.client(serverUrl);
    let result = await call(client, token);
    if (result.response?.status === 401) {
      ({ token } = await this.accessToken(token));
      result = await call(client, token);
      if (result.response?.status === 401) {
        await this.deps.storage.remove([KEYS.session]);
        throw new SignedOut('The server no longer accepts this session; sign in again.');
      }
    }
    const data = check(result);
    return { data, response: result.response as Response };
  }

  /** POST /api/bookmarks: 201 a new bookmark, 200 the one already saved for this address. */
  async save(input: SaveInput): Promise<{ bookmark: BookmarkOut; created: boolean }> {
    const body = {
      url: input.url,
      ...(input.title ? { title: input.title } : {}),
      ...(input.notes ? { notes: input.notes } : {}),
      ...(input.tags?.length ? { tags: input.tags } : {}),
      ...(input.html ? { html: input.html } : {}),
      ...(input.archived ? { archived: true } : {}),
    };
    // One key per save, the same on the retry after a refreshed token: a repeat gets the
    // first answer again, so a retried save cannot be told from the original.
    const headers = { 'Idempotency-Key': input.idempotencyKey ?? crypto.randomUUID() };
    const { data, response } = await this.authed((client, auth) =>
      bookmarksCreateBookmark({ client, auth, body, headers, signal: this.signal(input.html ? 4 : 1) }),
    );
    return { bookmark: data as BookmarkOut, created: response.status === 201 };
  }

  /** The user's bookmark of this address (compared after the server's normalisation), if any. */
  async findByUrl(url: string): Promise<BookmarkOut | null> {
    const { data } = await this.authed((client, auth) =>
      bookmarksListBookmarks({
        client,
        auth,
        // `url` is newer than the generated client's query type; the client sends any key.
        query: { url, limit: 1 } as { limit: number },
        signal: this.signal(),
      }),
    );
    return data.items[0] ?? null;
  }

  async get(id: string): Promise<BookmarkDetail> {
    const { data } = await this.authed((client, auth) =>
      bookmarksGetBookmark({ client, auth, path: { bookmark_id: id }, signal: this.signal() }),
    );
    return data;
  }

  async update(id: string, patch: BookmarkUpdate): Promise<BookmarkDetail> {
    const { data } = await this.authed((client, auth) =>
      bookmarksUpdateBookmark({
        client,
        auth,
        path: { bookmark_id: id },
        body: patch,
        signal: this.signal(),
      }),
    );
    return data;
  }

  /** Tag suggestions: the tags of the user's most recent saves, most used first. (The API has
   * no list of tags; the 200 newest bookmarks hold the ones in use.) */
  async recentTags(limit = 200): Promise<string[]> {
    const { data } = await this.authed((client, auth) =>
      bookmarksListBookmarks({ client, auth, query: { limit, sort: '-saved_at' }, signal: this.signal() }),
    );
    const counts = new Map<string, { name: string; n: number }>();
    for (const item of data.items) {
      for (const tag of item.tags) {
        const entry = counts.get(tag.toLowerCase()) ?? { name: tag, n: 0 };
        entry.n += 1;
        counts.set(tag.toLowerCase(), entry);
      }
    }
    return [...counts.values()]
      .sort((a, b) => b.n - a.n || a.name.localeCompare(b.name))
      .map((e) => e.name);
  }
}
