import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import { ErrorNotice, Unavailable } from '../components/Notice';
import { describeError } from '../lib/api';
import { countOf } from '../lib/plural';
import { type ExportFormat, fetchExport, type ImportStatus, importsApi, isMissingRoute } from '../lib/work';

const FINAL = new Set(['done', 'failed']);

function ImportProgress({ id }: { id: string }) {
  // Live from the events stream (written into ['import', id]); polled as a fallback.
  const status = useQuery({
    queryKey: ['import', id],
    queryFn: () => importsApi.get(id),
    refetchInterval: (q) => (q.state.data && FINAL.has(q.state.data.status) ? false : 1500),
  });
  const s = status.data as ImportStatus | undefined;
  if (!s) return <ErrorNotice error={status.error} />;
  const total = s.total || 0;
  const done = FINAL.has(s.status);
  const processed = Math.min(s.processed ?? 0, total || Infinity);
  const pct = total ? Math.round((processed / total) * 100) : done ? 100 : 0;
  return (
    <div className="card stack import-status" data-status={s.status}>
      <div className="section-head">
        <h3 className="h-small">
          {s.filename ?? 'Import'} <span className="muted small">({s.format_name ?? s.format})</span>
        </h3>
        <span className={`pill pill-${s.status}`}>{s.status}</span>
      </div>
      <progress max={total || 1} value={total ? processed : done ? 1 : 0} aria-label="Import progress" aria-valuetext={`${pct}%`} />
      <p className="muted small" aria-live="polite">
        {processed.toLocaleString()} of {countOf(total, 'entry', 'entries')} · {(s.imported ?? 0).toLocaleString()} new ·{' '}
        {countOf(s.duplicates ?? 0, 'duplicate')} · {(s.ready ?? 0).toLocaleString()} ready · {(s.pending ?? 0).toLocaleString()} processing ·{' '}
        {(s.failed ?? 0).toLocaleString()} failed
      </p>
      {s.error_message ? <ErrorNotice>{s.error_message}</ErrorNotice> : null}
      {s.failed_entries?.items.length ? (
        <details>
          <summary>Failures ({s.failed})</summary>
          <ul className="plain failures">
            {s.failed_entries.items.map((e) => (
              <li key={e.position}>
                <span className="muted small">#{e.position}{e.line ? ` (line ${e.line})` : ''}</span> {e.url ?? e.title ?? '(no URL)'} —{' '}
                {e.reason ?? e.reason_code}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </div>
  );
}

export function ImportPage() {
  const qc = useQueryClient();
  const [current, setCurrent] = useState<string | null>(null);
  const [exportError, setExportError] = useState<string | null>(null);
  const [exporting, setExporting] = useState<ExportFormat | null>(null);
  const history = useQuery({ queryKey: ['imports'], queryFn: importsApi.list, retry: false });
  const upload = useMutation({
    mutationFn: importsApi.start,
    onSuccess: (r) => {
      setCurrent(r.id);
      void qc.invalidateQueries({ queryKey: ['imports'] });
    },
  });

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const input = e.currentTarget.elements.namedItem('file') as HTMLInputElement;
    const file = input.files?.[0];
    // Once uploaded, the picker is emptied: the same file is not sent twice by a second click.
    if (file)
      upload.mutate(file, {
        onSuccess: () => {
          input.value = '';
        },
      });
  }

  async function download(format: ExportFormat) {
    setExportError(null);
    setExporting(format);
    try {
      const blob = await fetchExport(format);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `fuze-export-${new Date().toISOString().slice(0, 10)}.${format}`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setExportError(isMissingRoute(err) ? 'Exports are not available on this server yet.' : describeError(err));
    } finally {
      setExporting(null);
    }
  }

  const importsMissing = (upload.isError && isMissingRoute(upload.error)) || (history.isError && isMissingRoute(history.error));
  const previous = (history.data?.items ?? []).filter((i) => i.id !== current).slice(0, 5);
  return (
    <section className="page" aria-labelledby="import-title">
      <h1 id="import-title">Import &amp; export</h1>
      <h2>Import</h2>
      {importsMissing ? (
        <Unavailable what="Imports" />
      ) : (
        <form className="card stack" onSubmit={submit} aria-label="Import bookmarks">
          <p className="muted">
            Bookmarks HTML from any browser, Chrome’s <code>Bookmarks</code> file or a Firefox JSON backup, Pocket (CSV or HTML),
            Raindrop or Instapaper CSV, Pinboard, Karakeep, Linkwarden or Fuze JSON, Fuze’s or Omnivore’s ZIP export, or a plain list of URLs.
            The format is recognised from what is in the file, whatever its name.
          </p>
          <label>
            File
            {/* No `accept` filter: Omnivore exports a .zip, and Pinboard's export and Chrome's Bookmarks file have no extension. */}
            <input name="file" type="file" required />
          </label>
          <button type="submit" className="primary" disabled={upload.isPending}>
            {upload.isPending ? 'Uploading…' : 'Import'}
          </button>
          <ErrorNotice error={upload.error} />
        </form>
      )}
      {current ? <ImportProgress id={current} /> : null}
      {previous.length ? (
        <>
          <h3 className="h-small">Earlier imports</h3>
          {previous.map((i) => (
            <ImportProgress key={i.id} id={i.id} />
          ))}
        </>
      ) : null}
      <h2>Export</h2>
      <div className="card stack">
        <p className="muted">
          Everything you saved, with tags, notes and dates. The ZIP also holds every archived copy of your pages, and Fuze imports it
          back with them.
        </p>
        <div className="actions">
          <button type="button" onClick={() => download('html')} disabled={Boolean(exporting)}>
            {exporting === 'html' ? 'Preparing…' : 'Export bookmarks HTML'}
          </button>
          <button type="button" onClick={() => download('json')} disabled={Boolean(exporting)}>
            {exporting === 'json' ? 'Preparing…' : 'Export JSON'}
          </button>
          <button type="button" onClick={() => download('csv')} disabled={Boolean(exporting)}>
            {exporting === 'csv' ? 'Preparing…' : 'Export CSV'}
          </button>
          <button type="button" onClick={() => download('zip')} disabled={Boolean(exporting)}>
            {exporting === 'zip' ? 'Preparing…' : 'Export ZIP with archived copies'}
          </button>
        </div>
        {exportError ? <ErrorNotice>{exportError}</ErrorNotice> : null}
      </div>
    </section>
  );
}
