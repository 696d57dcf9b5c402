/**
 * Feeds: follow RSS and Atom feeds whose new items Fuze saves as they appear (tagged), each
 * with its state (last read, items saved, the last error), read now, pause, resume, stop;
 * OPML in (from another reader) and out (docs/feeds.md).
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import { feedsListFeedsOptions, feedsListFeedsQueryKey } from '../client/@tanstack/react-query.gen';
import { feedsCreateFeed, feedsDeleteFeed, feedsExportOpml, feedsImportOpml, feedsRefreshFeed, feedsUpdateFeed } from '../client/sdk.gen';
import type { FeedOut } from '../client/types.gen';
import { ErrorNotice, InfoNotice } from '../components/Notice';
import { TagField } from '../components/TagField';
import { TimeAgo } from '../components/TimeAgo';
import { parseTags } from '../lib/format';
import { countOf } from '../lib/plural';

function Row({ f }: { f: FeedOut }) {
  const qc = useQueryClient();
  const refresh = () => qc.invalidateQueries({ queryKey: feedsListFeedsQueryKey() });
  const read = useMutation({ mutationFn: async () => feedsRefreshFeed({ path: { feed_id: f.id }, throwOnError: true }), onSuccess: refresh });
  const toggle = useMutation({
    mutationFn: async () => feedsUpdateFeed({ path: { feed_id: f.id }, body: { active: !f.active }, throwOnError: true }),
    onSuccess: refresh,
  });
  const remove = useMutation({ mutationFn: async () => feedsDeleteFeed({ path: { feed_id: f.id }, throwOnError: true }), onSuccess: refresh });
  const state = !f.active ? 'paused' : f.last_status === 'error' ? 'error' : f.last_status ? 'ok' : 'waiting';
  return (
    <li className="result card feed" data-state={state}>
      <div className="result-head">
        <strong>{f.title || f.url}</strong> <span className={state === 'error' || state === 'paused' ? 'state state-off' : 'state'}>{state}</span>
      </div>
      <p className="muted small break">{f.url}</p>
      <p className="small">
        {countOf(f.items_saved, 'item')} saved
        {f.tags.length ? ` · tagged ${f.tags.join(', ')}` : ''} · every {f.interval_minutes} min
        {f.last_checked_at ? (
          <>
            {' '}
            · read <TimeAgo iso={f.last_checked_at} />
          </>
        ) : (
          ' · not read yet'
        )}
      </p>
      {f.last_status === 'error' && f.last_error ? <p className="small danger-text">{f.last_error}</p> : null}
      <div className="actions">
        <button type="button" className="small" onClick={() => read.mutate()} disabled={read.isPending || !f.active}>
          Read now
        </button>
        <button type="button" className="small" onClick={() => toggle.mutate()} disabled={toggle.isPending}>
          {f.active ? 'Pause' : 'Resume'}
        </button>
        <button type="button" className="small danger" onClick={() => window.confirm('Stop following this feed? What it saved stays.') && remove.mutate()}>
          Unfollow
        </button>
      </div>
      <ErrorNotice error={read.error || toggle.error || remove.error} />
    </li>
  );
}

export function FeedsPage() {
  const qc = useQueryClient();
  const feeds = useQuery({ ...feedsListFeedsOptions(), refetchInterval: 5000 });
  const [opml, setOpml] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: feedsListFeedsQueryKey() });
  const follow = useMutation({
    mutationFn: async (body: { url: string; tags: string[]; interval_minutes: number }) => feedsCreateFeed({ body, throwOnError: true }),
    onSuccess: refresh,
  });
  const importOpml = useMutation({
    mutationFn: async (file: File) => (await feedsImportOpml({ body: { file }, throwOnError: true })).data,
    onSuccess: (r) => {
      setOpml(`${countOf(r.added, 'feed')} added, ${r.already} already followed, ${r.invalid} without a usable address.`);
      void refresh();
    },
  });
  const [exportError, setExportError] = useState<unknown>(null);

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    follow.mutate(
      { url: String(f.get('url')).trim(), tags: parseTags(String(f.get('tags'))), interval_minutes: Number(f.get('interval')) },
      { onSuccess: () => form.reset() },
    );
  }
  function pick(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const file = new FormData(form).get('opml');
    if (file instanceof File && file.size) importOpml.mutate(file, { onSuccess: () => form.reset() });
  }
  async function download() {
    setExportError(null);
    try {
      const { data } = await feedsExportOpml({ parseAs: 'text', throwOnError: true });
      const url = URL.createObjectURL(new Blob([data as unknown as string], { type: 'text/x-opml' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = 'fuze-feeds.opml';
      document.body.append(a);
      a.click();
      a.remove();
      URL.revokeObjectURL(url);
    } catch (err) {
      setExportError(err);
    }
  }

  return (
    <section className="page" aria-labelledby="feeds-title">
      <h1 id="feeds-title">Feeds</h1>
      <form className="card stack" onSubmit={submit} aria-label="Follow a feed">
        <label>
          Feed address (RSS or Atom)
          <input name="url" type="url" required placeholder="https://example.com/feed.xml" />
        </label>
        <div className="inline">
          <label className="grow">
            Tags for its items
            <TagField name="tags" label="Tags for its items" placeholder="comma, separated" />
          </label>
          <label>
            Read every
            <select name="interval" defaultValue="60">
              <option value="15">15 minutes</option>
              <option value="60">hour</option>
              <option value="360">6 hours</option>
              <option value="1440">day</option>
            </select>
          </label>
        </div>
        <div>
          <button type="submit" className="primary" disabled={follow.isPending}>
            Follow
          </button>
        </div>
        <ErrorNotice error={follow.error} />
      </form>
      <form className="inline" onSubmit={pick} aria-label="Import OPML">
        <label>
          OPML file (from another reader)
          <input name="opml" type="file" accept=".opml,.xml,text/xml,text/x-opml" required />
        </label>
        <button type="submit" className="small" disabled={importOpml.isPending}>
          Import OPML
        </button>
        <button type="button" className="small" onClick={() => void download()} disabled={!feeds.data?.items.length}>
          Export OPML
        </button>
      </form>
      {opml ? <InfoNotice>{opml}</InfoNotice> : null}
      <ErrorNotice error={feeds.error || importOpml.error || exportError} />
      {feeds.data?.items.length ? (
        <ul className="results plain" aria-label="Feeds you follow">
          {feeds.data.items.map((f) => (
            <Row key={f.id} f={f} />
          ))}
        </ul>
      ) : feeds.isSuccess ? (
        <p className="muted">No feeds yet. A blog's or a site's feed is often at /feed, /rss or /atom.xml.</p>
      ) : null}
    </section>
  );
}
