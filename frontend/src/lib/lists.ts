import { type QueryClient, useQuery } from '@tanstack/react-query';

import { listsListListsOptions } from '../client/@tanstack/react-query.gen';
import type { ListOut } from '../client/types.gen';

/** Every list, in tree order (parents before their sub-lists, siblings by name). */
export function useLists() {
  return useQuery({ ...listsListListsOptions(), staleTime: 10_000 });
}

/** A list's name for a picker: its path, so two "Ideas" under different parents differ. */
export const listLabel = (l: Pick<ListOut, 'path'>) => l.path.join(' / ');

/** After lists or their members change: the tree, the lists, the library's pages and items. */
export function refreshLists(qc: QueryClient) {
  return qc.invalidateQueries({
    predicate: (q) => {
      const id = (q.queryKey[0] as { _id?: string })?._id ?? '';
      return id.startsWith('lists') || id.startsWith('bookmarks');
    },
  });
}
