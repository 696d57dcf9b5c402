/**
 * Wires the generated client (src/client) to the session: every request carries the access
 * token; a 401 triggers one silent refresh shared by every request that is waiting (refresh
 * tokens rotate: a spent one must never be sent twice, or the server revokes the session), then
 * the request is retried once. Errors become ApiError with a sentence a person can act on.
 */
import { client } from '../client/client.gen';
import { reportError, reportSuccess } from './net';
import { getTokens, reloadTokens, secondsLeft, setTokens, type Tokens } from './session';

export class ApiError extends Error {
  constructor(
    message: string,
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    readonly code: string,
    readonly retryAfter: number | null = null,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const UNREACHABLE =
  "Can't reach the Fuze server. Check that it is running and that you are online; we'll keep trying.";

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}

const AUTH_FREE = /\/api\/auth\/(login|register|refresh|token)$/;

let refreshing: Promise<Tokens | null> | null = null;
let onSignedOut: (() => void) | null = null;

/** Called when the session ends on its own (refresh refused): the app shows the sign-in page. */
export function setSignedOutHandler(fn: (() => void) | null): void {
  onSignedOut = fn;
}

async function doRefresh(baseFetch: typeof fetch, spent: string): Promise<Tokens | null> {
  // Another tab may already have rotated the pair: use its result rather than the spent token.
  const stored = reloadTokens();
  if (stored && stored.refresh_token !== spent) return stored;
  if (!stored) return null;
  let res: Response;
  try {
    res = await baseFetch(new Request(new URL('/api/auth/refresh', location.origin), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: stored.refresh_token }),
    }));
  } catch {
    throw new ApiError(UNREACHABLE, 0, 'unreachable');
  }
  if (res.ok) {
    const pair = (await res.json()) as Tokens;
    setTokens(pair);
    return pair;
  }
  if (res.status === 401 || res.status === 403 || res.status === 422) {
    setTokens(null);
    onSignedOut?.();
    return null;
  }
  throw await toApiError(res);
}

/**
 * One refresh at a time for this tab (and, with Web Locks, for every tab): concurrent 401s
 * wait on the same promise.
 */
export function refreshSession(baseFetch: typeof fetch = (...a) => fetch(...a)): Promise<Tokens | null> {
  if (!refreshing) {
    const spent = getTokens()?.refresh_token ?? '';
    const run = (): Promise<Tokens | null> => doRefresh(baseFetch, spent);
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
    const pending: Promise<Tokens | null> = locks ? (locks.request('fuze.refresh', run) as unknown as Promise<Tokens | null>) : run();
    refreshing = pending.finally(() => {
      refreshing = null;
    });
  }
  return refreshing as Promise<Tokens | null>;
}

export async function toApiError(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.clone().json();
  } catch {
    // not JSON
  }
  return errorFromBody(body, res);
}

function errorFromBody(body: unknown, res: Response): ApiError {
  const err = (body as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
  const retry = Number(res.headers.get('Retry-After'));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null;
  if (res.status === 429) {
    const wait = retryAfter ? ` Try again in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.` : ' Try again shortly.';
    return new ApiError(
      (err?.message ? `${err.message.replace(/\.?$/, '.')}` : 'Too many requests.') + wait,
      429,
      err?.code ?? 'rate_limited',
      retryAfter,
      err?.details,
    );
  }
  if (err?.message) return new ApiError(err.message, res.status, err.code ?? 'error', retryAfter, err.details);
  if (res.status >= 500)
    return new ApiError('The server had a problem answering. Try again in a moment.', res.status, 'server_error');
  return new ApiError(`The request failed (${res.status}).`, res.status, 'error');
}

/** The fetch the generated client uses: token, silent refresh, one retry. */
export function createAuthFetch(baseFetch: typeof fetch = (...a) => fetch(...a)): typeof fetch {
  return async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const tokens = getTokens();
    const retryCopy = request.clone();
    const authed = (req: Request, token: string | undefined) => {
      if (token && !req.headers.has('Authorization')) req.headers.set('Authorization', `Bearer ${token}`);
      return req;
    };
    let res: Response;
    try {
      res = await baseFetch(authed(request, AUTH_FREE.test(new URL(request.url).pathname) ? undefined : tokens?.access_token));
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') throw e;
      const err = new ApiError(UNREACHABLE, 0, 'unreachable');
      reportError(err); // at once, not after the query's retries
      throw err;
    }
    if (res.status === 429) reportError(await toApiError(res));
    else if (res.status < 500) reportSuccess();
    if (res.status !== 401 || !tokens || AUTH_FREE.test(new URL(request.url).pathname)) return res;
    const fresh = await refreshSession(baseFetch);
    if (!fresh) return res;
    try {
      return await baseFetch(authed(retryCopy, fresh.access_token));
    } catch {
      throw new ApiError(UNREACHABLE, 0, 'unreachable');
    }
  };
}

let configured = false;
let intercepting = false;

/** Point the generated client at this origin with the session-aware fetch (once). */
export function configureClient(baseFetch?: typeof fetch): void {
  if (configured && !baseFetch) return;
  configured = true;
  client.setConfig({ baseUrl: location.origin, fetch: createAuthFetch(baseFetch) });
  if (intercepting) return;
  intercepting = true;
  client.interceptors.error.use((error, response) => {
    if (error instanceof ApiError) return error;
    if (!response) return new ApiError(UNREACHABLE, 0, 'unreachable');
    return errorFromBody(error, response);
  });
}

/** A fresh access token for what cannot refresh by itself (EventSource, downloads). */
export async function freshAccessToken(minSeconds = 30): Promise<string | null> {
  const tokens = getTokens();
  if (!tokens) return null;
  if (secondsLeft(tokens.access_token) > minSeconds) return tokens.access_token;
  const pair = await refreshSession();
  return pair?.access_token ?? null;
}
