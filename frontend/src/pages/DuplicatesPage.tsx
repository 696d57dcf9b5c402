/**
 * Duplicates: pairs of saved pages that hold the same text under different URLs (a mirror,
 * an AMP page, a syndicated copy), side by side. "Merge into this one" keeps that page and
 * moves the other's tags, notes, highlights and feedback to it; "Keep both" dismisses the
 * pair for good. A scan looks through the whole library (pages are also checked on save).
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';

import { duplicatesListDuplicatesOptions, duplicatesScanProgressOptions } from '../client/@tanstack/react-query.gen';
import { duplicatesDismissDuplicates, duplicatesMergeDuplicates, duplicatesScanDuplicates } from '../client/sdk.gen';
import type { DuplicateOut, DuplicatePage } from '../client/types.gen';
import { ErrorNotice } from '../components/Notice';
import { TimeAgo } from '../components/TimeAgo';
import { siteName } from '../lib/format';
import { countOf } from '../lib/plural';

const isDuplicates = (k: readonly unknown[]) => ['duplicatesListDuplicates', 'bookmarksListBookmarks'].includes((k[0] as { _id?: string })?._id ?? '');

function Side({ page, role, onKeep, busy }: { page: DuplicatePage; role: string; onKeep: () => void; busy: boolean }) {
  const title = page.title || page.url;
  return (
    <div className="dup-side">
      <div className="muted small">{role}</div>
      <Link to={`/items/${page.id}`} className="dup-title">
        {title}
      </Link>
      <div className="muted small dup-meta">
        <span>{siteName(page)}</span>
        {page.word_count ? <span> · {countOf(page.word_count, 'word')}</span> : null}
        <span>
          {' '}
          · saved <TimeAgo iso={page.saved_at} />
        </span>
      </div>
      <a href={page.url} className="small dup-url" target="_blank" rel="noreferrer noopener">
        {page.url}
      </a>
      <button type="button" className="small" onClick={onKeep} disabled={busy} aria-label={`Merge into this one (the page ${role.toLowerCase()})`}>
        Merge into this one
      </button>
    </div>
  );
}

export function DuplicatesPage() {
  const qc = useQueryClient();
  const [params] = useSearchParams();
  const focus = params.get('pair');
  const pairs = useQuery(duplicatesListDuplicatesOptions({ query: { limit: 100 } }));
  const [scanning, setScanning] = useState(false);
  const scan = useQuery({ ...duplicatesScanProgressOptions(), refetchInterval: scanning ? 1000 : false });
  const [done, setDone] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries({ predicate: (x) => isDuplicates(x.queryKey) });

  const state = scan.data?.state;
  useEffect(() => {
    if (scanning && (state === 'done' || state === 'failed')) {
      setScanning(false);
      void qc.invalidateQueries({ predicate: (x) => isDuplicates(x.queryKey) });
    }
  }, [qc, scanning, state]);

  const startScan = useMutation({
    mutationFn: async () => (await duplicatesScanDuplicates({ throwOnError: true })).data,
    onSuccess: (s) => {
      qc.setQueryData(duplicatesScanProgressOptions().queryKey, s);
      setScanning(true);
    },
  });
  const merge = useMutation({
    mutationFn: async ({ pair, keep }: { pair: DuplicateOut; keep: DuplicatePage }) => {
      await duplicatesMergeDuplicates({ path: { pair_id: pair.id }, body: { keep: keep.id }, throwOnError: true });
      return keep;
    },
    onSuccess: (keep) => {
      setDone(`Merged into “${keep.title || keep.url}”: its tags, notes, highlights and feedback are all there now.`);
      void refresh();
    },
  });
  const dismiss = useMutation({
    mutationFn: async (pair: DuplicateOut) => duplicatesDismissDuplicates({ path: { pair_id: pair.id }, throwOnError: true }),
    onSuccess: () => {
      setDone('Kept both; this pair will not be suggested again.');
      void refresh();
    },
  });
  const busy = merge.isPending || dismiss.isPending;
  const items = pairs.data?.items ?? [];
  const progress = scan.data;

  return (
    <section className="page" aria-labelledby="dups-title">
      <div className="section-head dup-head">
        <h1 id="dups-title">Duplicates</h1>
        <button type="button" onClick={() => startScan.mutate()} disabled={scanning || startScan.isPending}>
          {scanning ? 'Scanning…' : 'Scan the library'}
        </button>
      </div>
      <p className="lead">The same article saved twice under different addresses: a mirror, an AMP page, a syndicated copy. Merge a pair into one page, or keep both.</p>
      {progress && progress.state !== 'idle' ? (
        <p className="muted small" role="status" aria-label="Scan progress">
          {progress.state === 'done'
            ? `Last scan: ${countOf(progress.checked, 'page')} checked, ${countOf(progress.found, 'new pair')} found.`
            : progress.state === 'failed'
              ? 'The last scan failed; try again.'
              : `Scanning: ${progress.checked.toLocaleString()} of ${countOf(progress.total, 'page')} checked…`}
        </p>
      ) : null}
      {done ? (
        <div className="notice notice-ok" role="status">
          {done}
        </div>
      ) : null}
      <ErrorNotice error={pairs.error || merge.error || dismiss.error || startScan.error} />
      {pairs.isPending ? (
        <p className="muted" role="status">
          Loading…
        </p>
      ) : items.length === 0 ? (
        <div className="card empty">
          <p>No duplicates. Pages are checked as they are saved; a scan checks everything again.</p>
        </div>
      ) : (
        <ul className="plain stack" aria-label="Pairs of duplicates">
          {items.map((pair) => (
            <li key={pair.id} id={`pair-${pair.id}`} className={`card dup-pair${focus === pair.id ? ' dup-focus' : ''}`} data-testid="duplicate-pair">
              <div className="section-head">
                <span className="badge dup-reason">{pair.reason}</span>
                <button type="button" className="small" onClick={() => dismiss.mutate(pair)} disabled={busy}>
                  Keep both
                </button>
              </div>
              <div className="dup-sides">
                <Side page={pair.original} role="Saved first" onKeep={() => merge.mutate({ pair, keep: pair.original })} busy={busy} />
                <Side page={pair.bookmark} role="Saved later" onKeep={() => merge.mutate({ pair, keep: pair.bookmark })} busy={busy} />
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
