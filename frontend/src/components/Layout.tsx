import { useQuery } from '@tanstack/react-query';
import { type ReactNode, useEffect, useRef, useState } from 'react';
import { NavLink, useLocation, useNavigate } from 'react-router';

import { usersGetMeOptions } from '../client/@tanstack/react-query.gen';
import { signOut } from '../lib/auth';
import type { LiveState } from '../lib/events';
import { useNetProblem } from '../lib/queryClient';
import { type Theme, useTheme } from '../lib/theme';
import { ListsNav } from './ListsNav';

const NAV = [
  { to: '/', label: 'Library', end: true },
  { to: '/lists', label: 'Lists' },
  { to: '/search', label: 'Search' },
  { to: '/highlights', label: 'Highlights' },
  { to: '/tags', label: 'Tags' },
  { to: '/duplicates', label: 'Duplicates' },
  { to: '/feeds', label: 'Feeds' },
  { to: '/projects', label: 'Projects' },
  { to: '/import', label: 'Import & export' },
  { to: '/settings', label: 'Settings' },
];

export function Layout({ children, live }: { children: ReactNode; live: LiveState }) {
  const [theme, setTheme] = useTheme();
  const me = useQuery(usersGetMeOptions());
  const problem = useNetProblem();
  const navigate = useNavigate();
  const location = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const mainRef = useRef<HTMLElement>(null);

  useEffect(() => setMenuOpen(false), [location.pathname]);

  useEffect(() => {
    // "/" jumps to search from anywhere except a text field.
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      if (e.key === '/' && !e.ctrlKey && !e.metaKey && !/^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) && !target.isContentEditable) {
        e.preventDefault();
        navigate('/search');
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [navigate]);

  const nextTheme: Record<Theme, Theme> = { system: 'light', light: 'dark', dark: 'system' };
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <button
          type="button"
          className="menu-button"
          aria-expanded={menuOpen}
          aria-controls="nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          <span aria-hidden="true">☰</span>
          <span className="visually-hidden">Menu</span>
        </button>
        <NavLink to="/" className="brand">
          <span className="brand-mark" aria-hidden="true">◆</span> Fuze
        </NavLink>
        <span className={`live live-${live}`} role="status" aria-live="polite" title="Live updates">
          <span className="badge-dot" aria-hidden="true" />
          {live === 'live' ? 'Live' : live === 'off' ? 'Offline' : live === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
        </span>
        <div className="topbar-end">
          <button
            type="button"
            className="ghost"
            onClick={() => setTheme(nextTheme[theme])}
            aria-label={`Theme: ${theme}. Switch to ${nextTheme[theme]}`}
            title={`Theme: ${theme}`}
          >
            {theme === 'dark' ? '☾' : theme === 'light' ? '☀' : '◐'}
          </button>
          <span className="whoami" title={me.data?.email}>
            {me.data ? me.data.display_name || me.data.username : ''}
          </span>
          <button
            type="button"
            className="ghost"
            onClick={async () => {
              await signOut();
              navigate('/signin');
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <nav id="nav" className={`sidenav${menuOpen ? ' open' : ''}`} aria-label="Main">
        <ul>
          {(me.data?.is_admin ? [...NAV, { to: '/admin', label: 'Administration' }] : NAV).map((n) => (
            <li key={n.to}>
              <NavLink to={n.to} end={n.end}>
                {n.label}
              </NavLink>
              {n.to === '/lists' ? <ListsNav /> : null}
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {problem ? (
          <div className={`banner banner-${problem.kind}`} role="alert">
            {problem.message}
          </div>
        ) : null}
        {children}
      </main>
    </div>
  );
}
