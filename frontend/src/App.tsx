import { type QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, Suspense, useEffect, useRef } from 'react';
import { Navigate, Route, Routes, useLocation, useNavigate } from 'react-router';

import { Layout } from './components/Layout';
import { ScrollToHash } from './components/ScrollToHash';
import { setSignedOutHandler } from './lib/api';
import { useSession } from './lib/auth';
import { useLiveEvents } from './lib/events';
import { returnTo, type SignInState } from './lib/returnTo';
import { AuthPage } from './pages/AuthPage';
import { LibraryPage } from './pages/LibraryPage';
import { NotFoundPage } from './pages/NotFoundPage';

// The library and sign-in come with the first load; the other pages when first opened.
const BookmarkPage = lazy(() => import('./pages/BookmarkPage').then((m) => ({ default: m.BookmarkPage })));
const SearchPage = lazy(() => import('./pages/SearchPage').then((m) => ({ default: m.SearchPage })));
const ListsPage = lazy(() => import('./pages/ListsPage').then((m) => ({ default: m.ListsPage })));
const ListPage = lazy(() => import('./pages/ListPage').then((m) => ({ default: m.ListPage })));
const TagsPage = lazy(() => import('./pages/TagsPage').then((m) => ({ default: m.TagsPage })));
const FeedsPage = lazy(() => import('./pages/FeedsPage').then((m) => ({ default: m.FeedsPage })));
const DuplicatesPage = lazy(() => import('./pages/DuplicatesPage').then((m) => ({ default: m.DuplicatesPage })));
const HighlightsPage = lazy(() => import('./pages/HighlightsPage').then((m) => ({ default: m.HighlightsPage })));
const ProjectsPage = lazy(() => import('./pages/ProjectsPage').then((m) => ({ default: m.ProjectsPage })));
const ProjectPage = lazy(() => import('./pages/ProjectPage').then((m) => ({ default: m.ProjectPage })));
const ImportPage = lazy(() => import('./pages/ImportPage').then((m) => ({ default: m.ImportPage })));
const AdminPage = lazy(() => import('./pages/AdminPage').then((m) => ({ default: m.AdminPage })));
const SettingsPage = lazy(() => import('./pages/SettingsPage').then((m) => ({ default: m.SettingsPage })));
const ExtensionPage = lazy(() => import('./pages/ExtensionPage').then((m) => ({ default: m.ExtensionPage })));

const here = (l: { pathname: string; search: string; hash: string }) => l.pathname + l.search + l.hash;

function SignedIn() {
  const live = useLiveEvents();
  const location = useLocation();
  // Just signed in on /signin: back to the page that sent us there.
  const back = <Navigate to={returnTo(location.state)} replace />;
  return (
    <Layout live={live}>
      <ScrollToHash />
      <Suspense fallback={<p className="muted" role="status">Loading…</p>}>
      <Routes>
        <Route path="/" element={<LibraryPage />} />
        <Route path="/items/:id" element={<BookmarkPage />} />
        <Route path="/search" element={<SearchPage />} />
        <Route path="/highlights" element={<HighlightsPage />} />
        <Route path="/feeds" element={<FeedsPage />} />
        <Route path="/tags" element={<TagsPage />} />
        <Route path="/duplicates" element={<DuplicatesPage />} />
        <Route path="/lists" element={<ListsPage />} />
        <Route path="/lists/:id" element={<ListPage />} />
        <Route path="/projects" element={<ProjectsPage />} />
        <Route path="/projects/:id" element={<ProjectPage />} />
        <Route path="/import" element={<ImportPage />} />
        <Route path="/settings" element={<SettingsPage />} />
        <Route path="/admin" element={<AdminPage />} />
        <Route path="/extension" element={<ExtensionPage />} />
        <Route path="/signin" element={back} />
        <Route path="/signup" element={back} />
        <Route path="*" element={<NotFoundPage />} />
      </Routes>
      </Suspense>
    </Layout>
  );
}

export function App({ queryClient }: { queryClient: QueryClient }) {
  const session = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const current = useRef(location);
  current.current = location;
  // The session ended on its own (its refresh was refused), until the next sign-in. The router
  // may apply the redirect below after this handler's navigation, so both carry the reason.
  const ended = useRef(false);

  useEffect(() => {
    setSignedOutHandler(() => {
      queryClient.clear();
      ended.current = true;
      const at = current.current;
      const from = /^\/sign(in|up)$/.test(at.pathname) ? (at.state as SignInState | null)?.from : here(at);
      navigate('/signin', { state: { expired: true, from } satisfies SignInState });
    });
    return () => setSignedOutHandler(null);
  }, [navigate, queryClient]);

  useEffect(() => {
    if (!session) queryClient.clear();
    else ended.current = false;
  }, [session, queryClient]);

  return (
    <QueryClientProvider client={queryClient}>
      {session ? (
        <SignedIn />
      ) : (
        <Routes>
          <Route path="/signup" element={<AuthPage mode="signup" />} />
          <Route path="/signin" element={<AuthPage mode="signin" />} />
          <Route path="*" element={<Navigate to="/signin" replace state={{ from: here(location), expired: ended.current || undefined } satisfies SignInState} />} />
        </Routes>
      )}
    </QueryClientProvider>
  );
}
