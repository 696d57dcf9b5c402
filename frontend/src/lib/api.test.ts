import { usersGetMe } from '../client/sdk.gen';
import { apiError, json, mockApi, signedIn } from '../test/helpers';
import { ApiError, setSignedOutHandler } from './api';
import { getTokens } from './session';

describe('the session-aware client', () => {
  it('sends the access token', async () => {
    signedIn('tok-a', 'ref-a');
    const { calls } = mockApi({ 'GET /api/users/me': () => json({ username: 'ada' }) });
    const { data } = await usersGetMe({ throwOnError: true });
    expect(data).toMatchObject({ username: 'ada' });
    expect(calls[0].auth).toBe('Bearer tok-a');
  });

  it('refreshes once for many concurrent 401s and retries each request with the new token', async () => {
    signedIn('old', 'refresh-old');
    let refreshes = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { calls } = mockApi({
      'GET /api/users/me': (req) =>
        req.headers.get('Authorization') === 'Bearer new'
          ? json({ username: 'ada' })
          : apiError(401, 'token_expired', 'Your session expired.'),
      'POST /api/auth/refresh': async (req) => {
        refreshes += 1;
        expect(JSON.parse(await req.text())).toEqual({ refresh_token: 'refresh-old' });
        await gate; // every request has hit its 401 before the refresh answers
        return json({ access_token: 'new', refresh_token: 'refresh-new', token_type: 'bearer', expires_in: 900 });
      },
    });
    const all = Promise.all(Array.from({ length: 5 }, () => usersGetMe({ throwOnError: true })));
    await vi.waitFor(() => expect(calls.filter((c) => c.path === '/api/users/me')).toHaveLength(5));
    release();
    const results = await all;
    expect(results.map((r) => r.data?.username)).toEqual(['ada', 'ada', 'ada', 'ada', 'ada']);
    expect(refreshes).toBe(1);
    expect(getTokens()).toEqual({ access_token: 'new', refresh_token: 'refresh-new' });
  });

  it('signs out when the refresh token is refused', async () => {
    signedIn('old', 'spent');
    const onOut = vi.fn();
    setSignedOutHandler(onOut);
    mockApi({
      'GET /api/users/me': () => apiError(401, 'token_expired', 'Your session expired.'),
      'POST /api/auth/refresh': () => apiError(401, 'invalid_token', 'This refresh token was already used.'),
    });
    await expect(usersGetMe({ throwOnError: true })).rejects.toMatchObject({ status: 401 });
    expect(getTokens()).toBeNull();
    expect(onOut).toHaveBeenCalledOnce();
    setSignedOutHandler(null);
  });

  it('turns a network failure into a clear "unreachable" error', async () => {
    signedIn();
    await configureFailingFetch();
    const err = await usersGetMe({ throwOnError: true }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/Can't reach the Fuze server/);
  });

  it('says when to try again after a 429', async () => {
    signedIn();
    mockApi({ 'GET /api/users/me': () => apiError(429, 'rate_limited', 'Too many requests', { 'Retry-After': '7' }) });
    const err = await usersGetMe({ throwOnError: true }).catch((e) => e);
    expect(err.status).toBe(429);
    expect(err.retryAfter).toBe(7);
    expect(err.message).toBe('Too many requests. Try again in 7 seconds.');
  });

  it('keeps the API error message and code', async () => {
    signedIn();
    mockApi({ 'GET /api/users/me': () => apiError(409, 'conflict', 'That email is taken.') });
    const err = await usersGetMe({ throwOnError: true }).catch((e) => e);
    expect(err).toMatchObject({ status: 409, code: 'conflict', message: 'That email is taken.' });
  });
});

async function configureFailingFetch() {
  const { configureClient } = await import('./api');
  configureClient((async () => {
    throw new TypeError('Failed to fetch');
  }) as typeof fetch);
}
