import { type QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useEffect } from 'react';
import { Navigate, Route, Routes, useLocation, useNavigate } from 'react-router';

import { Layout } from './components/Layout';
import { setSignedOutHandler } from './lib/api';
import { useSession } from './lib/auth';
import { useLiveEvents } from './lib/events';
import { AuthPage } from './pages/AuthPage';
import { BookmarkPage } from './pages/BookmarkPage';
import { ImportPage } from './pages/ImportPage';
import { LibraryPage } from './pages/LibraryPage';
import { ProjectPage } from './pages/ProjectPage';
import { ProjectsPage } from './pages/ProjectsPage';
import { SearchPage } from './pages/SearchPage';
import { SettingsPage } from './pages/SettingsPage';

function SignedIn() {
  const live = useLiveEvents();
  return (
    <Layout live={live}>
      <Routes>
        <Route path="/" element={<LibraryPage />} />
        <Route path="/items/:id" element={<BookmarkPage />} />
        <Route path="/search" element={<SearchPage />} />
        <Route path="/projects" element={<ProjectsPage />} />
        <Route path="/projects/:id" element={<ProjectPage />} />
        <Route path="/import" element={<ImportPage />} />
        <Route path="/settings" element={<SettingsPage />} />
        <Route path="/signin" element={<Navigate to="/" replace />} />
        <Route path="/signup" element={<Navigate to="/" replace />} />
        <Route path="*" element={<p role="alert">There is nothing here.</p>} />
      </Routes>
    </Layout>
  );
}

export function App({ queryClient }: { queryClient: QueryClient }) {
  const session = useSession();
  const navigate = useNavigate();
  const location = useLocation();

  useEffect(() => {
    setSignedOutHandler(() => {
      queryClient.clear();
      navigate('/signin', { state: { expired: true } });
    });
    return () => setSignedOutHandler(null);
  }, [navigate, queryClient]);

  useEffect(() => {
    if (!session) queryClient.clear();
  }, [session, queryClient]);

  return (
    <QueryClientProvider client={queryClient}>
      {session ? (
        <SignedIn />
      ) : (
        <Routes>
          <Route path="/signup" element={<AuthPage mode="signup" />} />
          <Route path="/signin" element={<AuthPage mode="signin" />} />
          <Route path="*" element={<Navigate to="/signin" replace state={{ from: location.pathname }} />} />
        </Routes>
      )}
    </QueryClientProvider>
  );
}
