import { refreshPeriod, useNow } from '../lib/clock';
import { timeAgo } from '../lib/format';

/** "2 minutes ago", kept current as time passes; the exact date and time in its tooltip. */
export function TimeAgo({ iso }: { iso: string }) {
  const at = new Date(iso).getTime();
  const now = useNow(refreshPeriod(Date.now() - at));
  // The shared clock may be up to one tick behind something saved a moment ago: "now", not "in 2 seconds".
  return (
    <time dateTime={iso} title={new Date(iso).toLocaleString()}>
      {timeAgo(iso, Math.max(now, at))}
    </time>
  );
}
