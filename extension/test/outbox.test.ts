import { describe, expect, it } from 'vitest';

import { Fuze } from '../src/api';
import { fitHtml, MAX_HTML_CHARS } from '../src/capture';
import { backoffMs, Outbox, QUEUE_BUDGET_BYTES } from '../src/outbox';
import { KEYS, memoryKV } from '../src/storage';
import { fakeServer, GOOD_PASSWORD } from './fake-server';

async function setup({ signIn = true } = {}) {
  let t = 1_700_000_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const server = fakeServer(clock.now);
  const storage = memoryKV();
  const fuze = new Fuze({ storage, fetch: server.fetch, now: clock.now });
  let n = 0;
  const outbox = new Outbox({ fuze, storage, now: clock.now, newId: () => `q${++n}` });
  if (signIn) await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
  return { server, storage, clock, fuze, outbox };
}

const saves = (log: string[]) => log.filter((l) => l === 'POST /api/bookmarks').length;

describe('saving while the server is unreachable', () => {
  it('queues the save with its captured page and delivers it when the server is back', async () => {
    const { server, outbox } = await setup();
    server.down = true;
    const result = await outbox.save({ url: 'https://example.com/a', tags: ['t'], html: '<p>hi</p>' });
    expect(result).toMatchObject({ kind: 'queued', pending: 1 });
    expect(await outbox.pending()).toMatchObject([{ url: 'https://example.com/a', html: '<p>hi</p>' }]);

    expect(await outbox.flush()).toEqual({ delivered: 0, remaining: 1, failed: 0 });
    server.down = false;
    expect(await outbox.flush({ force: true })).toEqual({ delivered: 1, remaining: 0, failed: 0 });
    expect(server.bookmarks).toMatchObject([{ url: 'https://example.com/a', tags: ['t'], html: '<p>hi</p>' }]);
    expect(await outbox.pending()).toEqual([]);
  });

  it('delivers in the order saved, and one probe per round while the server is down', async () => {
    const { server, outbox } = await setup();
    server.down = true;
    for (const path of ['1', '2', '3']) await outbox.save({ url: `https://example.com/${path}` });
    server.log.length = 0;
    await outbox.flush({ force: true });
    expect(saves(server.log)).toBe(1);
    server.down = false;
    await outbox.flush({ force: true });
    expect(server.bookmarks.map((b) => b.url)).toEqual([
      'https://example.com/1',
      'https://example.com/2',
      'https://example.com/3',
    ]);
  });

  it('backs off after failed retries: 1, 2, 4 ... minutes, at most 15', async () => {
    const { server, clock, outbox } = await setup();
    server.down = true;
    await outbox.save({ url: 'https://example.com/x' });
    // A fresh entry is due at once (the next alarm tries it).
    server.log.length = 0;
    await outbox.flush();
    expect(saves(server.log)).toBe(1);
    // Failed once: not tried again for a minute.
    await outbox.flush();
    expect(saves(server.log)).toBe(1);
    clock.advance(60_000);
    await outbox.flush();
    expect(saves(server.log)).toBe(2);
    const [entry] = await outbox.pending();
    expect(entry.attempts).toBe(2);
    expect(entry.nextAttemptAt - clock.now()).toBe(120_000);
    expect(entry.lastError).toMatch(/cannot be reached/);
    expect([1, 2, 3, 4, 5, 10].map(backoffMs)).toEqual([60_000, 120_000, 240_000, 480_000, 900_000, 900_000]);
  });

  it('keeps one entry per address, with the tags of every save', async () => {
    const { server, outbox } = await setup();
    server.down = true;
    await outbox.save({ url: 'https://example.com/p', tags: ['a'] });
    const again = await outbox.save({ url: 'https://example.com/p', tags: ['b'], notes: 'n' });
    expect(again).toMatchObject({ kind: 'queued', pending: 1 });
    expect(await outbox.pending()).toMatchObject([{ tags: ['a', 'b'], notes: 'n' }]);
  });

  it('keeps the "Archive" choice of a queued save and delivers it', async () => {
    const { server, outbox } = await setup();
    server.down = true;
    await outbox.save({ url: 'https://example.com/done', archived: true, tags: ['a'] });
    await outbox.save({ url: 'https://example.com/later' });
    // A second save of the address without a choice (the context menu) keeps the first's.
    await outbox.save({ url: 'https://example.com/done', tags: ['b'] });
    expect((await outbox.pending()).map((p) => [p.url, p.archived])).toEqual([
      ['https://example.com/later', undefined],
      ['https://example.com/done', true],
    ]);
    server.down = false;
    expect(await outbox.flush({ force: true })).toMatchObject({ delivered: 2, remaining: 0 });
    expect(server.bookmarks).toMatchObject([
      { url: 'https://example.com/later' },
      { url: 'https://example.com/done', archived: true, tags: ['a', 'b'] },
    ]);
    expect(server.bookmarks[0].archived).toBeUndefined();
  });

  it('drops a captured page that would not fit in storage, keeping the save', async () => {
    const { server, outbox } = await setup();
    server.down = true;
    await outbox.save({ url: 'https://example.com/big', html: 'x'.repeat(QUEUE_BUDGET_BYTES) });
    await outbox.save({ url: 'https://example.com/small', html: '<p>small</p>' });
    const [big, small] = await outbox.pending();
    expect(big.url).toBe('https://example.com/big');
    expect(big.html).toBeUndefined();
    expect(small.html).toBe('<p>small</p>');
  });

  it('drops a queued save that the server refuses and reports it once', async () => {
    const { server, outbox, clock } = await setup();
    server.down = true;
    await outbox.save({ url: 'https://example.com/bad' });
    await outbox.save({ url: 'https://example.com/good' });
    server.down = false;
    server.refuseSaves = { status: 422, code: 'invalid_url', message: 'Not a web address.' };
    expect(await outbox.flush({ force: true })).toEqual({ delivered: 0, remaining: 0, failed: 2 });
    expect(await outbox.takeFailures()).toEqual([
      { url: 'https://example.com/bad', message: 'Not a web address.', at: clock.now() },
      { url: 'https://example.com/good', message: 'Not a web address.', at: clock.now() },
    ]);
    expect(await outbox.takeFailures()).toEqual([]);
  });

  it('does not deliver twice when two flushes run at once', async () => {
    const { server, outbox } = await setup();
    server.down = true;
    await outbox.save({ url: 'https://example.com/1' });
    await outbox.save({ url: 'https://example.com/2' });
    server.down = false;
    server.log.length = 0;
    await Promise.all([outbox.flush({ force: true }), outbox.flush({ force: true })]);
    expect(saves(server.log)).toBe(2);
  });

  it('throws a refusal at once instead of queueing it', async () => {
    const { server, outbox } = await setup();
    server.refuseSaves = { status: 422, code: 'invalid_url', message: 'Not a web address.' };
    await expect(outbox.save({ url: 'https://example.com/' })).rejects.toThrow('Not a web address.');
    expect(await outbox.pending()).toEqual([]);
  });
});

describe('saving while signed out', () => {
  it('queues the save when a server is set, and delivers it after the next sign-in', async () => {
    const { server, storage, fuze, outbox } = await setup();
    await fuze.signOut();
    expect(await outbox.save({ url: 'https://example.com/later' })).toMatchObject({ kind: 'queued' });
    expect(await outbox.flush({ force: true })).toMatchObject({ delivered: 0, remaining: 1 });
    await fuze.signIn('https://fuze.test', 'alice', GOOD_PASSWORD);
    expect(await outbox.flush({ force: true })).toMatchObject({ delivered: 1, remaining: 0 });
    expect(server.bookmarks).toMatchObject([{ url: 'https://example.com/later' }]);
    expect(storage.data[KEYS.queue]).toBeUndefined();
  });

  it('refuses to save before the extension was ever set up', async () => {
    const { outbox } = await setup({ signIn: false });
    await expect(outbox.save({ url: 'https://example.com/' })).rejects.toThrow(/options/);
    expect(await outbox.pending()).toEqual([]);
  });
});

describe('captured pages and the API limits', () => {
  it('sends a page within the limits as it is', () => {
    expect(fitHtml('<p>é</p>')).toBe('<p>é</p>');
    expect(fitHtml(undefined)).toBeUndefined();
  });

  it('leaves out a page over 5,000,000 characters or a 11 MiB body (the server fetches it)', () => {
    expect(fitHtml('a'.repeat(MAX_HTML_CHARS + 1))).toBeUndefined();
    expect(fitHtml('a'.repeat(MAX_HTML_CHARS))).toHaveLength(MAX_HTML_CHARS);
    // 4 million 3-byte characters: within the character cap, 12 MB of JSON.
    expect(fitHtml('€'.repeat(4_000_000))).toBeUndefined();
  });
});
