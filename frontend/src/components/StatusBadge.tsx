import type { BookmarkOut } from '../client/types.gen';

const LABELS: Record<BookmarkOut['status'], string> = {
  pending: 'Pending',
  fetching: 'Processing',
  extracting: 'Processing',
  embedding: 'Processing',
  ready: 'Ready',
  failed: 'Failed',
};

export function statusKind(status: BookmarkOut['status']): 'pending' | 'processing' | 'ready' | 'failed' {
  if (status === 'pending' || status === 'ready' || status === 'failed') return status;
  return 'processing';
}

export function StatusBadge({ status, error }: { status: BookmarkOut['status']; error?: string | null }) {
  const kind = statusKind(status);
  const detail = status === 'fetching' || status === 'extracting' || status === 'embedding' ? ` (${status})` : '';
  const title = kind === 'failed' && error ? `Failed: ${error}` : `${LABELS[status]}${detail}`;
  return (
    <span className={`badge badge-${kind}`} title={title} data-status={status}>
      <span className="badge-dot" aria-hidden="true" />
      {LABELS[status]}
      {kind === 'failed' && error ? <span className="visually-hidden">: {error}</span> : null}
    </span>
  );
}
