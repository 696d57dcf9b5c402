import { describe, expect, it } from 'vitest';

import { ApiError, Fuze, normalizeServerUrl, originPattern, SignedOut, Unreachable } from '../src/api';
import { KEYS, memoryKV, type Session } from '../src/storage';
import { fakeServer, GOOD_PASSWORD } from './fake-server';

function setup() {
  let t = 1_700_000_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const server = fakeServer(clock.now);
  const storage = memoryKV();
  const make = () => new Fuze({ storage, fetch: server.fetch, now: clock.now });
  return { server, storage, clock, fuze: make(), make };
}

const session = (storage: ReturnType<typeof memoryKV>) => storage.data[KEYS.session] as Session | undefined;

describe('signing in', () => {
  it('keeps the server and the tokens, and saves with them', async () => {
    const { server, storage, fuze } = setup();
    await fuze.signIn('https://fuze.test/', 'alice', GOOD_PASSWORD);
    expect(storage.data[KEYS.serverUrl]).toBe('https://fuze.test');
    expect(session(storage)).toMatchObject({ kind: 'password', username: 'alice' });

    const { created } = await fuze.save({ url: 'https://example.com/a', tags: ['x'] });
    expect(created).toBe(true);
    expect(server.bookmarks).toMatchObject([{ url: 'https://example.com/a', tags: ['x'] }]);
  });

  it('sends archived only for the "Archive" choice', async () => {
    const { server, fuze } = setup();
    await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
    await fuze.save({ url: 'https://example.com/done', archived: true });
    await fuze.save({ url: 'https://example.com/later' });
    expect(server.bookmarks.map((b) => [b.url, b.archived])).toEqual([
      ['https://example.com/done', true],
      ['https://example.com/later', undefined], // read later: the server's default
    ]);
  });

  it('says so when the password is wrong, and stores nothing', async () => {
    const { storage, fuze } = setup();
    const err = await fuze.signIn('https://fuze.test', 'alice', 'nope').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.message).toBe('Wrong username or password.');
    expect(storage.data).toEqual({});
  });

  it('says the server cannot be reached when it is down', async () => {
    const { server, fuze } = setup();
    server.down = true;
    await expect(fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD)).rejects.toBeInstanceOf(Unreachable);
  });

  it('accepts a personal API token and sends it as it is, never refreshing', async () => {
    const { server, storage, fuze, clock } = setup();
    server.apiTokens.add('fz_personal');
    await fuze.useApiToken('https://fuze.test', ' fz_personal ');
    expect(session(storage)).toEqual({ kind: 'token', username: 'alice', token: 'fz_personal' });
    clock.advance(10 * 24 * 3600_000);
    await fuze.save({ url: 'https://example.com/t' });
    expect(server.log.filter((l) => l.includes('/auth/'))).toEqual([]);
  });

  it('refuses an API token the server does not accept', async () => {
    const { storage, fuze } = setup();
    await expect(fuze.useApiToken('https://fuze.test', 'fz_wrong')).rejects.toThrow(
      'The server did not accept this token.',
    );
    expect(storage.data).toEqual({});
  });

  it('signs out: the server revokes the session and the tokens are forgotten', async () => {
    const { server, storage, fuze } = setup();
    await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
    await fuze.signOut();
    expect(server.familiesRevoked).toBe(1);
    expect(session(storage)).toBeUndefined();
    expect(storage.data[KEYS.serverUrl]).toBe('https://fuze.test');
    await expect(fuze.save({ url: 'https://example.com/' })).rejects.toBeInstanceOf(SignedOut);
  });
});

describe('refreshing', () => {
  it('trades the refresh token for a new pair when the access token is about to expire', async () => {
    const { server, storage, fuze, clock } = setup();
    await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
    const before = session(storage) as Session & { kind: 'password' };
    clock.advance(890_000); // 10 s left: inside the margin
    await fuze.save({ url: 'https://example.com/r' });
    const after = session(storage) as Session & { kind: 'password' };
    expect(server.log.filter((l) => l === 'POST /api/auth/refresh')).toHaveLength(1);
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(after.expiresAt).toBeGreaterThan(before.expiresAt);
    expect(server.bookmarks).toHaveLength(1);
  });

  it('refreshes once for many requests at once, from several contexts, so the session survives', async () => {
    const { server, fuze, make, clock } = setup();
    await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
    clock.advance(3600_000);
    const popup = make(); // another context sharing the same storage
    await Promise.all([
      fuze.save({ url: 'https://example.com/1' }),
      popup.save({ url: 'https://example.com/2' }),
      popup.findByUrl('https://example.com/1'),
      fuze.recentTags(),
    ]);
    expect(server.log.filter((l) => l === 'POST /api/auth/refresh')).toHaveLength(1);
    expect(server.familiesRevoked).toBe(0);
    expect(server.bookmarks.map((b) => b.url).sort()).toEqual(['https://example.com/1', 'https://example.com/2']);
  });

  it('refreshes and retries when the server refuses an access token that has not expired', async () => {
    const { server, fuze } = setup();
    await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
    server.revokeAccessTokens();
    await fuze.save({ url: 'https://example.com/again' });
    expect(server.log.slice(-3)).toEqual(['POST /api/bookmarks', 'POST /api/auth/refresh', 'POST /api/bookmarks']);
    expect(server.bookmarks).toHaveLength(1);
    // The retry is the same action: the same Idempotency-Key; the next save gets a new one.
    await fuze.save({ url: 'https://example.com/next' });
    const [first, retry, next] = server.saveKeys;
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(retry).toBe(first);
    expect(next).toMatch(/^[0-9a-f-]{36}$/);
    expect(next).not.toBe(first);
  });

  it('signs out when the session has ended on the server', async () => {
    const { server, storage, fuze, clock } = setup();
    await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
    const { refreshToken } = session(storage) as Session & { kind: 'password' };
    // Someone else used the refresh token (the server revokes the family on reuse).
    await server.fetch(`${server.base}/api/auth/logout`, {
      method: 'POST',
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    clock.advance(3600_000);
    await expect(fuze.save({ url: 'https://example.com/' })).rejects.toBeInstanceOf(SignedOut);
    expect(session(storage)).toBeUndefined();
  });

  it('keeps the session when the server cannot be reached to refresh', async () => {
    const { server, storage, fuze, clock } = setup();
    await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
    clock.advance(3600_000);
    server.down = true;
    await expect(fuze.save({ url: 'https://example.com/' })).rejects.toBeInstanceOf(Unreachable);
    expect(session(storage)).toBeDefined();
    server.down = false;
    await fuze.save({ url: 'https://example.com/' });
    expect(server.bookmarks).toHaveLength(1);
  });

  it('signs out when an API token is revoked', async () => {
    const { server, storage, fuze } = setup();
    server.apiTokens.add('fz_personal');
    await fuze.useApiToken('https://fuze.test', 'fz_personal');
    server.apiTokens.clear();
    await expect(fuze.save({ url: 'https://example.com/' })).rejects.toBeInstanceOf(SignedOut);
    expect(session(storage)).toBeUndefined();
  });
});

describe('the rest of the API', () => {
  it('finds a saved page by its address and suggests the tags in use, most used first', async () => {
    const { fuze } = setup();
    await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
    await fuze.save({ url: 'https://example.com/1', tags: ['python', 'web'] });
    await fuze.save({ url: 'https://example.com/2', tags: ['python'] });
    expect(await fuze.findByUrl('https://example.com/2')).toMatchObject({ tags: ['python'] });
    expect(await fuze.findByUrl('https://example.com/3')).toBeNull();
    expect(await fuze.recentTags()).toEqual(['python', 'web']);
  });

  it('reports a refusal with the server message, and a 5xx as worth retrying', async () => {
    const { server, fuze } = setup();
    await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
    server.refuseSaves = { status: 422, code: 'invalid_url', message: 'Not a web address.' };
    await expect(fuze.save({ url: 'https://example.com/' })).rejects.toMatchObject({
      name: 'ApiError',
      status: 422,
      code: 'invalid_url',
      message: 'Not a web address.',
    });
    server.refuseSaves = { status: 503, code: 'unavailable', message: 'Database down.' };
    await expect(fuze.save({ url: 'https://example.com/' })).rejects.toBeInstanceOf(Unreachable);
  });
});

describe('server addresses', () => {
  it.each([
    ['fuze.example.org', 'https://fuze.example.org'],
    ['localhost:8000/', 'http://localhost:8000'],
    ['127.0.0.1:8000', 'http://127.0.0.1:8000'],
    ['  https://Fuze.Example.org/base/ ', 'https://fuze.example.org/base'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeServerUrl(input)).toBe(expected);
  });

  it('refuses what is not a web address', () => {
    expect(() => normalizeServerUrl('')).toThrow(ApiError);
    expect(() => normalizeServerUrl('ftp://x.org')).toThrow(ApiError);
  });

  it('asks for host access to the server origin only', () => {
    expect(originPattern('http://127.0.0.1:8123/base')).toBe('http://127.0.0.1:8123/*');
  });
});
