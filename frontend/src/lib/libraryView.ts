import { useCallback, useState } from 'react';

/** The library's view, list or grid of cards, remembered in this browser. */
export type LibraryView = 'list' | 'grid';

const KEY = 'fuze.libraryView';

function stored(): LibraryView {
  try {
    return localStorage.getItem(KEY) === 'grid' ? 'grid' : 'list';
  } catch {
    return 'list';
  }
}

export function useLibraryView(): [LibraryView, (view: LibraryView) => void] {
  const [view, setView] = useState<LibraryView>(stored);
  const choose = useCallback((next: LibraryView) => {
    setView(next);
    try {
      localStorage.setItem(KEY, next);
    } catch {
      // Not kept (private mode, storage full): this visit still shows it.
    }
  }, []);
  return [view, choose];
}
