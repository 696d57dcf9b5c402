import { NavLink } from 'react-router';

import { useLists } from '../lib/lists';

/** The lists under "Lists" in the side navigation, nested as they are (the first 50). */
export function ListsNav() {
  const lists = useLists();
  const items = (lists.data?.items ?? []).slice(0, 50);
  if (!items.length) return null;
  return (
    <ul className="nav-lists" aria-label="List shortcuts">
      {items.map((l) => (
        <li key={l.id} style={{ paddingLeft: `${l.depth * 0.75}rem` }}>
          <NavLink to={`/lists/${l.id}`} title={l.path.join(' / ')}>
            <span className="nav-list-name">{l.name}</span>
            <span className="nav-count">{l.count}</span>
          </NavLink>
        </li>
      ))}
    </ul>
  );
}
