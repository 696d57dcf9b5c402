/** On a bookmark that is in an open pair of duplicates: a badge that leads to the pair. */
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';

import { duplicatesListDuplicatesOptions } from '../client/@tanstack/react-query.gen';

export function DuplicateBadge({ bookmarkId }: { bookmarkId: string }) {
  const pairs = useQuery(duplicatesListDuplicatesOptions({ query: { bookmark_id: bookmarkId, limit: 1 } }));
  const pair = pairs.data?.items[0];
  if (!pair) return null;
  const other = pair.bookmark.id === bookmarkId ? pair.original : pair.bookmark;
  return (
    <Link to={`/duplicates?pair=${pair.id}#pair-${pair.id}`} className="badge badge-duplicate" title={`The same text as “${other.title || other.url}”`}>
      Duplicate · {pair.reason}
    </Link>
  );
}
